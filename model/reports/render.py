"""A report dict to the bytes of a file: HTML, PDF or JSON, the one switch the CLI and app share."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from model.readwrite.casefile import format_of
from model.reports.content import report_json
from model.reports.html import report_html
from model.reports.pdf import report_pdf

FORMATS = ("html", "pdf", "json")
SUFFIXES = {".html": "html", ".htm": "html", ".pdf": "pdf", ".json": "json"}
MIME = {"html": "text/html", "pdf": "application/pdf", "json": "application/json"}


def check_format(fmt: str) -> str:
    """``fmt`` if it is a report format; a :class:`UsageError` naming the choices otherwise."""
    return format_of("", fmt, SUFFIXES, "report format")


def output_format(path: str | Path, fmt: str | None = None) -> str:
    """``fmt`` if given, else the format the suffix of ``path`` names."""
    return format_of(path, fmt, SUFFIXES, "report format")


def render(report: Mapping, fmt: str) -> bytes:
    """The report in ``fmt`` (html, pdf or json) as bytes ready to write or download."""
    renderers = {
        "html": lambda r: report_html(r).encode("utf-8"),
        "pdf": report_pdf,
        "json": lambda r: report_json(r).encode("utf-8"),
    }
    return renderers[check_format(fmt)](report)

"""Report files: one case to an HTML, PDF or JSON report (:func:`write_case_report`), or a case
table to one report per row and an ``index.html`` linking them (:func:`write_batch`); a row
that cannot be scored gets no report but a line in the index."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from pathlib import Path

from model.diagnosis.crampmodel import TOP_CAUSES, CrampModel
from model.errors import EvidenceError, UsageError
from model.readwrite.casefile import CaseRow, line_of, read_case, where
from model.readwrite.outputs import write_whole
from model.reports.content import build_report
from model.reports.html import CSS
from model.reports.render import render
from model.reports.text import prob

SLUG_LENGTH = 60


def slug(text: str) -> str:
    """A safe file-name stem: ASCII letters, digits, ``.``, ``_`` and ``-``; '' if none left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", ascii_text).strip("-.")[:SLUG_LENGTH].strip("-.")


def write_case_report(
    model: CrampModel,
    case_path: str | Path,
    output: str | Path,
    fmt: str,
    *,
    title: str | None = None,
    date: str | None = None,
    top: int = TOP_CAUSES,
) -> Path:
    """Read a case file, build its report and write it; errors name the file and line.

    The case's own ``id`` and ``title`` (if any) name the report; ``title`` overrides them.
    """
    evidence, soft, do, text = read_case(case_path)
    meta = json.loads(text)
    case_id = None if meta.get("id") is None else str(meta["id"])
    try:
        report = build_report(
            model,
            evidence,
            soft,
            do,
            case_id=case_id,
            title=title or meta.get("title"),
            date=date,
            top=top,
        )
    except EvidenceError as exc:
        variable = getattr(exc, "variable", None)
        line = line_of(text, variable) if variable else None
        where_ = f"{case_path}:{line}" if line else f"{case_path}"
        raise EvidenceError(f"{where_}: {exc}") from None
    output = Path(output)
    write_whole(output, render(report, fmt))
    return output


@dataclass(frozen=True)
class BatchEntry:
    """One row of a case table in the index: its report, or why it has none."""

    number: int
    case_id: str | None
    file: str | None
    top: str | None
    flags: tuple[str, ...]
    error: str | None


def _file_stem(row: CaseRow, taken: set[str]) -> str:
    stem = slug(row.cells.get("id", "")) or f"row-{row.number}"
    base, k = stem, 2
    while stem.lower() in taken:
        stem, k = f"{base}-{k}", k + 1
    taken.add(stem.lower())
    return stem


def write_batch(
    model: CrampModel,
    rows: Iterable[CaseRow],
    out_dir: str | Path,
    fmt: str,
    *,
    source: str = "",
    input_format: str = "csv",
    date: str | None = None,
    top: int = TOP_CAUSES,
) -> list[BatchEntry]:
    """One report per usable row in ``out_dir`` and an ``index.html`` listing every row.

    A report is named after the row's ``id`` cell (made safe for a file name, made unique) or
    ``row-N``; a row with a bad cell or impossible answers gets no report, and its entry holds
    the error with the file and row (``source`` and ``input_format`` say where).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: exists and is not a directory; -o takes a directory here")
    out_dir.mkdir(parents=True, exist_ok=True)
    taken, entries = {"index"}, []
    for row in rows:
        case_id = row.cells.get("id") or None
        report, error = _row_report(model, row, case_id, date=date, top=top)
        if report is None:
            where_ = where(source, input_format, row.number)
            entries.append(BatchEntry(row.number, case_id, None, None, (), f"{where_}: {error}"))
            continue
        name = f"{_file_stem(row, taken)}.{fmt}"
        write_whole(out_dir / name, render(report, fmt))
        first = report["causes"]["rows"][0]
        top_cause = f"{first['label']} {prob(first['posterior'])}"
        flags = tuple(f["id"] for f in report["red_flags"])
        entries.append(BatchEntry(row.number, case_id, name, top_cause, flags, None))
    write_whole(out_dir / "index.html", index_html(model, entries, source).encode("utf-8"))
    return entries


def _row_report(
    model: CrampModel, row: CaseRow, case_id: str | None, *, date: str | None, top: int
) -> tuple[dict | None, str | None]:
    """The report of one table row, or why there is none (a bad cell, impossible answers)."""
    if row.error is not None:
        return None, row.error
    try:
        title = None if case_id else f"crampnet report: row {row.number}"
        return build_report(
            model, row.evidence, case_id=case_id, title=title, date=date, top=top
        ), None
    except EvidenceError as exc:
        return None, str(exc)


def index_html(model: CrampModel, entries: list[BatchEntry], source: str = "") -> str:
    """The batch's index: every row, linked to its report, with its top cause and red flags."""
    e = escape
    rows = []
    for entry in entries:
        link = f'<a href="{e(entry.file)}">{e(entry.file)}</a>' if entry.file else "no report"
        rows.append(
            f'<tr class="{"failed" if entry.error else "ok"}"><td class="num">{entry.number}</td>'
            f"<td>{e(entry.case_id or '')}</td><td>{link}</td><td>{e(entry.top or '')}</td>"
            f"<td>{e(', '.join(entry.flags))}</td><td>{e(entry.error or '')}</td></tr>"
        )
    failed = sum(1 for x in entries if x.error)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>crampnet reports: {e(source)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<h1>crampnet reports: {e(source)}</h1>\n"
        f'<p class="notice">{e(model.priors.meta.notice)}</p>\n'
        f'<p class="meta">Model {e(model.priors.meta.name)} {e(model.priors.meta.version)}, '
        f"priors sha256 {e(model.priors.sha256)}</p>\n"
        f"<p>{len(entries)} row(s): {len(entries) - failed} report(s), {failed} row(s) failed. "
        "Red flags are listed per row: open the report and read them before any number.</p>\n"
        "<table><thead><tr><th>row</th><th>id</th><th>report</th><th>top cause (posterior)</th>"
        "<th>red flags</th><th>error</th></tr></thead><tbody>\n"
        + "\n".join(rows)
        + "\n</tbody></table>\n</body>\n</html>\n"
    )

"""``crampnet report``: one case file to an HTML, PDF or JSON report, or a case table to many.

``crampnet report CASE.json -o out.html|out.pdf|out.json`` writes one report (format from the
suffix, or ``--format``). ``crampnet report CASES.csv -o reports/`` (CSV, JSON Lines or Parquet,
read by :func:`model.readwrite.casefile.iter_cases`) writes one report per row and an ``index.html``
linking them; a row that cannot be scored gets no report but a line in the index and on
stderr, and the command exits 3 (as ``crampnet score`` does).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape
from pathlib import Path

from tqdm import tqdm

from model.diagnosis.crampmodel import CrampModel
from model.errors import EvidenceError, UsageError
from model.readwrite.casefile import FORMATS as TABLE_FORMATS
from model.readwrite.casefile import CaseRow, file_format, iter_cases, line_of, read_case, where
from model.readwrite.outputs import write_whole
from model.reports.content import TOP_CAUSES, build_report
from model.reports.html import CSS
from model.reports.render import FORMATS, check_format, output_format, render
from model.reports.text import prob

SLUG_LENGTH = 60
EXIT_SOME_FAILED = 3


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
        error = row.error
        if error is None:
            try:
                report = build_report(
                    model,
                    row.evidence,
                    case_id=case_id,
                    title=None if case_id else f"crampnet report: row {row.number}",
                    date=date,
                    top=top,
                )
            except EvidenceError as exc:
                error = str(exc)
        if error is not None:
            entries.append(
                BatchEntry(
                    row.number,
                    case_id,
                    None,
                    None,
                    (),
                    f"{where(source, input_format, row.number)}: {error}",
                )
            )
            continue
        name = f"{_file_stem(row, taken)}.{fmt}"
        write_whole(out_dir / name, render(report, fmt))
        first = report["causes"]["rows"][0]
        entries.append(
            BatchEntry(
                row.number,
                case_id,
                name,
                f"{first['label']} {prob(first['posterior'])}",
                tuple(f["id"] for f in report["red_flags"]),
                None,
            )
        )
    write_whole(out_dir / "index.html", index_html(model, entries, source).encode("utf-8"))
    return entries


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


def _report(args: argparse.Namespace, model: CrampModel) -> int:
    source = Path(args.input)
    if args.input_format is None and source.suffix.lower() == ".json":
        fmt = output_format(args.output, args.format)
        path = write_case_report(
            model, source, args.output, fmt, title=args.title, date=args.date, top=args.top
        )
        print(f"wrote {path} ({fmt})", file=sys.stderr)
        return 0
    table_format = file_format(source, args.input_format)
    fmt = check_format(args.format or "html")
    progress = not args.no_progress and sys.stderr.isatty()
    rows = tqdm(
        iter_cases(source, model, fmt=table_format, ignore_columns=args.ignore_columns),
        unit=" rows",
        disable=not progress,
        file=sys.stderr,
        delay=0.5,
    )
    entries = write_batch(
        model,
        rows,
        args.output,
        fmt,
        source=str(source),
        input_format=table_format,
        date=args.date,
        top=args.top,
    )
    failed = [x for x in entries if x.error]
    for entry in failed:
        tqdm.write(f"crampnet: {entry.error}", file=sys.stderr)
    print(
        f"wrote {len(entries) - len(failed)} report(s) and {Path(args.output) / 'index.html'}"
        + (f"; {len(failed)} row(s) failed" if failed else ""),
        file=sys.stderr,
    )
    return EXIT_SOME_FAILED if failed else 0


def add_command(command) -> None:
    """Add ``crampnet report`` through ``cli.build_parser``'s ``command`` helper."""
    sub = command(
        "report",
        _report,
        "write a posterior report (HTML, PDF or JSON) for a case, or one per row of a table",
    )
    sub.add_argument(
        "input",
        metavar="INPUT",
        help="CASE.json (one case), or a table of cases: .csv, .jsonl/.ndjson or .parquet",
    )
    sub.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUTPUT",
        help="report file (out.html, out.pdf, out.json) or, for a table, a directory",
    )
    sub.add_argument(
        "--format",
        choices=FORMATS,
        help="report format (default: from the suffix; html for a table)",
    )
    sub.add_argument(
        "--input-format",
        choices=TABLE_FORMATS,
        help="table format when INPUT's suffix does not say",
    )
    sub.add_argument(
        "--date", metavar="YYYY-MM-DD", help="report date (default: today), for reproducible output"
    )
    sub.add_argument(
        "--top", type=int, default=TOP_CAUSES, metavar="N", help="explain the N top causes (3)"
    )
    sub.add_argument("--title", help="report title (default: from the case's title or id)")
    sub.add_argument(
        "--ignore-columns", action="store_true", help="keep unknown table columns unused"
    )
    sub.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

"""``crampnet report``: one case file to an HTML, PDF or JSON report, or a case table to many.

``crampnet report CASE.json -o out.html|out.pdf|out.json`` writes one report (format from the
suffix, or ``--format``). ``crampnet report CASES.csv -o reports/`` (CSV, JSON Lines or Parquet,
read by :func:`model.readwrite.casefile.iter_cases`) writes one report per row and an ``index.html``
linking them; a row that cannot be scored gets no report but a line in the index and on
stderr, and the command exits 3 (as ``crampnet score`` does).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

from model.diagnosis.batch import EXIT_SOME_FAILED
from model.diagnosis.crampmodel import TOP_CAUSES, CrampModel
from model.readwrite.casefile import FORMATS as TABLE_FORMATS
from model.readwrite.casefile import file_format, iter_cases
from model.reports.files import write_batch, write_case_report
from model.reports.render import FORMATS, check_format, output_format


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

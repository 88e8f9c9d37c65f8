"""``crampnet cases report ID -o FILE``: a case book's case as a report with its timeline.

The report is ``crampnet report``'s (:mod:`model.reports.content`) for the case's latest
answers, with one more section: how the picture changed as answers and outcomes came in (each
step dated and in words, the top causes at each change of answers as the model gives them now
and, where it differs, what was shown then with the model that showed it, and a chart of the
top causes over time). The format comes from the suffix of FILE (``.html``, ``.pdf``,
``.json``) or ``--format``; the file is written whole or not at all.

``crampnet cases`` registers the command with :func:`add_report_action`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from model.cli.options import positive
from model.diagnosis.casebook import timeline
from model.diagnosis.crampmodel import TOP_CAUSES, CrampModel
from model.errors import EvidenceError
from model.readwrite.casebook import Case, CaseBook
from model.readwrite.outputs import write_whole
from model.reports.content import build_report
from model.reports.render import FORMATS, output_format, render

HELP = "a case's report (HTML, PDF or JSON) with its timeline: how the picture changed"


def case_report(
    model: CrampModel,
    case: Case,
    *,
    date: str | None = None,
    title: str | None = None,
    top: int = TOP_CAUSES,
) -> dict:
    """The report of a case book's case: its latest answers, and its timeline recomputed with
    ``model`` (:func:`model.diagnosis.casebook.timeline`). An ``EvidenceError`` (answers this
    model cannot take) names the case."""
    latest = case.answers()
    try:
        steps = timeline(model, case)
        return build_report(
            model,
            latest.evidence,
            latest.soft_evidence,
            latest.do,
            date=date,
            title=title or f"crampnet report: case {case.id}, {case.label}",
            case_id=str(case.id),
            top=top,
            timeline=steps,
        )
    except EvidenceError as exc:
        raise EvidenceError(f"case {case.id}: {exc}") from None


def _report(args: argparse.Namespace, model: CrampModel) -> int:
    output = Path(args.output)
    fmt = output_format(output, args.format)  # a bad suffix fails before the database opens
    case = CaseBook(args.db).get(args.id)
    report = case_report(model, case, date=args.date, title=args.title, top=args.top)
    write_whole(output, render(report, fmt))
    steps = len(report["timeline"]["steps"])
    print(f"wrote {output} ({fmt}, case {case.id}, {steps} steps)", file=sys.stderr)
    return 0


def add_report_action(action) -> argparse.ArgumentParser:
    """Register ``crampnet cases report`` through ``cases.add_command``'s ``action`` helper
    (which adds ``--db`` and ``--priors``)."""
    sub = action("report", _report, HELP)
    sub.add_argument("id", type=int)
    sub.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="report file: out.html, out.pdf or out.json",
    )
    sub.add_argument("--format", choices=FORMATS, help="report format (default: from the suffix)")
    sub.add_argument(
        "--date", metavar="YYYY-MM-DD", help="report date (default: today), for reproducible output"
    )
    sub.add_argument(
        "--top", type=positive, default=TOP_CAUSES, metavar="N", help="explain the N top causes (3)"
    )
    sub.add_argument("--title", help="report title (default: the case's id and label)")
    return sub

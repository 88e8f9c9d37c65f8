"""``crampnet cases``: the case book from the command line (:mod:`model.readwrite.casebook`).

``add`` keeps a case file's answers as a new case, with the posterior shown and the model that
computed it; ``update`` appends changes of answers, follow-up outcomes and notes (nothing
already written changes); ``show`` prints the timeline with the posterior at each step,
recomputed with the current model and, where it differs, the one stored; ``export`` writes the
latest answers and outcomes per case in the table format ``crampnet score``, ``evaluate`` and
``learn`` read (or, with ``--timeline``, every entry as JSON Lines, which ``import`` reads
back); ``delete`` removes a case for good. Every command takes ``--db URL`` (default:
``$CRAMPNET_DB``, else an SQLite file in the user's data folder).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pandas as pd

from model.analysis.casebook import outcome_truth
from model.cli.cases_report import add_report_action
from model.cli.options import parse_pairs
from model.diagnosis.casebook import follow_up, save_case, timeline
from model.diagnosis.crampmodel import CrampModel
from model.errors import EvidenceError, UsageError
from model.inference.evidence import check_variables
from model.readwrite.casebook import Case, CaseBook, read_dump
from model.readwrite.casefile import FORMATS, file_format, read_case
from model.readwrite.outputs import finish, partial_file
from model.readwrite.tables import WRITERS
from model.reports.wording import cause_label, step_words

HELP = "keep cases in a case book: add, list, show, update, report, export, import, delete"
SHOWN_CAUSES = 3  # cause states a timeline step names
EXPORT_BATCH = 1000  # cases read and written at a time: flat memory however big the book


def _book(args: argparse.Namespace) -> CaseBook:
    return CaseBook(args.db)


# --- commands ------------------------------------------------------------------------------------


def _add(args: argparse.Namespace, model: CrampModel) -> int:
    evidence, soft, do, text = read_case(args.case)
    answers = {"evidence": evidence, "soft_evidence": soft, "do": do}
    label = args.label or Path(args.case).stem
    try:
        case_id = save_case(model, _book(args), label, answers)
    except EvidenceError as exc:  # nothing written: the answers are checked first
        raise EvidenceError(f"{args.case}: {exc}") from None
    print(case_id)
    print(f"crampnet: added case {case_id} ({label!r})", file=sys.stderr)
    return 0


def _list(args: argparse.Namespace, model: CrampModel) -> int:
    book = _book(args)
    rows = book.list(None if args.all else args.limit)
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2, ensure_ascii=False))
        return 0
    print(f"{'id':>6}  {'updated':<16}  {'entries':>7}  label")
    for r in rows:
        print(f"{r.id:>6}  {r.updated:%Y-%m-%d %H:%M}  {r.entries:>7}  {r.label}")
    total = book.count()
    if len(rows) < total:
        print(
            f"crampnet: {len(rows)} of {total} cases shown (--all for every one)", file=sys.stderr
        )
    return 0


def _show(args: argparse.Namespace, model: CrampModel) -> int:
    case = _book(args).get(args.id)
    steps = timeline(model, case)
    if args.json:
        print(
            json.dumps(
                {"id": case.id, "label": case.label, "model": model.identity, "timeline": steps},
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    print(f"case {case.id}: {case.label} (created {case.created:%Y-%m-%d %H:%M} UTC)")
    print(f"NOTICE: {model.priors.meta.notice}")
    for step in steps:
        print(f"\n{step['at'][:16].replace('T', ' ')}  {step_words(model.priors, step)}")
        if "posterior_now" in step:
            print("  now:  " + _top(model, step["posterior_now"]))
            if step["posterior_then_differs"]:
                shown = step.get("model", {})
                print(
                    f"  then: {_top(model, step['posterior'])} (model {shown.get('version')}, "
                    f"priors {str(shown.get('sha256'))[:12]})"
                )
    return 0


def _top(model: CrampModel, posterior: Mapping[str, float]) -> str:
    ranked = sorted(posterior.items(), key=lambda kv: -kv[1])[:SHOWN_CAUSES]
    return "; ".join(
        f"{cause_label(model.priors, *key.split('=', 1))} {p:.2f}" for key, p in ranked
    )


def _update(args: argparse.Namespace, model: CrampModel) -> int:
    book = _book(args)
    changes: dict[str, str | None] = dict(parse_pairs(args.set, "--set"))
    changes.update(dict.fromkeys(check_variables(model.engine.states, args.unset)))
    outcomes = []
    for flag, kind in ((args.confirmed, "confirmed"), (args.ruled_out, "ruled_out")):
        for cause, state in parse_pairs(flag, f"--{kind.replace('_', '-')}").items():
            if cause not in model.causes:
                raise UsageError(f"--{kind.replace('_', '-')}: {cause!r} is not a cause")
            outcomes.append({"outcome": kind, "variable": cause, "state": state})
    if args.cramps_gone:
        outcomes.append({"outcome": "cramps_gone"})
    if not (changes or outcomes or args.note):
        raise UsageError("nothing to add: give --set, --unset, an outcome or --note")
    entries = follow_up(model, book, args.id, changes=changes, outcomes=outcomes, note=args.note)
    added = f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
    print(f"crampnet: case {args.id}: {added} added", file=sys.stderr)
    return 0


def _delete(args: argparse.Namespace, model: CrampModel) -> int:
    _book(args).delete(args.id)
    print(f"crampnet: case {args.id} deleted", file=sys.stderr)
    return 0


def export_columns(model: CrampModel) -> list[str]:
    """The table an export writes: ``id``, ``_label``, ``_updated``, every answerable node and
    every cause (a confirmed cause is a known answer: ``evaluate`` reads it as the truth),
    ``_cramps_gone``."""
    nodes = [n for n, spec in model.priors.nodes.items() if spec.kind != "intermediate"]
    return ["id", "_label", "_updated", *nodes, "_cramps_gone"]


def export_row(model: CrampModel, case: Case) -> dict[str, object]:
    """A case's latest hard answers and what its outcomes established (as ``evaluate`` reads
    them: a confirmed state, or the normal state once every abnormal one was ruled out) as one
    row of :func:`export_columns`; soft answers have no cell in a table and are left out."""
    answers = case.answers()
    row: dict[str, object] = {"id": str(case.id), "_label": case.label}
    row["_updated"] = case.entries[-1].at.isoformat() if case.entries else ""
    row.update(answers.evidence)
    for cause, code in outcome_truth(model, case).items():
        row[cause] = model.priors.nodes[cause].states[code]
    gone = [o for o in case.outcomes() if o.data["outcome"] == "cramps_gone"]
    if gone:
        row["_cramps_gone"] = gone[0].at.isoformat()
    return row


def _frames(model: CrampModel, book: CaseBook) -> Iterator[pd.DataFrame]:
    columns = export_columns(model)
    batch = []
    for case in book.cases(EXPORT_BATCH, posteriors=False):
        batch.append(export_row(model, case))
        if len(batch) == EXPORT_BATCH:
            yield pd.DataFrame(batch, columns=columns, dtype="string")
            batch = []
    if batch:
        yield pd.DataFrame(batch, columns=columns, dtype="string")


def _export(args: argparse.Namespace, model: CrampModel) -> int:
    book = _book(args)
    output = Path(args.output)
    fmt = file_format(output, args.format)
    if args.timeline and fmt != "jsonl":
        raise UsageError("--timeline writes JSON Lines: name the output .jsonl")
    staging = partial_file(output)  # removed in the finally below, whatever happens
    n = 0
    try:
        if args.timeline:
            with open(staging, "w", encoding="utf-8") as handle:
                for case in book.dump():
                    handle.write(json.dumps(case, ensure_ascii=False) + "\n")
                    n += 1
        else:
            columns = export_columns(model)
            writer = WRITERS[fmt](staging, columns, columns)  # every cell text
            try:
                for frame in _frames(model, book):
                    writer.write(frame)
                    n += len(frame)
            finally:
                writer.close()
        finish(staging, output)
    finally:
        staging.unlink(missing_ok=True)
    print(f"crampnet: wrote {n} case(s) to {output} ({fmt})", file=sys.stderr)
    return 0


def _import(args: argparse.Namespace, model: CrampModel) -> int:
    n = _book(args).load(read_dump(args.input))
    print(f"crampnet: imported {n} case(s) from {args.input}", file=sys.stderr)
    return 0


# --- the parser ------------------------------------------------------------------------------


def add_command(command) -> None:
    """Register ``crampnet cases ...`` through ``cli.build_parser``'s ``command`` helper."""
    parent = command("cases", lambda args, model: 2, HELP)
    actions = parent.add_subparsers(dest="action", required=True, parser_class=type(parent))

    def action(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--db",
            metavar="URL",
            help="database URL (default: $CRAMPNET_DB, else a file in your data folder)",
        )
        sub.add_argument("--priors", metavar="DIR", help="priors directory (default: built-in)")
        sub.set_defaults(handler=handler)
        return sub

    sub = action("add", _add, "keep a case file's answers as a new case")
    sub.add_argument("case", metavar="CASE.json")
    sub.add_argument("--label", help="a label of your choosing (default: the file's name)")
    sub = action("list", _list, "the most recently updated cases")
    sub.add_argument("--json", action="store_true")
    sub.add_argument("--limit", type=int, default=50, metavar="N", help="how many (50)")
    sub.add_argument("--all", action="store_true", help="every case")
    sub = action("show", _show, "a case's timeline, with the posterior at each step")
    sub.add_argument("id", type=int)
    sub.add_argument("--json", action="store_true")
    sub = action("update", _update, "add changes of answers, outcomes or a note to a case")
    sub.add_argument("id", type=int)
    sub.add_argument("--set", action="append", default=[], metavar="ID=STATE")
    sub.add_argument(
        "--unset", action="append", default=[], metavar="ID", help="take an answer back"
    )
    sub.add_argument(
        "--confirmed",
        action="append",
        default=[],
        metavar="CAUSE=STATE",
        help="a cause a test confirmed",
    )
    sub.add_argument(
        "--ruled-out",
        action="append",
        default=[],
        metavar="CAUSE=STATE",
        help="a cause a test ruled out",
    )
    sub.add_argument("--cramps-gone", action="store_true", help="the cramps have stopped")
    sub.add_argument("--note", help="free text")
    sub = action("export", _export, "write every case's latest answers and outcomes")
    sub.add_argument(
        "-o", "--output", required=True, metavar="FILE", help=".csv, .jsonl or .parquet"
    )
    sub.add_argument("--format", choices=FORMATS)
    sub.add_argument(
        "--timeline",
        action="store_true",
        help="every entry of every case, as JSON Lines (import reads it)",
    )
    sub = action("import", _import, "add the cases of an export --timeline file")
    sub.add_argument("input", metavar="FILE.jsonl")
    sub = action("delete", _delete, "remove a case and its whole timeline for good")
    sub.add_argument("id", type=int)
    add_report_action(action)

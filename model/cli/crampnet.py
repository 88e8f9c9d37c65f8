"""The ``crampnet`` command: each sub-command parses, calls one library function, prints.

Exit status: 0 on success, 1 when the priors are invalid or claims are not covered, 2 on a
usage or evidence error (one line on stderr, never a traceback), 3 when ``crampnet score``
wrote every row but some rows failed (each listed on stderr and kept with its error).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from model import __version__
from model.cli import cases, evaluate, learn, report, score, sensitivity
from model.cli.options import count, parse_pairs
from model.diagnosis.crampmodel import CrampModel, diagnose, load_model
from model.errors import CrampnetError, EvidenceError, PriorsError, UsageError
from model.knowledge.coverage import claim_coverage, coverage_markdown, coverage_problems
from model.knowledge.network import EXPORT_FORMATS, export_network
from model.readwrite.casefile import line_of, read_case
from model.reports.textview import format_diagnosis, format_schema

EXAMPLES = """examples:
  crampnet diagnose --set leg_cramp_side=left --set nocturnal_cramps=yes
  crampnet diagnose case.json --json
  crampnet diagnose --set leg_cramp_side=right --soft magnesium_trial=improved:0.8,no_change:0.2
  crampnet schema --json
  crampnet export --format bif -o crampnet.bif
  crampnet claims --markdown > docs/claims.md
  crampnet score cases.csv -o scored.parquet   # exit 3 if some rows failed
  crampnet report case.json -o report.pdf   # or .html, .json
  crampnet report cases.csv -o reports/   # one report per row and an index.html
  crampnet cases add case.json --label "night cramps"   # then: cases list, show, update
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, no usage dump
        raise UsageError(message)


def _parse_soft(items: list[str]) -> dict[str, dict[str, float]]:
    soft: dict[str, dict[str, float]] = {}
    for item in items:
        name, sep, rest = item.partition("=")
        pairs = [p.partition(":") for p in rest.split(",")] if sep else []
        try:
            soft[name.strip()] = {s.strip(): float(v) for s, colon, v in pairs if colon}
        except ValueError:
            raise UsageError(f"--soft expects id=state:likelihood,..., got {item!r}") from None
        if not pairs or len(soft[name.strip()]) != len(pairs):
            raise UsageError(f"--soft expects id=state:likelihood,..., got {item!r}")
    return soft


def _diagnose(args: argparse.Namespace, model: CrampModel) -> int:
    evidence, soft, do, text = ({}, {}, {}, None)
    if args.case:
        evidence, soft, do, text = read_case(args.case)
    evidence = {**evidence, **parse_pairs(args.set)}
    soft = {**soft, **_parse_soft(args.soft)}
    try:
        result = diagnose(
            evidence, soft, do={**do, **parse_pairs(args.do, "--do")}, model=model, top=args.explain
        )
    except EvidenceError as exc:
        variable = getattr(exc, "variable", None)
        line = line_of(text, variable) if text and variable else None
        where = f"{args.case}:{line}: " if line else (f"{args.case}: " if text else "")
        raise EvidenceError(f"{where}{exc}") from None
    print(result.to_json() if args.json else format_diagnosis(result, model))
    return 0


def _schema(args: argparse.Namespace, model: CrampModel) -> int:
    if not args.json:
        print(format_schema(model))
        return 0
    nodes = [
        {
            "id": node_id,
            "kind": node.kind,
            "states": node.states,
            "label": node.label,
            "question": node.question,
            "help": node.help,
            "group": node.group,
            "normal_state": node.normal_state,
            "parents": node.parents,
            "claims": node.claims,
        }
        for node_id, node in model.priors.nodes.items()
    ]
    print(json.dumps({"model": model.identity, "nodes": nodes}, indent=2, ensure_ascii=False))
    return 0


def _export(args: argparse.Namespace, model: CrampModel) -> int:
    fmt = args.format or Path(args.output).suffix.lstrip(".").lower()
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    path = export_network(model.network, args.output, fmt)
    print(f"wrote {path} ({fmt}, {len(model.priors.nodes)} nodes)", file=sys.stderr)
    return 0


def _claims(args: argparse.Namespace, model: CrampModel) -> int:
    if args.markdown:
        print(coverage_markdown(model.priors), end="")
    elif args.json:
        print(json.dumps(claim_coverage(model.priors), indent=2, ensure_ascii=False))
    else:
        for row in claim_coverage(model.priors):
            print(f"{row['id']}  {row['status']:<16} {row['reading'] or row['reason'] or ''}")
    problems = coverage_problems(model.priors)
    for problem in problems:
        print(f"crampnet: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _validate(args: argparse.Namespace, model: CrampModel) -> int:
    model.network  # noqa: B018 - builds the pgmpy network: its check_model runs too
    print(f"ok: {len(model.priors.nodes)} nodes, sha256 {model.priors.sha256}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="crampnet",
        description="Posterior causes of muscle cramps from one practitioner's claims. "
        "Not medical advice.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"crampnet {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    def command(name: str, handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, epilog=EXAMPLES)
        sub.formatter_class = argparse.RawDescriptionHelpFormatter
        sub.add_argument("--priors", metavar="DIR", help="priors directory (default: built-in)")
        sub.set_defaults(handler=handler)
        return sub

    sub = command("diagnose", _diagnose, "rank the causes for one case")
    sub.add_argument("case", nargs="?", help='CASE.json: {"evidence": {id: state}, ...}')
    sub.add_argument("--set", action="append", default=[], metavar="ID=STATE")
    sub.add_argument("--soft", action="append", default=[], metavar="ID=STATE:LIK,...")
    sub.add_argument(
        "--do",
        action="append",
        default=[],
        metavar="ID=STATE",
        help="set by intervention: 'if you started taking calcium', not 'if you observed'",
    )
    sub.add_argument("--json", action="store_true", help="print the result as JSON")
    sub.add_argument(
        "--explain", type=count, default=5, metavar="N", help="explain the N top causes (5)"
    )
    sub = command("schema", _schema, "list every node: kind, states, label, question")
    sub.add_argument("--json", action="store_true")
    sub = command("export", _export, "write the network as BIF or XMLBIF")
    sub.add_argument("--format", choices=EXPORT_FORMATS)
    sub.add_argument("-o", "--output", required=True, metavar="FILE")
    sub = command("claims", _claims, "where each source claim is encoded, or why not")
    group = sub.add_mutually_exclusive_group()
    group.add_argument("--json", action="store_true")
    group.add_argument("--markdown", action="store_true")
    command("validate", _validate, "check a priors directory and print its identity")
    score.add_command(command)
    sensitivity.add_command(command)
    report.add_command(command)
    evaluate.add_command(command)
    learn.add_command(command)
    cases.add_command(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``crampnet`` console script."""
    previous = _terminate_as_exception()
    try:
        args = build_parser().parse_args(argv)
        model = load_model(args.priors)
        return args.handler(args, model)
    except KeyboardInterrupt as exc:  # Terminated too
        return _stopped(exc)
    except PriorsError as exc:
        print(f"crampnet: invalid priors:\n{exc}", file=sys.stderr)
        return 1
    except CrampnetError as exc:
        print(f"crampnet: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
    except RuntimeError as exc:
        # a signal that lands inside a lock's release (a thread pool waiting on a result) can
        # surface as "cannot release un-acquired lock" with the interrupt as its context
        stop = _interrupt_in(exc)
        if stop is None:
            raise
        return _stopped(stop)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _stopped(exc: KeyboardInterrupt) -> int:
    """The one line and the exit status of a run stopped by SIGTERM (143) or SIGINT (130)."""
    if isinstance(exc, Terminated):
        print("crampnet: terminated", file=sys.stderr)
        return 143
    print("crampnet: interrupted", file=sys.stderr)
    return 130


def _interrupt_in(exc: BaseException) -> KeyboardInterrupt | None:
    """The interrupt (SIGINT or SIGTERM) an exception was raised while handling, if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__context__
    return None


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that ``finally`` blocks remove partial files."""


def _terminate_as_exception():
    """SIGTERM raises :class:`Terminated` (main thread only); returns the previous handler."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def terminate(signum, frame):
        raise Terminated

    return signal.signal(signal.SIGTERM, terminate)

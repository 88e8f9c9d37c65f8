"""``crampnet score``: the command over :func:`model.diagnosis.batch.score_file`."""

from __future__ import annotations

import argparse
import sys
import textwrap

from tqdm import tqdm

from model.diagnosis.batch import EXIT_SOME_FAILED, score_file
from model.inference.uncertainty import LEVEL
from model.knowledge.draws import DRAWS
from model.readwrite.casefile import FORMATS

# --- the command -------------------------------------------------------------------------------

HELP = "score a file of cases (CSV, JSON Lines or Parquet), one output row per input row"
DESCRIPTION = (
    "Score a file of cases (CSV, JSON Lines or Parquet): one output row per input row, in "
    "order, with each cause state's posterior, red flags and an error column. Exit status: "
    "0 when every row was scored, 3 when some rows failed (each listed on stderr as "
    "INPUT:row N (line L): message, and kept in place in the output with its error), 2 on a "
    "usage error (e.g. unknown columns, named with the closest ids). Output columns: the "
    "input columns, p_<cause>_<state> for every cause state (with --intervals also "
    "p_<cause>_<state>_lower and _upper; with --if-fixed stops_/all_stop_/alone_<cause>_<state>, "
    "features, conflict and conflict_answers), red_flags and error. Not a diagnosis."
)


def _report(message: str) -> None:
    tqdm.write(message, file=sys.stderr)


def _score(args: argparse.Namespace, model) -> int:
    summary = score_file(
        args.input,
        args.output,
        model,
        input_format=args.input_format,
        output_format=args.output_format,
        ignore_columns=args.ignore_columns,
        intervals=args.intervals,
        if_fixed=args.if_fixed,
        draws=args.draws,
        progress=not args.no_progress and sys.stderr.isatty(),
        on_error=_report,
        keep_formulas=args.keep_formulas,
    )
    scored = summary.rows - summary.failed
    print(f"crampnet: {model.priors.meta.notice}", file=sys.stderr)
    print(
        f"crampnet: scored {scored} of {summary.rows} row(s)"
        + (f", {summary.failed} failed (listed above)" if summary.failed else "")
        + f"; wrote {summary.output}",
        file=sys.stderr,
    )
    return EXIT_SOME_FAILED if summary.failed else 0


def add_command(command) -> None:
    """Register ``crampnet score`` through ``cli.build_parser``'s ``command`` helper."""
    sub = command("score", _score, HELP)
    sub.description = textwrap.fill(DESCRIPTION, 88)
    sub.add_argument("input", metavar="INPUT", help="cases: .csv, .jsonl/.ndjson or .parquet")
    sub.add_argument("-o", "--output", required=True, metavar="OUTPUT", help="scored file")
    sub.add_argument("--input-format", choices=FORMATS, help="when INPUT's suffix does not say")
    sub.add_argument("--output-format", choices=FORMATS, help="when OUTPUT's suffix does not say")
    sub.add_argument(
        "--ignore-columns",
        action="store_true",
        help="keep columns that are not node ids in the output without using them",
    )
    sub.add_argument(
        "--intervals",
        action="store_true",
        help=f"add the central {LEVEL * 100:.0f}%% interval of each posterior over parameter draws "
        "(slow: one batched pass of --draws parameter sets per distinct row)",
    )
    sub.add_argument(
        "--if-fixed",
        action="store_true",
        help="add, for every abnormal cause state, what putting it right alone would stop "
        "(stops_, all_stop_, alone_ columns), the number of features present and the conflict "
        "of the answers (conflict, conflict_answers); slower: twin networks per distinct row",
    )
    sub.add_argument(
        "--draws", type=int, default=DRAWS, metavar="K", help=f"draws for --intervals ({DRAWS})"
    )
    sub.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    sub.add_argument(
        "--keep-formulas",
        action="store_true",
        help="CSV output: keep text cells starting with = + - @ as they are (by default they "
        "get a leading apostrophe, so a spreadsheet shows them instead of running them)",
    )

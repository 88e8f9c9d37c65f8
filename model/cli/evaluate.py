"""``crampnet evaluate``: calibration of the posteriors on cases whose causes are known.

``crampnet evaluate CASES`` reads a case table (CSV, JSON Lines or Parquet, the format of
``crampnet score``) in which the cause columns hold the confirmed cause state where it is known
and are empty where not. Each cause present as a column is predicted from the row's other
answers only (never from a cause column) and scored; ``--simulate N`` evaluates on N cases
sampled from the model instead (self-consistency, no data file needed). Prints the metrics
table (see :mod:`model.analysis.calibration` for the definitions); ``--plots DIR`` writes
``DIR/reliability.png``; ``--json`` prints the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

import numpy as np

from model.analysis.calibration import (
    N_BINS,
    Evaluation,
    evaluate,
    evaluate_cohort,
    simulate_cohort,
)
from model.diagnosis.crampmodel import CrampModel
from model.errors import UsageError
from model.readwrite.casefile import (
    FORMATS,
    encode_frame,
    file_format,
    read_frames,
    split_columns,
    where,
)

EXAMPLES = """examples:
  crampnet evaluate confirmed.csv
  crampnet evaluate confirmed.parquet --plots out/ --json
  crampnet evaluate --simulate 20000 --seed 0 --plots docs
  crampnet evaluate --simulate 5000 --reveal 0.3
"""


def read_truth_table(
    model: CrampModel, path: str | Path, *, fmt: str | None = None
) -> tuple[np.ndarray, list[str], dict[str, np.ndarray]]:
    """A case table as answer codes (non-cause node columns, ``-1`` where empty), those
    columns, and the cause columns' truth codes (``-1`` where unknown). A cell that is not a
    state of its column is an error naming the row and line."""
    fmt = file_format(path, fmt)
    causes = model.causes
    answers, truths, columns, cause_columns = [], [], None, None
    for frame in read_frames(path, fmt=fmt):
        if columns is None:
            nodes, _ = split_columns(list(frame.columns), model.priors, path=path)
            cause_columns = [c for c in nodes if c in causes]
            columns = [c for c in nodes if c not in causes]
            if not cause_columns:
                raise UsageError(
                    f"{path}: no cause column; evaluate needs the confirmed state of at least "
                    f"one cause ({', '.join(causes)}), empty where unknown"
                )
        codes, errors = encode_frame(frame, columns + cause_columns, model.priors)
        bad = np.flatnonzero(errors != None)  # noqa: E711 (an object array)
        if len(bad):
            raise UsageError(f"{where(path, fmt, int(frame.index[bad[0]]))}: {errors[bad[0]]}")
        answers.append(codes[:, : len(columns)])
        truths.append(codes[:, len(columns) :])
    answer_codes = np.concatenate(answers)
    truth_codes = np.concatenate(truths)
    truth = {c: truth_codes[:, j] for j, c in enumerate(cause_columns)}
    return answer_codes, columns, truth


def evaluate_file(
    model: CrampModel, path: str | Path, *, fmt: str | None = None, n_bins: int = N_BINS
) -> Evaluation:
    """:func:`model.analysis.calibration.evaluate` on a case table with confirmed causes."""
    answers, columns, truth = read_truth_table(model, path, fmt=fmt)
    if not any((t >= 0).any() for t in truth.values()):
        raise UsageError(f"{path}: no row gives a confirmed cause; nothing to evaluate")
    return evaluate(model, answers, columns, truth, n_bins=n_bins)


def format_evaluation(evaluation: Evaluation, heading: str) -> str:
    """The metrics table as text: one line per abnormal cause state, the pooled row, top-k."""
    lines = [
        *textwrap.wrap(heading, 92),
        f"{evaluation.n_cases:,} cases scored"
        + (
            f", {evaluation.n_impossible:,} left out (answers impossible under the model)"
            if evaluation.n_impossible
            else ""
        ),
        "",
        f"{'cause = state':<24} {'n':>8} {'rate':>6} {'mean p':>6} {'Brier':>6} "
        f"{'prior':>6} {'skill':>6} {'logloss':>7} {'ECE':>6}",
    ]
    for row in evaluation.metrics.itertuples():
        label = row.label if row.label != "all" else "all (pooled)"
        lines.append(
            f"{label.replace('=', ' = '):<24} {row.n:>8,} {row.prevalence:>6.3f} "
            f"{row.mean_predicted:>6.3f} {row.brier:>6.3f} {row.prior_brier:>6.3f} "
            f"{row.skill:>6.3f} {row.log_loss:>7.3f} {row.ece:>6.3f}"
        )
    lines.append("")
    for row in evaluation.topk.itertuples():
        lines.append(
            f"top-{row.k} accuracy of the ranking: {row.accuracy:.3f} (by prior alone "
            f"{row.prior_only:.3f}; over {row.n:,} cases with an abnormal cause)"
        )
    lines += [
        "",
        *textwrap.wrap(
            "rate: observed frequency; Brier: mean (p - y)^2; prior: the Brier score of the "
            "prior for everyone; skill: 1 - Brier/prior; logloss in nats; ECE: expected "
            f"calibration error over {evaluation.n_bins} bins (definitions in "
            "model/calibration.py).",
            92,
        ),
    ]
    return "\n".join(lines)


def _evaluate(args: argparse.Namespace, model: CrampModel) -> int:
    if sum(x is not None for x in (args.cases, args.simulate, args.cases_db)) != 1:
        raise UsageError("give a CASES file, --simulate N or --cases-db (one of them)")
    if args.bins < 1:
        raise UsageError(f"--bins must be at least 1, got {args.bins}")
    if args.simulate is not None:
        if args.simulate < 1:
            raise UsageError(f"--simulate must be a positive number of cases, got {args.simulate}")
        if not 0.0 <= args.reveal <= 1.0:
            raise UsageError(f"--reveal must be a probability in [0, 1], got {args.reveal}")
        cohort = simulate_cohort(model.priors, args.simulate, args.seed, reveal=args.reveal)
        evaluation = evaluate_cohort(model, cohort, n_bins=args.bins)
        heading = (
            f"Simulated cohort: {args.simulate:,} cases sampled from the model (seed "
            f"{args.seed}), each answer revealed with probability {args.reveal:g}. The truth "
            "is the model itself: this measures self-consistency, not clinical accuracy."
        )
    elif args.cases_db is not None:
        from model.analysis.casebook import evaluate_casebook
        from model.readwrite.casebook import CaseBook

        book = CaseBook(args.cases_db or None)
        evaluation = evaluate_casebook(model, book.cases(), n_bins=args.bins)
        heading = (
            f"Case book {book!r}: the posterior shown before each case's first outcome, against "
            "the causes its outcomes confirmed or ruled out"
        )
    else:
        evaluation = evaluate_file(model, args.cases, fmt=args.format, n_bins=args.bins)
        heading = f"{args.cases}: causes predicted from the other answers of each row"
    if args.plots:
        from model.analysis.calibration_plots import reliability_figure, save_figure

        path = save_figure(reliability_figure(evaluation), Path(args.plots) / "reliability.png")
        print(f"wrote {path}", file=sys.stderr)
    if args.json:
        out = {"notice": model.priors.meta.notice, "model": model.identity, **evaluation.to_dict()}
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        print(format_evaluation(evaluation, heading))
    return 0


def add_command(command) -> None:
    """Add ``evaluate`` through ``command(name, handler, help_text)`` of the CLI's parser."""
    sub = command("evaluate", _evaluate, "calibration of the posteriors on cases with known causes")
    sub.epilog = EXAMPLES
    sub.add_argument(
        "cases",
        nargs="?",
        metavar="CASES",
        help="case table (.csv, .jsonl, .parquet); cause columns hold the confirmed state",
    )
    sub.add_argument("--format", choices=FORMATS, help="CASES format")
    sub.add_argument(
        "--simulate", type=int, metavar="N", help="evaluate on N cases sampled from the model"
    )
    sub.add_argument("--seed", type=int, default=0, help="seed of --simulate (0)")
    sub.add_argument(
        "--reveal",
        type=float,
        default=1.0,
        metavar="Q",
        help="with --simulate: each answer revealed with probability Q (1: all)",
    )
    sub.add_argument(
        "--cases-db",
        nargs="?",
        const="",
        metavar="URL",
        help="evaluate the posteriors a case book showed against the outcomes recorded later "
        "(URL: default $CRAMPNET_DB, else the one in your data folder)",
    )
    sub.add_argument("--bins", type=int, default=N_BINS, metavar="B", help="ECE bins (10)")
    sub.add_argument("--plots", metavar="DIR", help="write DIR/reliability.png")
    sub.add_argument("--json", action="store_true", help="print the numbers as JSON")

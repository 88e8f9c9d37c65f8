"""``crampnet learn CASES -o DIR``: learn the priors' numbers from a case table.

``CASES`` is a case table in the format of ``crampnet score`` (CSV, JSON Lines or Parquet): one
column per answered node, empty where unanswered; cause columns hold a confirmed cause where
a lab test gave one and are empty otherwise. Expectation-maximisation
(:mod:`model.analysis.learning`) starts from the priors (``--priors DIR``, default the built-in
set), weighs them by their ``confidence``, and the learned set is written to ``DIR``
(:mod:`model.knowledge.writer`), ready for every command's ``--priors DIR``. Rows with a bad cell
are reported on stderr and skipped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from model.analysis.learning import MAX_ITER, TOL, LearningResult, learn
from model.diagnosis.crampmodel import CrampModel
from model.errors import UsageError
from model.knowledge.writer import write_priors
from model.readwrite.casefile import (
    FORMATS,
    encode_frame,
    file_format,
    read_frames,
    split_columns,
    where,
)

EXAMPLES = """examples:
  crampnet learn confirmed.csv -o learned/
  crampnet learn cases.parquet -o learned/ --max-iter 50 --tol 1e-5
  crampnet diagnose --priors learned/ --set leg_cramp_side=left
"""
SHOWN = 10  # numbers listed in the summary, those that moved most


def read_codes(
    model: CrampModel, path: str | Path, *, fmt: str | None = None, ignore_columns: bool = False
) -> tuple[list[str], np.ndarray, list[str]]:
    """The node columns of a case table, its usable rows as state codes (``-1`` where empty),
    and one ``FILE:row N (line M): message`` per row skipped for a bad cell."""
    fmt = file_format(path, fmt)
    columns: list[str] | None = None
    chunks, skipped = [], []
    for frame in read_frames(path, fmt=fmt):
        if columns is None:
            columns, _ = split_columns(
                list(frame.columns), model.priors, path=path, ignore_columns=ignore_columns
            )
        codes, errors = encode_frame(frame, columns, model.priors)
        bad = np.array([e is not None for e in errors], dtype=bool)
        skipped += [
            f"{where(path, fmt, int(frame.index[r]))}: {errors[r]}" for r in np.flatnonzero(bad)
        ]
        chunks.append(codes[~bad])
    if not columns:  # an empty file, or no node columns: the caller says so in one line
        return [], np.empty((0, 0), dtype=np.int16), skipped
    codes = np.concatenate(chunks) if chunks else np.empty((0, len(columns)), dtype=np.int16)
    return columns, codes.reshape(-1, len(columns)), skipped


def format_summary(result: LearningResult, out: Path, skipped: int, shown: int = SHOWN) -> str:
    """What a person needs after a run: cases used, convergence, the numbers that moved."""
    lines = [
        f"learned from {result.n_cases} cases ({skipped} skipped for bad cells, "
        f"{result.n_impossible} impossible under the priors)",
        f"{result.iterations} iterations, "
        + ("converged" if result.converged else "stopped at --max-iter before converging"),
        f"log-posterior {result.history[0]:.3f} -> {result.history[-1]:.3f}",
        f"wrote {out} (use it with --priors {out})",
    ]
    moved = [m for m in result.moved(shown) if m[1] != m[2]]
    if moved:
        lines.append("numbers that moved most:")
        lines += [f"  {'.'.join(map(str, key)):<60} {a:.4f} -> {b:.4f}" for key, a, b in moved]
    return "\n".join(lines)


def _learn(args: argparse.Namespace, model: CrampModel) -> int:
    if args.max_iter < 0:
        raise UsageError(f"--max-iter must be 0 or more, got {args.max_iter}")
    if not args.tol > 0:
        raise UsageError(f"--tol must be above 0, got {args.tol}")
    columns, codes, skipped = read_codes(
        model, args.cases, fmt=args.format, ignore_columns=args.ignore_columns
    )
    for line in skipped:
        print(f"crampnet: skipped {line}", file=sys.stderr)
    if not columns:
        raise UsageError(
            f"{args.cases}: no column names a question of the model: nothing to learn from"
        )
    result = learn(model.priors, columns, codes, max_iter=args.max_iter, tol=args.tol)
    out = write_priors(
        model.priors, result.values, args.output, args.cases, result.n_cases, applied=result.applied
    )
    print(format_summary(result, out, len(skipped)))
    return 0


def add_command(command) -> None:
    """Register ``learn`` with the ``command(name, handler, help_text)`` helper of the CLI."""
    sub = command("learn", _learn, "learn the priors' numbers from cases (EM), write a new set")
    sub.epilog = EXAMPLES
    sub.add_argument("cases", metavar="CASES", help="case table: .csv, .jsonl or .parquet")
    sub.add_argument("-o", "--output", required=True, metavar="DIR", help="write the set here")
    sub.add_argument("--format", choices=FORMATS, help="the table format (default: by suffix)")
    sub.add_argument(
        "--max-iter",
        type=int,
        default=MAX_ITER,
        metavar="N",
        help=f"at most N iterations ({MAX_ITER})",
    )
    sub.add_argument(
        "--tol",
        type=float,
        default=TOL,
        metavar="T",
        help=f"stop when the log-posterior rises by less than T nats per case ({TOL})",
    )
    sub.add_argument(
        "--ignore-columns", action="store_true", help="keep unknown columns without using them"
    )

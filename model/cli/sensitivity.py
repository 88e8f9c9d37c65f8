"""``crampnet sensitivity CASE.json``: which numbers of the priors move a case's top causes.

Parses, calls :func:`model.analysis.sensitivity.sweep`, prints the parameters with the largest
swing as a plain table (or JSON) and optionally writes a tornado chart of the top cause.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from model.analysis.sensitivity import LEVEL, TOP_CAUSES, sweep
from model.cli.options import positive
from model.diagnosis.crampmodel import CrampModel
from model.errors import EvidenceError, UsageError
from model.readwrite.casefile import line_of, read_case

PLOT_FORMATS = (".png", ".svg", ".pdf")
SHOWN = ["target", "label", "claims", "low", "high", "posterior_at_low", "posterior_at_high"]
HELP = "one-way sensitivity: which numbers of the priors move the top causes most"


def _sensitivity(args: argparse.Namespace, model: CrampModel) -> int:
    if args.plot and Path(args.plot).suffix.lower() not in PLOT_FORMATS:
        raise UsageError(f"--plot must end in one of {', '.join(PLOT_FORMATS)}, got {args.plot!r}")
    evidence, soft, do, text = read_case(args.case)
    try:
        rows = sweep(model, evidence, soft, do, top=args.causes, case=Path(args.case).stem)
    except EvidenceError as exc:
        variable = getattr(exc, "variable", None)
        line = line_of(text, variable) if variable else None
        raise EvidenceError(f"{args.case}:{line or 1}: {exc}") from None
    shown = rows.groupby("target", sort=False).head(args.top)
    if args.json:
        out = {
            "notice": model.priors.meta.notice,
            "case": args.case,
            "level": LEVEL,
            "parameters": json.loads(
                shown.drop(columns=["case"]).to_json(orient="records", double_precision=6)
            ),
            "model": model.identity,
        }
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        for target, part in shown.groupby("target", sort=False):
            point = part["point"].iloc[0]
            print(f"{target}: posterior {point:.3f}; each number over its 90% interval")
            table = part[SHOWN[1:]].assign(claims=[", ".join(c) or "-" for c in part["claims"]])
            print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
            print()
    if args.plot:
        from model.analysis.sensitivity_plots import tornado_figure

        tornado_figure(rows, top=args.top).savefig(args.plot, dpi=110)
    return 0


def add_command(command) -> None:
    """Register ``sensitivity`` with the CLI's ``command(name, handler, help_text)`` helper."""
    sub = command("sensitivity", _sensitivity, HELP)
    sub.add_argument("case", help='CASE.json: {"evidence": {id: state}, ...}')
    sub.add_argument(
        "--top", type=positive, default=10, metavar="N", help="parameters shown per cause (10)"
    )
    sub.add_argument(
        "--causes",
        type=positive,
        default=TOP_CAUSES,
        metavar="K",
        help=f"the K most probable abnormal cause states ({TOP_CAUSES})",
    )
    sub.add_argument("--json", action="store_true", help="print the result as JSON")
    sub.add_argument("--plot", metavar="FILE", help="write a tornado chart (.png, .svg, .pdf)")

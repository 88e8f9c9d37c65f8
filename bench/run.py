"""The benchmark: crampnet's compiled engine against pgmpy and pyAgrum, in one process.

Run with ``make bench`` (or ``.venv/bin/python bench/run.py`` from anywhere). Progress goes to
stderr, a table to stdout, and every number to ``bench.json`` at the root. Each section is a
module of this folder with a ``section(run)`` that returns its keys of ``bench.json``
(:data:`SECTIONS`); :mod:`bench.common` holds what they share, :mod:`bench.report` the keys
across sections, :mod:`bench.table` the printed table. ``--only NAME ...`` runs some sections
and replaces their keys in the file, keeping the rest; ``--quick`` shrinks every count to check
that the sections run (with ``-o``: its figures are not the benchmark's).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
if Path(sys.path[0]).resolve() == ROOT / "bench":
    del sys.path[0]  # this folder's modules are imported as bench.*, never by their bare names
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the repo's packages

warnings.simplefilter("ignore", FutureWarning)
warnings.simplefilter("ignore", DeprecationWarning)

from pgmpy import config as pgmpy_config  # noqa: E402

from bench import (  # noqa: E402
    app_rerun,
    batch,
    browser,
    casebook,
    file_scoring,
    if_fixed,
    networks,
    query,
    refresh,
)
from bench.common import QUICK, Run, Settings  # noqa: E402
from bench.report import assemble, read, whole_run, write  # noqa: E402
from bench.table import print_table  # noqa: E402
from model.knowledge.draws import DRAWS  # noqa: E402

OUTPUT = ROOT / "bench.json"


class Section(NamedTuple):
    measure: Callable[[Run], dict]  # the run -> its keys of bench.json
    help: str


SECTIONS = {  # in the order a whole run measures them
    "query": Section(query.section, "one posterior query: crampnet, pgmpy, pyAgrum"),
    "refresh": Section(refresh.section, "one explorer refresh: crampnet, and pgmpy's VE"),
    "batch": Section(batch.section, "batch scoring: score_array against pyAgrum per case"),
    "app-rerun": Section(app_rerun.section, "the explorer's server time per rerun (AppTest)"),
    "browser": Section(browser.section, "waits in headless chromium, against a bare page"),
    "file-scoring": Section(file_scoring.section, "`crampnet score` on Parquet, end to end"),
    "if-fixed": Section(if_fixed.section, "counterfactual and conflict measures, and --if-fixed"),
    "casebook": Section(casebook.section, "a case book of 100,000 cases: list and export"),
    "networks": Section(networks.section, "7 bnlearn networks: new, seen, batch vs pyAgrum"),
}


def parser() -> argparse.ArgumentParser:
    listing = "\n".join(f"  {name:<13} {s.help}" for name, s in SECTIONS.items())
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Time crampnet against pgmpy and pyAgrum; every figure to bench.json.",
        epilog=f"sections, in the order a whole run measures them:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SECTIONS,
        metavar="NAME",
        help="run these sections only: their keys of the output replace the old, the rest stay",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=OUTPUT,
        metavar="PATH",
        help="the JSON to write (default: bench.json at the repository root)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small counts, a minute or two, to check the sections run (needs -o)",
    )
    return parser


def plan(settings: Settings) -> str:
    s, subsample = settings, len(range(0, settings.n_sets, settings.pgmpy_refresh_every))
    rows = if_fixed.SCORE_ROWS_QUICK if s.quick else if_fixed.SCORE_ROWS
    books = " and ".join(f"{n:,}" for n in (casebook.QUICK_SIZES if s.quick else casebook.SIZES))
    return (
        f"plan: {s.n_sets} evidence sets; query x3 engines, crampnet refresh x{s.n_sets} (+ a "
        f"component pass), pgmpy refresh on {subsample} sets ({s.pgmpy_draws} interval "
        f"draws scaled to {DRAWS}), batch of {s.n_sets} and {s.repeat_rows} rows, two "
        f"one-thread diagnostics; if-fixed on {s.n_sets} new and {s.n_sets} seen cases and a "
        f"file of {rows:,} rows; case books of {books} cases (list, export); "
        f"{len(networks.NETWORKS)} bnlearn networks ({s.network_queries} "
        f"new and {s.network_queries} seen queries, {s.network_rows} batch rows each). "
        + (
            "Quick: counts shrunk."
            if s.quick
            else "About 3-4 min on 2 cores, plus the networks, if-fixed's file and the case "
            "books (~10 min)."
        )
    )


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    output = args.output.resolve()
    if args.quick and output == OUTPUT:
        parser().error("--quick measures too little for bench.json: give -o PATH")
    names = [name for name in SECTIONS if name in (args.only or SECTIONS)]
    whole = len(names) == len(SECTIONS)
    os.chdir(ROOT)
    load_at_start = list(os.getloadavg())
    pgmpy_config.set_show_progress(False)
    run = Run(QUICK if args.quick else Settings())
    if whole:
        run.log(plan(run.settings))
    run.sets  # noqa: B018 (loads the model and samples the evidence sets, each logged)
    run.memory("after_load")
    sections: dict = {}
    for name in names:
        sections.update(SECTIONS[name].measure(run))
    if whole:
        sections.update(whole_run(run, load_at_start))
    report = assemble(sections, {} if whole else read(output))
    write(report, output)
    written = output.relative_to(ROOT) if output.is_relative_to(ROOT) else output
    print_table(report, set(sections), str(written), whole)
    if whole:
        run.log(f"done; peak RSS {report['peak_rss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

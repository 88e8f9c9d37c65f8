"""``batch_cases_per_s``: scoring many cases, crampnet's ``score_array`` over encoded rows
against one pyAgrum ``LazyPropagation`` query per case."""

from __future__ import annotations

import statistics
import time

import numpy as np

from bench.common import SEED, Run, answerable, fresh, sample_evidence
from bench.query import pyagrum_query
from model.inference.engine import Engine, encode
from model.inference.scoring import default_jobs, score_array

# a case file as a spreadsheet holds one: the same columns answered in every row
CSV_COLUMNS = [
    "leg_cramp_side",
    "nocturnal_cramps",
    "cramps_during_exercise",
    "calcium_trial",
    "blood_thinners",
    "low_fluid_intake",
    "female",
    "restless_legs",
]


def score_seconds(
    engine: Engine, columns: list[str], rows: np.ndarray, causes: list[str], jobs: int | None
) -> float:
    """Seconds ``score_array`` takes over ``rows`` (every row checked scored and possible)."""
    t = time.perf_counter()
    chunks = list(score_array(engine, columns, rows, causes, jobs=jobs))
    elapsed = time.perf_counter() - t
    assert sum(len(c.possible) for c in chunks) == len(rows)
    assert all(c.possible.all() for c in chunks)
    return elapsed


def crampnet_batches(run: Run) -> dict[str, float]:
    """Seconds of crampnet's batches (medians of repeats; the first call compiles)."""
    s, model = run.settings, run.model
    run.log(f"batch: crampnet score_array on {s.n_sets} and {s.repeat_rows} rows")
    engine = fresh(model).engine
    columns = answerable(model.priors)
    codes = encode(engine, columns, run.sets)
    # distinct evidence sets drawn like the timed ones (every row its own answers): the hard case
    big = encode(engine, columns, sample_evidence(model, s.repeat_rows, SEED + 1))
    csv_sets = sample_evidence(model, s.repeat_rows, SEED + 2, columns=CSV_COLUMNS)
    csv_codes = encode(engine, CSV_COLUMNS, csv_sets)

    def score(rows: np.ndarray, cols: list[str] = columns, jobs: int | None = None) -> float:
        return score_seconds(engine, cols, rows, model.causes, jobs)

    def median(repeats: int, rows: np.ndarray, **how) -> float:
        return statistics.median(score(rows, **how) for _ in range(repeats))

    out = {"first_call": score(codes)}  # compiles the structure: reported, not the headline
    out["small"] = median(s.batch_repeats, codes)
    out["large"] = median(s.large_repeats, big)
    out["fixed_columns"] = median(s.large_repeats, csv_codes, cols=CSV_COLUMNS)
    out["one_thread"] = median(s.large_repeats, big, jobs=1)
    return out


def pyagrum_seconds(run: Run) -> float:
    """Seconds of one pyAgrum query per timed set (median of repeats)."""
    agrum = pyagrum_query(run)
    agrum.posteriors(run.warm)
    runs = []
    for _ in range(run.settings.large_repeats):
        t = time.perf_counter()
        for ev in run.sets:
            agrum.posteriors(ev)
        runs.append(time.perf_counter() - t)
    return statistics.median(runs)


def section(run: Run) -> dict:
    s = run.settings
    n, rows = s.n_sets, s.repeat_rows
    crampnet = crampnet_batches(run)
    large, one_thread = crampnet["large"], crampnet["one_thread"]
    run.log(f"batch: crampnet {rows / large:,.0f} cases/s; now pyAgrum on {n} cases")
    agrum_s = pyagrum_seconds(run)
    run.memory("after_batch")
    run.memory("after_batch_all")
    detail = {
        "crampnet_rows": rows,
        "crampnet_seconds": large,
        "crampnet_cases_per_s_200": n / crampnet["small"],
        "crampnet_first_call_200_s": crampnet["first_call"],
        "crampnet_cases_per_s_fixed_columns_file": rows / crampnet["fixed_columns"],
        "crampnet_threads": default_jobs(),
        "crampnet_cases_per_s_one_thread": rows / one_thread,
        "one_thread_vs_pyagrum": (rows / one_thread) / (n / agrum_s),
        "fixed_columns": CSV_COLUMNS,
        "pyagrum_rows": n,
        "pyagrum_seconds": agrum_s,
        "note": "crampnet = model.scoring.score_array over encoded rows (columns = the "
        f"{len(answerable(run.model.priors))} context questions and findings), {rows} "
        f"distinct sets sampled like the {n} (3-8 answers each, every row its own); the fixed-"
        "columns file answers the same 8 columns in every row, as a spreadsheet of cases "
        "does. crampnet runs the groups of a chunk on default_jobs() threads (the "
        "usable cores); its one-thread figure is given too. pyagrum = one "
        f"LazyPropagation query per case (one thread), on the {n}.",
    }
    return {
        "batch_cases_per_s": {"crampnet": rows / large, "pyagrum": n / agrum_s},
        "batch_detail": detail,
    }

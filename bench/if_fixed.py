"""``if_fixed``: the counterfactual measures (what putting one cause right would stop,
:mod:`model.diagnosis.counterfactual`) and the conflict measure
(:mod:`model.inference.conflict`): what they cost once, per case, and per row of a file.

The cases are forward samples of the point tables over the questionnaire's columns
(:data:`bench.file_scoring.FILE_COLUMNS`), each cell skipped with probability
:data:`~bench.file_scoring.FILE_EMPTY` as in the scored file; a case holds its answered columns
only. A case's *pattern* (what a batch on a twin network compiles a tree for) is which columns
are answered and which features are present. What is timed, with ``time.perf_counter``:

- ``build_s``: the one-time build in a fresh process (``python -m bench.if_fixed``, run
  ``file_repeats`` times, the run of the median kept): the 24 twin networks (``twins_s``: two
  per cause) and the first ``if_fixed`` of one case on them (``first_call_s``: the calibrated
  trees of the twins and of the model built, the compiled loops loaded), model load apart
  (``load_s``); ``next_new_ms`` is a second case of another pattern in that process, what a
  new pattern costs once all is built.
- ``new_ms``: ``counterfactuals.if_fixed(evidence)`` for one case, over ``n_sets`` cases of
  distinct patterns, each new to the engine (a fresh model, warmed up on one other case);
  ``seen_ms``: one case of each of those patterns again, with the answers of another sample of
  the same pattern where one is found (else the same answers: ``seen_same_answers``). A
  single case's twin queries go one row at a time on each twin network's calibrated tree,
  which compiles nothing per pattern, so the two should cost alike: the pair checks it.
- ``posteriors_ms``: one plain ``engine.posteriors(causes, evidence)`` on the same cases (what
  a refresh already pays); ``new_vs_posteriors``, ``seen_vs_posteriors``: the median over the
  cases of if_fixed's time over that query's, each pair timed back to back.
- ``conflict_ms``: ``measure_conflict(engine, evidence)`` on the same cases, new and seen (one
  single query per answer on the model's calibrated tree, so again alike).
- ``score``: ``crampnet score in.parquet -o out.parquet`` as a child process on
  :data:`SCORE_ROWS` generated rows (``write_case_file``), without ``--if-fixed`` (``file_repeats``
  runs, median kept) and with it (one run: it takes minutes): rows per second from launch to
  exit, model load included, and each child's peak RSS (``VmHWM``, polled).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from bench.common import ROOT, SEED, Run, clock, fresh, proc_status_mb, rss_mb, summary
from bench.file_scoring import FILE_COLUMNS, FILE_EMPTY, run_score, write_case_file
from model import load_model
from model.analysis.sampling import sample_codes
from model.inference.conflict import measure_conflict

SCORE_ROWS = 10_000  # rows of the file scored with and without --if-fixed
SCORE_ROWS_QUICK = 500  # with --if-fixed a row takes tens of milliseconds
POOL_ROWS = 20_000  # forward samples searched for a seen pattern's other answers
CANDIDATES = 4  # cases sampled per case kept, to find enough distinct patterns

Case = dict[str, str]
Pattern = tuple[frozenset, frozenset]  # answered columns, features present


def sample_cases(model, n: int, seed: int) -> tuple[list[Case], dict[str, np.ndarray]]:
    """``n`` forward-sampled cases over :data:`FILE_COLUMNS` (each cell skipped with
    probability :data:`FILE_EMPTY`, the answered ones kept), and their state indices."""
    priors, rng = model.priors, np.random.default_rng(seed + 7)
    sampled = sample_codes(priors, n, seed)
    skipped = rng.random((n, len(FILE_COLUMNS))) < FILE_EMPTY
    cases = [
        {
            c: priors.nodes[c].states[int(sampled[c][i])]
            for j, c in enumerate(FILE_COLUMNS)
            if not skipped[i, j]
        }
        for i in range(n)
    ]
    return cases, sampled


def pattern(cf, case: Case) -> Pattern:
    """What the twin networks compile for: the answered columns and the features present."""
    present = {f for f in cf.features if f in case and case[f] != cf.off_state(f)}
    return frozenset(case), frozenset(present)


def distinct(model, n: int, seed: int) -> list[Case]:
    """``n`` cases of distinct patterns, from :data:`CANDIDATES` times as many samples."""
    cf, found, seen = model.counterfactuals, [], set()
    for case in sample_cases(model, CANDIDATES * n, seed)[0]:
        key = pattern(cf, case)
        if key not in seen:
            seen.add(key)
            found.append(case)
            if len(found) == n:
                return found
    raise ValueError(f"fewer than {n} distinct patterns in {CANDIDATES * n} sampled cases")


def seen_cases(model, cases: list[Case], seed: int) -> tuple[list[Case], int]:
    """One case of each case's pattern with other answers, from :data:`POOL_ROWS` more forward
    samples (each used once); the same case where none is found, and how many those are."""
    cf, states = model.counterfactuals, {c: model.priors.nodes[c].states for c in FILE_COLUMNS}
    pool = sample_codes(model.priors, POOL_ROWS, seed)
    unused = np.ones(POOL_ROWS, dtype=bool)
    out, same = [], 0
    for case in cases:
        fits, differs = unused.copy(), np.zeros(POOL_ROWS, dtype=bool)
        for c, answer in case.items():
            code = states[c].index(answer)
            if c in cf.features:
                off = states[c].index(cf.off_state(c))
                fits &= (pool[c] != off) == (code != off)
            differs |= pool[c] != code
        hits = np.flatnonzero(fits & differs)
        if len(hits):
            unused[hits[0]] = False
            out.append({c: states[c][int(pool[c][hits[0]])] for c in case})
        else:
            out.append(dict(case))
            same += 1
    assert [pattern(cf, c) for c in out] == [pattern(cf, c) for c in cases]
    return out, same


def timed_pass(model, cases: list[Case], label: str, log: Callable[[str], None]) -> dict:
    """Per case, back to back: a plain posteriors query, ``if_fixed``, ``measure_conflict``
    (milliseconds of each, in sequence)."""
    cf, causes = model.counterfactuals, model.causes
    times: dict[str, list[float]] = {"posteriors": [], "if_fixed": [], "conflict": []}
    for i, case in enumerate(cases):
        times["posteriors"].append(clock(partial(model.engine.posteriors, causes, case))[1])
        times["if_fixed"].append(clock(partial(cf.if_fixed, case))[1])
        times["conflict"].append(clock(partial(measure_conflict, model.engine, case))[1])
        if (i + 1) % 50 == 0 or i + 1 == len(cases):
            log(
                f"if-fixed: {label} {i + 1}/{len(cases)}, median if_fixed "
                f"{statistics.median(times['if_fixed']):.1f} ms, conflict "
                f"{statistics.median(times['conflict']):.1f} ms"
            )
    return times


def paired(times: dict[str, list[float]]) -> float:
    """The median over the cases of if_fixed's time over the plain query's."""
    return statistics.median(
        f / p for f, p in zip(times["if_fixed"], times["posteriors"], strict=True)
    )


def per_case(run: Run) -> dict:
    """``new_ms``, ``seen_ms``, the plain queries, the paired ratios and ``conflict_ms``, on a
    fresh model warmed up on one other case."""
    n = run.settings.n_sets
    cm = fresh(run.model)
    new = distinct(cm, n + 1, SEED + 11)
    warm, new = new[-1], new[:n]  # the warm-up pattern is not one of the timed ones
    seen, same = seen_cases(cm, new, SEED + 13)
    sizes = [len(c) for c in new]
    run.log(
        f"if-fixed: {n} cases of distinct patterns, answers per case {min(sizes)}-{max(sizes)}; "
        f"{n - same} seen cases with other answers; warm-up (builds the twin networks)"
    )
    _, warmup_ms = clock(partial(cm.counterfactuals.if_fixed, warm))
    cm.engine.posteriors(cm.causes, warm)
    measure_conflict(cm.engine, warm)
    run.log(f"if-fixed: warm-up took {warmup_ms:.0f} ms; timing {n} new patterns")
    on_new = timed_pass(cm, new, "new", run.log)
    on_seen = timed_pass(cm, seen, "seen", run.log)
    run.memory("after_if_fixed")
    del cm
    run.memory("after_if_fixed_freed")
    return {
        "new_ms": summary(on_new["if_fixed"]),
        "seen_ms": summary(on_seen["if_fixed"]),
        "posteriors_ms": {
            "new": summary(on_new["posteriors"]),
            "seen": summary(on_seen["posteriors"]),
        },
        "new_vs_posteriors": paired(on_new),
        "seen_vs_posteriors": paired(on_seen),
        "conflict_ms": {"new": summary(on_new["conflict"]), "seen": summary(on_seen["conflict"])},
        "warmup_ms": warmup_ms,
        "n_cases": n,
        "seen_same_answers": same,
        "answers_per_case": [min(sizes), max(sizes)],
    }


# --- the one-time build, in a fresh process ---------------------------------------------------


def build() -> int:
    """In this (fresh) process: load the model, build the twin networks, answer two cases of
    distinct patterns; the seconds of each step as one JSON line on stdout."""
    model, load_ms = clock(load_model)

    def twins() -> int:
        cf = model.counterfactuals
        for c in cf.causes:  # the two networks if_fixed asks for per cause
            cf.twin({c: cf.nodes[c].normal_state})
            cf.twin(alone=c)
        return 2 * len(cf.causes)

    count, twins_ms = clock(twins)
    first, second = distinct(model, 2, SEED + 11)
    _, first_ms = clock(partial(model.counterfactuals.if_fixed, first))
    _, next_ms = clock(partial(model.counterfactuals.if_fixed, second))
    peak = proc_status_mb("VmHWM")
    result = {
        "load_s": load_ms / 1e3,
        "twins": count,
        "twins_s": twins_ms / 1e3,
        "first_call_s": first_ms / 1e3,
        "build_s": (twins_ms + first_ms) / 1e3,
        "next_new_ms": next_ms,
        "peak_rss_mb": rss_mb() if peak is None else peak,
    }
    print(json.dumps(result), flush=True)
    return 0


def one_build() -> dict:
    """:func:`build` in a child process: its figures."""
    command = [sys.executable, "-m", "bench.if_fixed"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, errors="replace")
    if done.returncode != 0:
        raise RuntimeError(f"bench.if_fixed exited {done.returncode}: {done.stderr[-500:]}")
    return json.loads(done.stdout.splitlines()[-1])


def builds(run: Run) -> dict:
    """``file_repeats`` fresh processes building the twin networks: the figures of the run
    with the median ``build_s`` (so its parts add up), and each run's."""
    repeats, runs = run.settings.file_repeats, []
    for k in range(repeats):
        runs.append(one_build())
        r = runs[-1]
        run.log(
            f"if-fixed: fresh process {k + 1}/{repeats}: {r['twins']} twin networks in "
            f"{r['twins_s']:.2f} s, first if_fixed {r['first_call_s']:.2f} s, next new "
            f"pattern {r['next_new_ms']:.0f} ms"
        )
    middle = dict(sorted(runs, key=lambda r: r["build_s"])[(repeats - 1) // 2])  # median run
    return {"build_s": middle.pop("build_s"), "build": {**middle, "runs": runs}}


# --- crampnet score --if-fixed, end to end ----------------------------------------------------


def score(run: Run) -> dict:
    """The generated file scored ``file_repeats`` times without ``--if-fixed`` and once with."""
    import pyarrow.parquet as pq

    n = SCORE_ROWS_QUICK if run.settings.quick else SCORE_ROWS
    repeats = run.settings.file_repeats
    out: dict = {"rows": n}
    with tempfile.TemporaryDirectory(prefix="crampnet-bench-") as tmp:
        source, target = Path(tmp) / "in.parquet", Path(tmp) / "out.parquet"
        run.log(f"if-fixed: writing {n:,} generated rows to Parquet")
        write_case_file(run.model, source, n)
        for name, flags, times in (("plain", [], repeats), ("if_fixed", ["--if-fixed"], 1)):
            runs = []
            for k in range(times):
                command = " ".join(["crampnet score", *flags])
                run.log(f"if-fixed: {command} on {n:,} rows, run {k + 1}/{times}")
                runs.append(run_score(source, target, flags))
                run.log(
                    f"if-fixed: {runs[-1]['seconds']:.1f} s, "
                    f"peak RSS {runs[-1]['peak_rss_mb']:.0f} MB"
                )
            schema = pq.ParquetFile(target).schema_arrow
            assert pq.ParquetFile(target).metadata.num_rows == n
            assert ("conflict" in schema.names) == bool(flags)
            seconds = statistics.median(r["seconds"] for r in runs)
            out[name] = {
                "rows_per_s": n / seconds,
                "seconds": seconds,
                "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
                "runs": runs,
            }
    out["slowdown"] = out["plain"]["rows_per_s"] / out["if_fixed"]["rows_per_s"]
    return out


def section(run: Run) -> dict:
    run.log(
        f"if-fixed: the twin networks' build in {run.settings.file_repeats} fresh process(es), "
        f"{run.settings.n_sets} new and {run.settings.n_sets} seen cases, then crampnet score "
        "with and without --if-fixed"
    )
    out: dict = {**builds(run), **per_case(run)}
    out["score"] = score(run)
    out["note"] = (
        "Cases: forward samples of the point tables over the 20 questionnaire columns of "
        f"file_scoring, each cell skipped with probability {FILE_EMPTY}, the answered ones kept; "
        "a pattern is the answered columns and the features present. build_s: twin networks "
        "and the first if_fixed in a fresh process (python -m bench.if_fixed), model load "
        "apart. new_ms / seen_ms: counterfactuals.if_fixed(evidence) on a fresh model, each "
        "case timed back to back with engine.posteriors(causes, evidence) (the *_vs_posteriors "
        "ratios: medians of the per-case ratios) and measure_conflict(engine, evidence). "
        "score: crampnet score in.parquet -o out.parquet --no-progress [--if-fixed] as a child "
        "process, launch to exit; peak RSS: the child's VmHWM, polled."
    )
    return {"if_fixed": out}


if __name__ == "__main__":
    sys.exit(build())

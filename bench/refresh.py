"""``refresh_ms``: one full explorer refresh (posteriors, 1000-draw 90% intervals, the ranking of
every unanswered question). crampnet on every set, then once more by component; pgmpy does the
same work with variable elimination on a fixed subsample of the sets, its 1000-draw intervals
timed on a few draws and scaled (:mod:`bench.pgmpy_refresh`).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from functools import partial

from bench.common import Run, clock, fresh, ms, summary
from bench.pgmpy_refresh import pgmpy_pass
from model.diagnosis.questions import rank_questions
from model.diagnosis.scenario import Scenario
from model.diagnosis.view import view
from model.inference.uncertainty import posterior_intervals
from model.knowledge.draws import DRAWS


def refresh(model, evidence: dict[str, str]):
    """One explorer refresh, exactly what the app computes after an answer: the diagnosis
    (posteriors, red flags, explanation), 1000-draw intervals and the next-question ranking."""
    return view(model, Scenario(dict(evidence)))


@dataclass
class CrampnetRefresh:
    times: list[float]  # ms per set, in sequence
    gains: dict[int, dict[str, float]]  # information gains on the pgmpy subsample
    warmup_ms: float
    repeat: list[float]  # ms per set, the first sets again


def crampnet_pass(run: Run, subsample: list[int]) -> CrampnetRefresh:
    """crampnet's refreshes over the sets on a fresh engine (warmed up on another set)."""
    n = run.settings.n_sets
    cm = fresh(run.model)
    run.log(f"refresh: crampnet warm-up (draws {DRAWS}: builds the drawn engine once)")
    _, warmup_ms = clock(partial(refresh, cm, run.warm))
    run.log(f"refresh: warm-up took {warmup_ms:.0f} ms; timing {n} refreshes")
    times, gains = [], {}
    for i, ev in enumerate(run.sets):
        result, elapsed = clock(partial(refresh, cm, ev))
        times.append(elapsed)
        if i in subsample:
            gains[i] = {q.variable: q.info_gain for q in result.questions}
        if (i + 1) % 50 == 0:
            left = statistics.median(times) * (n - i - 1) / 1e3
            run.log(f"refresh: crampnet {i + 1}/{n}, ~{left:.0f} s left in this pass")
    again = run.sets[: run.settings.repeat_refresh]
    repeat = [clock(partial(refresh, cm, ev))[1] for ev in again]
    run.memory("after_crampnet_refresh")
    del cm, result
    run.memory("after_crampnet_refresh_freed")
    return CrampnetRefresh(times, gains, warmup_ms, repeat)


def component_pass(run: Run) -> dict[str, list[float]]:
    """posteriors, posterior_intervals and rank_questions timed apart, on a fresh engine."""
    run.log("refresh: component pass (posteriors / intervals / ranking, on another fresh engine)")
    cc, causes = fresh(run.model), run.model.causes
    refresh(cc, run.warm)
    components: dict[str, list[float]] = {"posteriors": [], "intervals": [], "ranking": []}
    for ev in run.sets:
        t0 = time.perf_counter()
        cc.engine.posteriors(causes, ev)
        t1 = time.perf_counter()
        posterior_intervals(cc.drawn(DRAWS), causes, ev)
        t2 = time.perf_counter()
        rank_questions(cc, ev)
        t3 = time.perf_counter()
        components["posteriors"].append(ms(t1 - t0))
        components["intervals"].append(ms(t2 - t1))
        components["ranking"].append(ms(t3 - t2))
    del cc
    run.memory("after_component_pass_freed")
    return components


def crampnet_detail(run: Run, cr: CrampnetRefresh, components: dict, subsample: list[int]):
    times, sets = cr.times, run.sets
    slowest = sorted(range(len(times)), key=lambda i: -times[i])[:5]
    sizes = sorted({len(e) for e in sets})
    return {
        "crampnet": summary(times),
        "crampnet_warmup_ms": cr.warmup_ms,
        "crampnet_repeat_first50": summary(cr.repeat),
        "crampnet_on_pgmpy_subsample": summary([times[i] for i in subsample]),
        "crampnet_components": {k: summary(v) for k, v in components.items()},
        "crampnet_median_by_answers": {
            str(k): statistics.median([t for t, e in zip(times, sets, strict=True) if len(e) == k])
            for k in sizes
        },
        "crampnet_slowest": [
            {
                "index": i,
                "ms": times[i],
                "components_ms": {k: v[i] for k, v in components.items()},
                "evidence": sets[i],
            }
            for i in slowest
        ],
        "crampnet_first20_vs_last20_median": [
            statistics.median(times[:20]),
            statistics.median(times[-20:]),
        ],
    }


def pgmpy_detail(run: Run, per_set: list[dict], gain_diff: float, subsample: list[int]):
    draws = run.settings.pgmpy_draws
    return {
        "pgmpy": summary([r["ms"] for r in per_set]),
        "pgmpy_subsample": f"every {run.settings.pgmpy_refresh_every}th evidence set: {subsample}",
        "pgmpy_intervals_scaled_from": draws,
        "pgmpy_method": "one VE call (joint=False) for the posteriors of the causes; per "
        "candidate question one VE call for its own marginal and one VE call of the causes "
        f"per informative answer; {draws} VE calls on networks with drawn tables "
        "(networks prebuilt, not timed, as crampnet caches its drawn engine), time scaled "
        f"to {DRAWS} draws",
        "pgmpy_per_set": per_set,
        "ratio_on_subsample_median": statistics.median(r["ms"] / r["crampnet_ms"] for r in per_set),
        "max_abs_info_gain_diff_vs_pgmpy": gain_diff,
    }


def section(run: Run) -> dict:
    s = run.settings
    subsample = list(range(0, s.n_sets, s.pgmpy_refresh_every))
    cr = crampnet_pass(run, subsample)
    components = component_pass(run)
    per_set, gain_diff = pgmpy_pass(run, subsample, cr.times, cr.gains)
    refresh_ms = {
        "crampnet": statistics.median(cr.times),
        "pgmpy": statistics.median([r["ms"] for r in per_set]),
    }
    detail = {
        **crampnet_detail(run, cr, components, subsample),
        **pgmpy_detail(run, per_set, gain_diff, subsample),
        "note": "crampnet = model.explorer.view (what the app computes) on a fresh "
        f"engine (warmed up on one other evidence set), in sequence over the {s.n_sets} "
        "distinct sets; the component pass times posteriors, posterior_intervals and "
        "rank_questions separately on another fresh engine.",
    }
    return {"refresh_ms": refresh_ms, "refresh_ms_detail": detail}

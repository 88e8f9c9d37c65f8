"""``query_ms``: the posteriors of the 12 causes for one evidence set, crampnet's engine against
pgmpy's variable elimination and pyAgrum's ``LazyPropagation``, and the largest difference.

crampnet is timed in sequence over the distinct evidence sets (each a pattern new to the
engine: the realistic case) and again on a repeat of the same sets. Since issue 15 a single
query runs on the whole network's calibrated tree, so a new pattern costs no compiling; the
warm-up query before the timed ones builds that tree once.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from functools import partial

import pyagrum as gum

from bench.common import Run, clock, summary
from tests.oracles.reference import PgmpyEngine, to_pyagrum

Posteriors = dict[str, dict[str, float]]


class PyAgrumQuery:
    """One ``LazyPropagation`` built once and reused: targets set once, evidence swapped."""

    def __init__(self, bn, causes: list[str]):
        self.causes = causes
        self.labels = {c: list(bn.variableFromName(c).labels()) for c in causes}
        self.ie = gum.LazyPropagation(bn)
        self.ie.setTargets(set(causes))

    def posteriors(self, evidence: dict[str, str]) -> Posteriors:
        self.ie.eraseAllEvidence()
        self.ie.setEvidence(evidence)
        self.ie.makeInference()
        out = {}
        for c in self.causes:
            values = self.ie.posterior(c).toarray()
            out[c] = dict(zip(self.labels[c], map(float, values), strict=True))
        return out


def pyagrum_query(run: Run) -> PyAgrumQuery:
    """The run's one pyAgrum engine over the point tables (the batch section reuses it)."""
    model = run.model
    return run.once("pyagrum", lambda: PyAgrumQuery(to_pyagrum(model.network), model.causes))


def max_diff(a: Posteriors, b: Posteriors) -> float:
    return max(abs(a[v][s] - b[v][s]) for v in a for s in a[v])


def crampnet_times(run: Run) -> tuple[list[float], list[float], list[Posteriors]]:
    """Milliseconds per set in sequence (each new), again (each seen), and the posteriors."""
    engine, causes = run.model.engine, run.model.causes
    engine.posteriors(causes, run.warm)
    seq, posteriors = [], []
    for ev in run.sets:
        post, elapsed = clock(partial(engine.posteriors, causes, ev))
        seq.append(elapsed)
        posteriors.append(post)
    repeat = [clock(partial(engine.posteriors, causes, ev))[1] for ev in run.sets]
    return seq, repeat, posteriors


def timed_against(
    posteriors: Callable[[dict[str, str]], Posteriors], run: Run, references: list[Posteriors]
) -> tuple[list[float], float]:
    """Milliseconds per set of another engine, and its largest difference from crampnet."""
    times, diff = [], 0.0
    for ev, ref in zip(run.sets, references, strict=True):
        post, elapsed = clock(partial(posteriors, ev))
        times.append(elapsed)
        diff = max(diff, max_diff(ref, post))
    return times, diff


def section(run: Run) -> dict:
    causes = run.model.causes
    run.log("query: crampnet, in sequence over the distinct sets (each a new pattern)")
    seq, repeat, crampnet_posteriors = crampnet_times(run)
    run.log(f"query: crampnet median {statistics.median(seq):.2f} ms; now pgmpy (~2 s)")
    pg = PgmpyEngine(run.model.network)
    pg.posteriors(causes, run.warm)
    pg_times, diff_pgmpy = timed_against(partial(pg.posteriors, causes), run, crampnet_posteriors)
    run.log(f"query: pgmpy median {statistics.median(pg_times):.2f} ms; now pyAgrum")
    agrum = pyagrum_query(run)
    agrum.posteriors(run.warm)
    ag_times, diff_agrum = timed_against(agrum.posteriors, run, crampnet_posteriors)
    run.log(f"query: pyAgrum median {statistics.median(ag_times):.2f} ms")
    run.memory("after_query")
    query = {
        "crampnet": statistics.median(seq),
        "pgmpy": statistics.median(pg_times),
        "pyagrum": statistics.median(ag_times),
    }
    detail = {
        "crampnet_sequence": summary(seq),
        "crampnet_repeat": summary(repeat),
        "pgmpy": summary(pg_times),
        "pyagrum": summary(ag_times),
        "note": f"crampnet = model.engine.posteriors timed in sequence over the {len(seq)} "
        "distinct sets, each a pattern new to the engine (the headline; single queries run "
        "on the whole network's calibrated tree, built by the warm-up query); "
        "crampnet_repeat = the same sets queried again. pgmpy = "
        "PgmpyEngine.posteriors (one VariableElimination call, joint=False). pyagrum = one "
        "LazyPropagation reused: eraseAllEvidence, setEvidence, makeInference, posterior "
        "of each cause.",
        "max_abs_diff_vs_pgmpy": diff_pgmpy,
        "max_abs_diff_vs_pyagrum": diff_agrum,
        "ratio_repeat_vs_pyagrum": query["pyagrum"] / statistics.median(repeat),
    }
    return {"query_ms": query, "query_ms_detail": detail}

"""pgmpy doing one explorer refresh's work by variable elimination, for the ``refresh``
section: the posteriors of the causes, the information gain of every candidate question, and
the 90% intervals over networks with drawn tables (a few draws run, the time scaled)."""

from __future__ import annotations

import time
import warnings
from functools import partial

import numpy as np
from pgmpy.factors.discrete import TabularCPD
from pgmpy.inference import VariableElimination

from bench.common import Run, clock, ms
from model.diagnosis.questions import candidate_questions, informative_states
from model.inference.uncertainty import LEVEL
from model.knowledge.draws import DRAWS, draw_tables


def ve_query(ve: VariableElimination, targets: list[str], evidence: dict[str, str]) -> dict:
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return ve.query(
            targets,
            evidence=evidence or None,
            joint=False,
            elimination_order="greedy",
            show_progress=False,
        )


def entropy(p: np.ndarray) -> float:
    """Entropy in bits (0 log 0 = 0), as the ranking computes it."""
    p = np.asarray(p, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.where(p > 0, -p * np.log2(p), 0.0).sum())


def drawn_cpd(cpd: TabularCPD, table: np.ndarray) -> TabularCPD:
    """``cpd`` with its values replaced by one drawn ``table``."""
    states = cpd.state_names
    parents = list(cpd.variables[1:])
    return TabularCPD(
        variable=cpd.variable,
        variable_card=len(states[cpd.variable]),
        values=np.asarray(table).reshape(len(states[cpd.variable]), -1),
        evidence=parents or None,
        evidence_card=[len(states[p]) for p in parents] or None,
        state_names={v: list(states[v]) for v in cpd.variables},
    )


def drawn_networks(model, draws: int, seed: int) -> list[VariableElimination]:
    """``draws`` copies of the pgmpy network with drawn tables, one VE engine each."""
    tables = draw_tables(model.priors, draws, seed)
    engines = []
    for j in range(draws):
        network = model.network.copy()
        for cpd in list(network.get_cpds()):
            network.remove_cpds(cpd)
            network.add_cpds(drawn_cpd(cpd, tables[cpd.variable][j]))
        if j == 0:
            network.check_model()
        engines.append(VariableElimination(network))
    return engines


def information_gains(
    model, ve, evidence: dict[str, str], candidates: list[str]
) -> tuple[dict, int]:
    """Each candidate's expected fall in the summed entropy of the unanswered causes, and the
    VE calls it took."""
    free = [c for c in model.causes if c not in evidence]
    # posteriors of the causes: one joint=False call (pgmpy contracts to the joint of the
    # query variables and then marginalises, so the candidates cannot join this call)
    base = ve_query(ve, free, evidence)
    entropy_before = sum(entropy(base[c].values) for c in free)
    gains, n_queries = {}, 1
    for q in candidates:
        own = ve_query(ve, [q], evidence)[q]  # the candidate's own marginal
        n_queries += 1
        states = informative_states(model.priors, q)
        names = own.state_names[q]
        weights = np.array([own.values[names.index(s)] for s in states])
        weights = weights / weights.sum() if weights.sum() > 0 else weights
        expected = 0.0
        for state, weight in zip(states, weights, strict=True):
            after = ve_query(ve, free, {**evidence, q: state})
            n_queries += 1
            if weight <= 0:
                continue
            expected += weight * sum(entropy(after[c].values) for c in free)
        gains[q] = max(float(entropy_before - expected), 0.0)
    return gains, n_queries


def pgmpy_refresh(model, ve, drawn_ves, evidence: dict[str, str]) -> dict:
    """The explorer refresh's work by variable elimination; interval draws timed apart."""
    candidates = candidate_questions(model.priors, set(evidence))
    free = [c for c in model.causes if c not in evidence]
    t0 = time.perf_counter()
    gains, n_queries = information_gains(model, ve, evidence, candidates)
    t1 = time.perf_counter()
    samples = []
    for drawn in drawn_ves:
        result = ve_query(drawn, free, evidence)
        samples.append(np.concatenate([result[c].values for c in free]))
    tail = (1.0 - LEVEL) / 2.0
    np.quantile(np.array(samples), [tail, 1.0 - tail], axis=0)
    t2 = time.perf_counter()
    ranking_s = t1 - t0
    intervals_s = (t2 - t1) * DRAWS / len(drawn_ves)
    return {
        "ms": ms(ranking_s + intervals_s),
        "posteriors_and_ranking_ms": ms(ranking_s),
        "intervals_ms_scaled": ms(intervals_s),
        "intervals_ms_measured": ms(t2 - t1),
        "ve_queries": n_queries + len(drawn_ves),
        "gains": gains,
    }


def pgmpy_pass(
    run: Run, subsample: list[int], crampnet_ms: list[float], crampnet_gains: dict[int, dict]
) -> tuple[list[dict], float]:
    """pgmpy's refresh on the subsample: one record per set (beside crampnet's time), and the
    largest difference of an information gain from crampnet's."""
    model, draws = run.model, run.settings.pgmpy_draws
    run.log(f"refresh: pgmpy, building {draws} networks with drawn tables (not timed)")
    drawn_ves = drawn_networks(model, draws, 0)
    ve = VariableElimination(model.network)
    ve_query(ve, model.causes, run.warm)
    ve_query(drawn_ves[0], model.causes, run.warm)
    per_set, gain_diff = [], 0.0
    for n, i in enumerate(subsample):
        out, wall_ms = clock(partial(pgmpy_refresh, model, ve, drawn_ves, run.sets[i]))
        out.update(index=i, crampnet_ms=crampnet_ms[i])
        gains = out.pop("gains")
        gain_diff = max(gain_diff, max(abs(gains[q] - crampnet_gains[i][q]) for q in gains))
        per_set.append(out)
        left = wall_ms / 1e3 * (len(subsample) - n - 1)
        run.log(
            f"refresh: pgmpy set {n + 1}/{len(subsample)} (#{i}): {out['ms']:.0f} ms "
            f"({out['ve_queries']} VE queries), ~{left:.0f} s left"
        )
    del drawn_ves
    run.memory("after_pgmpy_refresh_freed")
    return per_set, gain_diff

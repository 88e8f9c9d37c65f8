"""Which question or trial to try next: expected information about the causes, per answer.

For every unanswered context question, finding and trial, the engine answers the current
evidence plus each possible answer in one batch, and this module reports:

- ``info_gain``: the expected information the answer gives about the causes, in bits,
  measured as the sum over causes of the mutual information between the question and each
  cause given the current answers, I(Q; C_i | E) = H(C_i | E) - E_q[H(C_i | E, Q=q)]. This is
  the expected fall in the summed entropy of the cause marginals, the numbers the explorer
  shows. (It is not the information about the causes' joint state, which would need all 9,216
  joint configurations of the twelve causes per hypothetical answer.)
- ``max_change``: the largest change of any abnormal cause state any answer could bring
  (GeNIe reports both), with the answer, the cause state, and the before and after values.
- ``score = info_gain - cost_weight * cost``: ``cost`` is the node's effort in days from
  ``priors/`` (a trial takes days, a question costs nothing); ``cost_weight`` is in bits per
  day, 0 by default (pure information).

A trial's "not tried" answer is uninformative by construction, so a trial is scored as if it
were carried out: over its informative outcomes only.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from model.engine import Engine
from model.schema import NoisyOrCPD


def _entropy(p: np.ndarray) -> np.ndarray:
    """Entropy in bits along the last axis (0 log 0 = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log2(p), 0.0)
    return terms.sum(axis=-1)


def informative_states(engine: Engine, variable: str) -> list[str]:
    """The states an answer can take once the question is actually asked or tried."""
    cpd = engine.priors.nodes[variable].cpd
    skip = cpd.uninformative.state if isinstance(cpd, NoisyOrCPD) and cpd.uninformative else None
    return [s for s in engine.states[variable] if s != skip]


def candidate_questions(engine: Engine, answered: set[str]) -> list[str]:
    """Unanswered context questions, findings and trials, in priors order."""
    return [
        n
        for n, spec in engine.priors.nodes.items()
        if spec.kind in ("context", "finding") and n not in answered
    ]


def rank_questions(
    engine: Engine,
    evidence: Mapping[str, str],
    soft: Mapping[str, Mapping[str, float]] | None = None,
    *,
    do: Mapping[str, str] | None = None,
    candidates: list[str] | None = None,
    cost_weight: float = 0.0,
) -> list[dict]:
    """Every candidate question with its information gain, largest change and score, best first."""
    soft = dict(soft or {})
    base = {**evidence, **soft}
    causes = engine.priors.ids("cause")
    normal = {c: engine.priors.nodes[c].normal_state for c in causes}
    if candidates is None:
        candidates = candidate_questions(engine, set(base) | set(do or {}))
    rows: list[dict] = [base]
    slot: dict[tuple[str, str], int] = {}
    for q in candidates:
        for state in informative_states(engine, q):
            slot[(q, state)] = len(rows)
            rows.append({**base, q: state})
    marginals, log_z = engine.query(causes + candidates, rows, do)
    before = {c: marginals[c][0] for c in causes}
    entropy_before = sum(_entropy(before[c]) for c in causes)
    results = []
    for q in candidates:
        states = informative_states(engine, q)
        p_answer = np.array([marginals[q][0][engine.states[q].index(s)] for s in states])
        p_answer = p_answer / p_answer.sum() if p_answer.sum() > 0 else p_answer
        expected_entropy, best = 0.0, (0.0, None)
        for state, weight in zip(states, p_answer, strict=True):
            r = slot[(q, state)]
            if weight <= 0 or not np.isfinite(log_z[r]):
                continue
            after = {c: marginals[c][r] for c in causes}
            expected_entropy += weight * sum(_entropy(after[c]) for c in causes)
            for c in causes:
                for k, s in enumerate(engine.states[c]):
                    change = after[c][k] - before[c][k]
                    if s != normal[c] and abs(change) > abs(best[0]):
                        best = (change, (state, c, s, before[c][k], after[c][k]))
        gain = max(float(entropy_before - expected_entropy), 0.0)
        cost = engine.priors.nodes[q].cost
        answer = best[1]
        results.append(
            {
                "variable": q,
                "label": engine.priors.nodes[q].label,
                "kind": engine.priors.nodes[q].kind,
                "cost": cost,
                "info_gain": gain,
                "max_change": abs(best[0]),
                "max_change_detail": None
                if answer is None
                else {
                    "answer": answer[0],
                    "cause": answer[1],
                    "state": answer[2],
                    "before": float(answer[3]),
                    "after": float(answer[4]),
                },
                "score": gain - cost_weight * cost,
            }
        )
    return sorted(results, key=lambda r: (-r["score"], -r["max_change"], r["variable"]))

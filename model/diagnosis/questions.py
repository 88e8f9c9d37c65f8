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
- ``top_change``: the largest change any answer could bring to the cause state that is the
  most probable abnormal one now (the explorer's interview stops when no question could move
  it much).
- ``score = info_gain - cost_weight * cost``: ``cost`` is the node's effort in days from
  ``priors/`` (a trial takes days, a question costs nothing); ``cost_weight`` is in bits per
  day, 0 by default (pure information).

A trial's "not tried" answer is uninformative by construction, so a trial is scored as if it
were carried out: over its informative outcomes only.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from model.inference.engine import Engine
from model.knowledge.schema import Node, NoisyOrCPD


def uninformative_state(node: Node) -> str | None:
    """The answer that says nothing about the causes (a trial's "not tried"), if any."""
    cpd = node.cpd
    return cpd.uninformative.state if isinstance(cpd, NoisyOrCPD) and cpd.uninformative else None


def informative_states(engine: Engine, variable: str) -> list[str]:
    """The states an answer can take once the question is actually asked or tried."""
    if engine.priors is None:
        return list(engine.states[variable])
    skip = uninformative_state(engine.priors.nodes[variable])
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
    targets: list[str] | None = None,
    cost_weight: float = 0.0,
) -> list[dict]:
    """Every candidate question with its information gain, largest change and score, best first.

    ``targets`` are the causes by default; ``candidates`` every unanswered context question,
    finding and trial. On an engine without priors both must be given, every state counts as
    abnormal for ``max_change`` and every cost is 0.
    """
    soft = dict(soft or {})
    base = {**evidence, **soft}
    priors = engine.priors
    causes = list(targets) if targets is not None else priors.ids("cause")
    if candidates is None:
        candidates = candidate_questions(engine, set(base) | set(do or {}))
    marginals, _ = engine.query(causes + candidates, [base], do)
    before = np.concatenate([marginals[c][0] for c in causes])  # every cause state, in a row
    abnormal = np.concatenate(
        [
            [priors is None or s != priors.nodes[c].normal_state for s in engine.states[c]]
            for c in causes
        ]
    )
    labels = [(c, s) for c in causes for s in engine.states[c]]
    # One row per answer of every candidate, except each candidate's most probable answer:
    # its posterior follows from P(C|E) = sum_s P(s|E) P(C|E,s) (an uninformative answer
    # leaves P(C|E) as it is), and dividing by the largest P(s|E) keeps rounding harmless.
    plan, rows = [], []
    for q in candidates:
        p = marginals[q][0]
        states = informative_states(engine, q)
        index = [engine.states[q].index(s) for s in states]
        derived = max(index, key=lambda k: p[k])
        queried = [k for k in index if k != derived]
        plan.append((q, index, derived, queried, len(rows)))
        rows += [{**base, q: engine.states[q][k]} for k in queried]
    after_rows = np.empty((0, len(labels)))
    if rows:
        batch, _ = engine.query(causes, rows, do)
        after_rows = np.concatenate([batch[c] for c in causes], axis=1)
    h_before = _summed_entropy(before[None, :])[0]
    top = int(np.argmax(np.where(abnormal, before, -np.inf)))
    results = []
    for q, index, derived, queried, first in plan:
        p = marginals[q][0]
        after = np.full((len(engine.states[q]), len(labels)), np.nan)
        after[queried] = after_rows[first : first + len(queried)]
        uninformative = [k for k in range(len(p)) if k not in index]
        rest = before * (p[uninformative].sum() if uninformative else 0.0)
        rest = rest + (p[queried, None] * after[queried]).sum(axis=0)
        after[derived] = (before - rest) / p[derived] if p[derived] > 0 else np.nan
        live = [k for k in index if p[k] > 0 and np.isfinite(after[k]).all()]
        weights = p[live] / p[live].sum() if live else np.array([])
        gain = h_before - float(weights @ _summed_entropy(after[live])) if live else 0.0
        change = np.where(abnormal, after[live] - before, 0.0) if live else np.zeros((0, 1))
        node = priors.nodes[q] if priors else None
        cost = node.cost if node else 0.0
        detail = None
        if change.size and np.abs(change).max() > 0:
            k, j = np.unravel_index(np.abs(change).argmax(), change.shape)
            detail = {
                "answer": engine.states[q][live[k]],
                "cause": labels[j][0],
                "state": labels[j][1],
                "before": float(before[j]),
                "after": float(after[live[k], j]),
            }
        results.append(
            {
                "variable": q,
                "label": node.label if node else q,
                "kind": node.kind if node else "finding",
                "cost": cost,
                "info_gain": max(gain, 0.0),
                "max_change": float(np.abs(change).max()) if change.size else 0.0,
                "max_change_detail": detail,
                "top_change": float(np.abs(change[:, top]).max()) if change.size else 0.0,
                "score": max(gain, 0.0) - cost_weight * cost,
            }
        )
    # rounded so that ties differing only in the last bits (summation order) keep one order
    return sorted(
        results,
        key=lambda r: (-round(r["score"], 12), -round(r["max_change"], 12), r["variable"]),
    )


def _summed_entropy(rows: np.ndarray) -> np.ndarray:
    """Sum over causes of each cause's entropy (bits), for rows of concatenated marginals."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(rows > 0, -rows * np.log2(rows), 0.0)
    return terms.sum(axis=-1)

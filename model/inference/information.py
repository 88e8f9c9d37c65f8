"""What an answer to each unasked variable is expected to tell about the targets: exact value of
information over any network the engine answers.

For the current evidence, the engine answers the evidence plus each possible answer of every
candidate in one batch. Per candidate:

- ``info_gain``: the sum over targets of the mutual information between the candidate and
  each target given the evidence, I(Q; T_i | E) = H(T_i | E) - E_q[H(T_i | E, Q=q)], in bits:
  the expected fall in the summed entropy of the target marginals. (Not the information about
  the targets' joint state, which would need every joint configuration per answer.)
- ``max_change``: the largest change any answer could bring to any counted target state, with
  that answer, the state, and the values before and after (GeNIe reports both).
- ``top_change``: the largest change any answer could bring to the counted state that is the
  most probable now.

``outcomes`` restricts a candidate to the answers it can really take (a trial that is carried
out cannot come back "not tried"); ``counted`` says which target states count for the
changes (every state by default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from model.inference.engine import Engine


@dataclass(frozen=True)
class Change:
    """The largest move one answer could bring: ``target=state`` from ``before`` to ``after``."""

    answer: str
    target: str
    state: str
    before: float
    after: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class QuestionValue:
    """What asking ``variable`` is expected to tell about the targets."""

    variable: str
    info_gain: float
    max_change: float
    max_change_detail: Change | None
    top_change: float


def question_values(
    engine: Engine,
    evidence: Mapping[str, object],
    *,
    targets: Sequence[str],
    candidates: Sequence[str],
    outcomes: Mapping[str, Sequence[str]] | None = None,
    counted: Mapping[str, Sequence[bool]] | None = None,
    do: Mapping[str, str] | None = None,
) -> list[QuestionValue]:
    """The value of asking each candidate, in ``candidates`` order.

    ``evidence`` maps variables to a state or to likelihoods per state (soft answers), as
    :meth:`Engine.query` takes them.
    """
    targets, candidates, outcomes = list(targets), list(candidates), outcomes or {}
    marginals, _ = engine.query(targets + candidates, [dict(evidence)], do)
    before = np.concatenate([marginals[t][0] for t in targets])  # every target state, in a row
    labels = [(t, s) for t in targets for s in engine.states[t]]
    counts = (
        np.ones(len(labels), dtype=bool)
        if counted is None
        else np.concatenate([np.asarray(counted[t], dtype=bool) for t in targets])
    )
    # One row per answer of every candidate, except each candidate's most probable answer:
    # its posterior follows from P(T|E) = sum_s P(s|E) P(T|E,s) (an answer outside
    # ``outcomes`` leaves P(T|E) as it is), and dividing by the largest P(s|E) keeps rounding
    # harmless.
    plan, rows = [], []
    for q in candidates:
        p = marginals[q][0]
        states = outcomes.get(q, engine.states[q])
        index = [engine.states[q].index(s) for s in states]
        derived = max(index, key=lambda k: p[k])
        queried = [k for k in index if k != derived]
        plan.append((q, index, derived, queried, len(rows)))
        rows += [{**evidence, q: engine.states[q][k]} for k in queried]
    after_rows = np.empty((0, len(labels)))
    if rows:
        batch, _ = engine.query(targets, rows, do)
        after_rows = np.concatenate([batch[t] for t in targets], axis=1)
    h_before = _summed_entropy(before[None, :])[0]
    top = int(np.argmax(np.where(counts, before, -np.inf)))
    values = []
    for q, index, derived, queried, first in plan:
        p = marginals[q][0]
        after = np.full((len(engine.states[q]), len(labels)), np.nan)
        after[queried] = after_rows[first : first + len(queried)]
        outside = [k for k in range(len(p)) if k not in index]
        rest = before * (p[outside].sum() if outside else 0.0)
        rest = rest + (p[queried, None] * after[queried]).sum(axis=0)
        after[derived] = (before - rest) / p[derived] if p[derived] > 0 else np.nan
        live = [k for k in index if p[k] > 0 and np.isfinite(after[k]).all()]
        weights = p[live] / p[live].sum() if live else np.array([])
        gain = h_before - float(weights @ _summed_entropy(after[live])) if live else 0.0
        change = np.where(counts, after[live] - before, 0.0) if live else np.zeros((0, 1))
        detail = None
        if change.size and np.abs(change).max() > 0:
            k, j = np.unravel_index(np.abs(change).argmax(), change.shape)
            detail = Change(
                engine.states[q][live[k]],
                *labels[j],
                float(before[j]),
                float(after[live[k], j]),
            )
        values.append(
            QuestionValue(
                variable=q,
                info_gain=max(gain, 0.0),
                max_change=float(np.abs(change).max()) if change.size else 0.0,
                max_change_detail=detail,
                top_change=float(np.abs(change[:, top]).max()) if change.size else 0.0,
            )
        )
    return values


def _summed_entropy(rows: np.ndarray) -> np.ndarray:
    """Sum over targets of each target's entropy (bits), for rows of concatenated marginals."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(rows > 0, -rows * np.log2(rows), 0.0)
    return terms.sum(axis=-1)

"""What an answer to each unasked variable is expected to tell about the targets: exact value of
information over any network the engine answers.

For the current evidence, the engine answers the evidence plus each possible answer of every
candidate in one batch: where it keeps a calibrated tree, on that tree with the evidence taken
in once (:meth:`Engine.given <model.inference.engine.Engine.given>`), so that each row carries
only its one new answer through the tree (on our network 2.3 times faster than carrying every
answer again). Per candidate:

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
    now = _Now(
        before=np.concatenate([marginals[t][0] for t in targets]),  # every target state
        labels=[(t, s) for t in targets for s in engine.states[t]],
        counts=np.ones(sum(engine.card[t] for t in targets), dtype=bool)
        if counted is None
        else np.concatenate([np.asarray(counted[t], dtype=bool) for t in targets]),
    )
    plans = [_plan(engine, q, marginals[q][0], outcomes.get(q)) for q in candidates]
    # the rows of every candidate's queried answers, answered in one batch
    asked = [p for p in plans if p.queried]
    n_rows = sum(len(p.queried) for p in asked)
    tree = engine.given(evidence, do) if n_rows else None
    if tree is not None:  # the answers so far taken in once; each row adds its one answer
        codes = np.full((n_rows, len(asked)), -1, dtype=np.int64)
        codes[np.arange(n_rows), [j for j, p in enumerate(asked) for _ in p.queried]] = [
            k for p in asked for k in p.queried
        ]
        batch, _ = tree.rows(targets, [p.variable for p in asked], codes)
    elif n_rows:
        rows = [
            {**evidence, p.variable: engine.states[p.variable][k]} for p in asked for k in p.queried
        ]
        batch, _ = engine.query(targets, rows, do)
    after_rows = (
        np.concatenate([batch[t] for t in targets], axis=1)
        if n_rows
        else np.empty((0, len(now.labels)))
    )
    return _values(engine, plans, after_rows, now)


@dataclass(frozen=True)
class _Now:
    """The targets' states now: probabilities in a row, their (target, state) labels, and
    which ones count for the changes."""

    before: np.ndarray
    labels: list[tuple[str, str]]
    counts: np.ndarray

    @property
    def entropy(self) -> float:
        return float(_summed_entropy(self.before[None, :])[0])

    @property
    def top(self) -> int:
        return int(np.argmax(np.where(self.counts, self.before, -np.inf)))


@dataclass(frozen=True)
class _Plan:
    """How one candidate is answered: its probability per state now, the states it can take,
    the one worked out from the others (the most probable) and the ones queried."""

    variable: str
    p: np.ndarray
    index: list[int]
    derived: int
    queried: list[int]


def _plan(engine: Engine, q: str, p: np.ndarray, outcomes: Sequence[str] | None) -> _Plan:
    """Every answer of ``q`` but its most probable one is queried: that one follows from
    P(T|E) = sum_s P(s|E) P(T|E,s) (an answer outside ``outcomes`` leaves P(T|E) as it is),
    and dividing by the largest P(s|E) keeps rounding harmless."""
    index = [engine.states[q].index(s) for s in (outcomes or engine.states[q])]
    derived = max(index, key=lambda k: p[k])
    return _Plan(q, p, index, derived, [k for k in index if k != derived])


def _values(
    engine: Engine, plans: list[_Plan], queried_after: np.ndarray, now: _Now
) -> list[QuestionValue]:
    """Information gain and largest changes of every candidate from its queried answers'
    posteriors (``queried_after``: their rows, candidate after candidate), all candidates
    at once: each candidate's answers along one axis, in the order it may take them, padded
    to the most answers any has (a loop of a dozen small numpy calls per candidate cost 2 to 3
    ms a refresh)."""
    n, width, labels = len(plans), max((len(p.index) for p in plans), default=0), len(now.labels)
    before = now.before
    p = np.zeros((n, width))  # P(answer | evidence), for the answers each candidate may take
    after = np.full((n, width, labels), np.nan)  # the targets' states after each answer
    queried = np.zeros((n, width), dtype=bool)
    derived = np.zeros(n, dtype=np.int64)  # where the answer worked out from the others is
    outside = np.zeros(n)  # the probability of answers a candidate cannot take
    first = 0
    for i, plan in enumerate(plans):
        at = {k: a for a, k in enumerate(plan.index)}
        p[i, : len(plan.index)] = plan.p[plan.index]
        for row, k in enumerate(plan.queried):
            after[i, at[k]] = queried_after[first + row]
            queried[i, at[k]] = True
        first += len(plan.queried)
        derived[i] = at[plan.derived]
        cannot = [k for k in range(len(plan.p)) if k not in at]
        outside[i] = plan.p[cannot].sum() if cannot else 0.0
    # P(T|E) = sum over answers s of P(s|E) P(T|E,s): the derived answer's row from the rest
    rest = before * outside[:, None] + np.where(queried[..., None], p[..., None] * after, 0.0).sum(
        axis=1
    )
    mine = p[np.arange(n), derived]
    with np.errstate(divide="ignore", invalid="ignore"):
        after[np.arange(n), derived] = np.where(
            mine[:, None] > 0, (before - rest) / mine[:, None], np.nan
        )
    live = (p > 0) & np.isfinite(after).all(axis=-1)
    weights = np.where(live, p, 0.0)
    total = weights.sum(axis=1)
    entropy = np.where(live, _summed_entropy(np.where(live[..., None], after, 0.0)), 0.0)
    with np.errstate(invalid="ignore"):
        gain = now.entropy - (weights * entropy).sum(axis=1) / total
    change = np.where(live[..., None] & now.counts, after - before, 0.0)
    size = np.abs(change)
    top = now.top
    values = []
    for i, plan in enumerate(plans):
        if total[i] <= 0:
            values.append(QuestionValue(plan.variable, 0.0, 0.0, None, 0.0))
            continue
        largest = float(size[i].max())
        detail = None
        if largest > 0:
            a, j = np.unravel_index(size[i].argmax(), size[i].shape)
            answer = engine.states[plan.variable][plan.index[a]]
            detail = Change(answer, *now.labels[j], float(before[j]), float(after[i, a, j]))
        values.append(
            QuestionValue(
                variable=plan.variable,
                info_gain=max(float(gain[i]), 0.0),
                max_change=largest,
                max_change_detail=detail,
                top_change=float(size[i, :, top].max()),
            )
        )
    return values


def _summed_entropy(rows: np.ndarray) -> np.ndarray:
    """Sum over targets of each target's entropy (bits), for rows of concatenated marginals."""
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(rows > 0, -rows * np.log2(rows), 0.0)
    return terms.sum(axis=-1)

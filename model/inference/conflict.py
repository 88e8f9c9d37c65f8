"""Answers that contradict each other: the conflict measure of Jensen, Chamberlain,
Nordahl and Jensen (1990).

``conf(e) = log(P(e_1) ... P(e_n) / P(e))``: the log of how much likelier the answers are one by
one than together. Answers the model expects together (two features of one cause) make it
negative; answers it thinks unrelated give zero; a positive value means the model finds them
surprising together: a mistyped answer, or a case outside what the model knows. It is not
impossibility (``P(e) = 0``), which stays an :class:`~model.errors.ImpossibleEvidenceError`.
Natural logs; ``exp(value)`` is the factor by which the answers are less likely together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from model.errors import ImpossibleEvidenceError
from model.inference.engine import Engine

TOLERANCE = 1e-9  # the engine is exact to about 1e-15: a conflict below this is rounding


@dataclass(frozen=True)
class Conflict:
    """Jensen's conflict of all the answers (``value``), and the answers that conflict most:
    the pair with the largest positive conflict (a pair is what a person can check first),
    else, when all of them conflict but no pair does, a smallest set whose conflict is
    positive (no answer of it can be dropped), else none. ``answers_value`` is their
    conflict (0 when there are none)."""

    value: float
    answers: tuple[str, ...] = ()
    answers_value: float = 0.0

    @property
    def positive(self) -> bool:
        """Whether some answers are less likely together than apart."""
        return bool(self.answers)

    def to_dict(self) -> dict:
        return {
            "value": self.value,
            "answers": list(self.answers),
            "answers_value": self.answers_value,
        }


def measure_conflict(
    engine: Engine,
    evidence: Mapping[str, str],
    soft: Mapping[str, Mapping[str, float]] | None = None,
    do: Mapping[str, str] | None = None,
) -> Conflict:
    """The :class:`Conflict` of one case's answers (in the network with ``do`` set by
    intervention). Raise an :class:`ImpossibleEvidenceError` if the answers are impossible.

    A pair's conflict is ``log P(e_j) - log P(e_j | e_i)``, so every pair comes from one
    query per answer (the marginals of all the others given it), not one per pair: ``n + 1``
    single queries in all, none of which compiles anything new on the engine's calibrated
    tree.
    """
    row = {**evidence, **(soft or {})}
    names = list(row)
    if len(names) < 2:
        return Conflict(0.0)
    _, log_z = engine.query([], [row], do)
    if not np.isfinite(log_z[0]):
        raise ImpossibleEvidenceError(engine.conflict(row, do))
    prior, _ = engine.query(names, [{}], do)
    alone = np.array([_log_answer(engine, prior, v, row[v]) for v in names])
    value = float(alone.sum() - log_z[0])
    best, best_pair = -np.inf, None
    for i, given in enumerate(names[:-1]):
        later = names[i + 1 :]
        after, _ = engine.query(later, [{given: row[given]}], do)
        for j, v in enumerate(later, start=i + 1):
            pair = float(alone[j] - _log_answer(engine, after, v, row[v]))
            if pair > best:
                best, best_pair = pair, (given, v)
    if best > TOLERANCE:
        return Conflict(value, best_pair, best)
    if value <= TOLERANCE:
        return Conflict(value)
    keep, kept_value = _smallest(engine, row, dict(zip(names, alone, strict=True)), value, do)
    return Conflict(value, keep, kept_value)


def _log_answer(
    engine: Engine, marginals: Mapping[str, np.ndarray], variable: str, answer: object
) -> float:
    """``log P(answer)`` under one query's ``marginals``: a hard answer's probability, or a
    soft one's likelihoods (as given) summed over the marginal."""
    states = engine.states[variable]
    if isinstance(answer, str):
        likelihood = np.eye(len(states))[states.index(answer)]
    else:
        likelihood = np.array([float(answer[s]) for s in states])
    with np.errstate(divide="ignore"):
        return float(np.log(marginals[variable][0] @ likelihood))


def _smallest(
    engine: Engine, row: dict, alone: dict[str, float], value: float, do
) -> tuple[tuple[str, ...], float]:
    """Drop each answer whose leaving keeps the conflict positive: what is left is a set of
    answers each of which the conflict needs, and its conflict."""
    keep = list(row)
    for name in list(keep):
        rest = [v for v in keep if v != name]
        if len(rest) < 3:  # no pair conflicts, so no set of two can
            continue
        _, log_z = engine.query([], [{v: row[v] for v in rest}], do)
        rest_value = float(sum(alone[v] for v in rest) - log_z[0])
        if rest_value > TOLERANCE:
            keep, value = rest, rest_value
    return tuple(keep), value

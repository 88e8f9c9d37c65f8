"""How soft the numbers are: posteriors over parameter sets drawn from the priors.

The priors' ``confidence`` values become Beta / Dirichlet distributions over every parameter
(:mod:`model.knowledge.draws`); the engine answers the same evidence under all K draws in one
batched pass (:func:`drawn_posteriors`). Two readings are built on those K posteriors, never on a
second query: the central ``level`` interval of each state (:func:`intervals_of`) and, for a set
of candidate states, the share of draws in which each is the most probable of them
(:func:`rank_first`). Seeded: the same seed gives the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from model.errors import ImpossibleEvidenceError
from model.inference.engine import Engine

LEVEL = 0.9


@dataclass(frozen=True)
class DrawnPosteriors:
    """The posteriors of some targets under every parameter draw of an engine.

    ``marginals[v]`` has shape ``(draws, n_states)`` (NaN rows where the evidence is
    impossible under that draw); ``possible[k]`` says whether draw ``k`` gives the evidence a
    positive probability; ``states[v]`` names the columns.
    """

    states: dict[str, list[str]]
    marginals: dict[str, np.ndarray]
    possible: np.ndarray

    @property
    def draws(self) -> int:
        return int(self.possible.shape[0])


def drawn_posteriors(
    drawn: Engine,
    targets: list[str],
    evidence: Mapping[str, str],
    soft: Mapping[str, Mapping[str, float]] | None = None,
    *,
    do: Mapping[str, str] | None = None,
) -> DrawnPosteriors:
    """The marginal of each target under every draw of ``drawn``, an engine whose tables carry a
    leading axis of parameter sets (for the cramp model:
    :meth:`model.diagnosis.crampmodel.CrampModel.drawn`), from one batched query.

    Raises ``ImpossibleEvidenceError`` when no draw gives the evidence a positive probability.
    """
    if not drawn.draws:
        raise ValueError("drawn posteriors need an engine over drawn parameter sets")
    row = {**evidence, **(soft or {})}
    marginals, log_z = drawn.query(list(targets), [row], do)
    possible = np.isfinite(log_z)
    if not possible.any():
        raise ImpossibleEvidenceError(drawn.conflict(row, do))
    return DrawnPosteriors(
        states={v: list(drawn.states[v]) for v in targets},
        marginals={v: marginals[v] for v in targets},
        possible=possible,
    )


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"The 'level' parameter must lie in (0, 1). Got {level!r}.")


def intervals_of(
    posteriors: DrawnPosteriors, level: float = LEVEL
) -> dict[str, dict[str, dict[str, float]]]:
    """``{var: {state: {"low", "high", "mean"}}}``: the central ``level`` interval and the mean
    of each state's posterior over the draws where the evidence is possible."""
    _check_level(level)
    tail = (1.0 - level) / 2.0
    out = {}
    for v, states in posteriors.states.items():
        samples = posteriors.marginals[v][posteriors.possible]
        low, high = np.quantile(samples, [tail, 1.0 - tail], axis=0)
        mean = samples.mean(axis=0)
        out[v] = {
            s: {"low": float(low[k]), "high": float(high[k]), "mean": float(mean[k])}
            for k, s in enumerate(states)
        }
    return out


def rank_first(
    posteriors: DrawnPosteriors, candidates: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], float]:
    """For each candidate ``(variable, state)``: the share of the draws where the evidence is
    possible in which its posterior is the highest among the candidates'.

    A tie counts for the candidate listed first. The shares sum to one (to float rounding)
    whenever there is a candidate; the keys follow ``candidates``.
    """
    candidates = list(candidates)
    if len(set(candidates)) != len(candidates):
        twice = sorted({c for c in candidates if candidates.count(c) > 1})
        raise ValueError(f"The 'candidates' parameter lists {twice} more than once.")
    for variable, state in candidates:
        if variable not in posteriors.states:
            raise ValueError(
                f"The candidate {variable!r} is not among the targets {sorted(posteriors.states)}."
            )
        if state not in posteriors.states[variable]:
            raise ValueError(
                f"The candidate {variable}={state!r} is not a state of {variable}; valid states: "
                f"{posteriors.states[variable]}."
            )
    if not candidates:
        return {}
    live = posteriors.possible
    columns = np.stack(
        [posteriors.marginals[v][live, posteriors.states[v].index(s)] for v, s in candidates],
        axis=1,
    )
    wins = np.bincount(np.argmax(columns, axis=1), minlength=len(candidates))
    return {c: float(n) / float(live.sum()) for c, n in zip(candidates, wins, strict=True)}


def posterior_intervals(
    drawn: Engine,
    targets: list[str],
    evidence: Mapping[str, str],
    soft: Mapping[str, Mapping[str, float]] | None = None,
    *,
    do: Mapping[str, str] | None = None,
    level: float = LEVEL,
) -> dict[str, dict[str, dict[str, float]]]:
    """``{var: {state: {"low", "high", "mean"}}}``: the central interval over the draws of
    ``drawn`` (:func:`drawn_posteriors`, then :func:`intervals_of`)."""
    _check_level(level)
    return intervals_of(drawn_posteriors(drawn, targets, evidence, soft, do=do), level)

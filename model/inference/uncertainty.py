"""How soft the numbers are: posterior intervals over parameter sets drawn from the priors.

The priors' ``confidence`` values become Beta / Dirichlet distributions over every parameter
(:mod:`model.knowledge.draws`); the engine answers the same evidence under all K draws in one
batched pass, and the interval is the central ``level`` range of the K posteriors. Seeded: the same
seed gives the same intervals.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from model.errors import ImpossibleEvidenceError
from model.inference.engine import Engine

LEVEL = 0.9


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
    ``drawn``, an engine whose tables carry a leading axis of parameter sets (for the cramp
    model: :meth:`model.diagnosis.crampmodel.CrampModel.drawn`)."""
    if not drawn.draws:
        raise ValueError("posterior intervals need an engine over drawn parameter sets")
    if not 0 < level < 1:
        raise ValueError(f"The 'level' parameter must lie in (0, 1). Got {level!r}.")
    row = {**evidence, **(soft or {})}
    marginals, log_z = drawn.query(list(targets), [row], do)
    possible = np.isfinite(log_z)
    if not possible.any():
        raise ImpossibleEvidenceError(drawn.conflict(row, do))
    tail = (1.0 - level) / 2.0
    out = {}
    for v in targets:
        samples = marginals[v][possible]
        low, high = np.quantile(samples, [tail, 1.0 - tail], axis=0)
        mean = samples.mean(axis=0)
        out[v] = {
            s: {"low": float(low[k]), "high": float(high[k]), "mean": float(mean[k])}
            for k, s in enumerate(drawn.states[v])
        }
    return out

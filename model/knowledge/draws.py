"""Parameter uncertainty: draw whole sets of tables from the priors' ``confidence``.

Each noisy-OR link strength, leak, interaction or uninformative constant with stated value
``p`` and confidence ``n`` (an equivalent sample size) is drawn from Beta(n p, n (1 - p)); each
full-table row from Dirichlet(n * probs); deterministic definitions are not drawn. Values of
exactly 0 or 1 stay fixed (a Beta needs both shapes positive). The mean of each draw equals the
stated number, so the mean posterior approaches the point posterior as knowledge firms up.
"""

from __future__ import annotations

import numpy as np

from model.knowledge.cpt import expand
from model.knowledge.priors import Priors
from model.knowledge.schema import Param, Row

DRAWS = 1000  # parameter sets drawn for a posterior interval, unless a caller asks otherwise


def _beta(rng: np.random.Generator, param: Param, k: int) -> np.ndarray:
    p, n = param.p, param.confidence
    if p <= 0.0 or p >= 1.0 or not np.isfinite(n):
        return np.full(k, p)
    return rng.beta(n * p, n * (1.0 - p), size=k)


def _dirichlet(rng: np.random.Generator, row: Row, k: int) -> np.ndarray:
    probs = np.asarray(list(row.probs.values()), dtype=float)
    out = np.zeros((k, len(probs)))
    live = probs > 0
    if live.sum() == 1 or not np.isfinite(row.confidence):
        out[:, live] = probs[live]
    else:
        out[:, live] = rng.dirichlet(row.confidence * probs[live], size=k)
    return out


def draw_tables(priors: Priors, k: int = DRAWS, seed: int = 0) -> dict[str, np.ndarray]:
    """``k`` tables per node, shape ``(k, n_states, *parent cardinalities)``, reproducible."""
    rng = np.random.default_rng(seed)
    states = priors.states

    def value(param: Param | Row) -> np.ndarray:
        return _beta(rng, param, k) if isinstance(param, Param) else _dirichlet(rng, param, k)

    tables = {}
    for node_id, spec in priors.nodes.items():
        table = expand(spec, states, value)
        tables[node_id] = np.broadcast_to(table, (k, *table.shape[-1 - len(spec.parents) :]))
    return tables

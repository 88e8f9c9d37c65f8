"""Forward sampling: whole cases drawn from the model's own tables.

Used wherever a cohort is simulated (the benchmark's evidence sets, generated case files,
calibration on simulated cohorts). Sampling runs in topological order, one vectorised draw
per node, so a million cases take seconds; every node's state is kept, causes included, and
callers decide which ones to reveal.
"""

from __future__ import annotations

import graphlib
from collections.abc import Mapping

import numpy as np
import pandas as pd

from model.knowledge.network import node_tables
from model.knowledge.priors import Priors


def topological_order(priors: Priors) -> list[str]:
    """The node ids, every parent before its children (``load_priors`` has refused cycles)."""
    graph = {n: spec.parents for n, spec in priors.nodes.items()}
    return list(graphlib.TopologicalSorter(graph).static_order())


def sample_codes(
    priors: Priors,
    n: int,
    seed: int = 0,
    tables: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """``n`` joint samples as state indices per node (``int16`` arrays of length ``n``).

    ``tables`` replaces the point tables (e.g. one set of parameters drawn from the priors'
    uncertainty, to simulate a "truth" other than the model).
    """
    rng = np.random.default_rng(seed)
    tables = tables if tables is not None else node_tables(priors)
    sampled: dict[str, np.ndarray] = {}
    for node in topological_order(priors):
        parents = priors.nodes[node].parents
        probs = np.asarray(tables[node])[(slice(None), *(sampled[p] for p in parents))]
        probs = np.broadcast_to(probs.reshape(probs.shape[0], -1), (probs.shape[0], n))
        cumulative = np.cumsum(probs, axis=0)
        u = rng.random(n) * cumulative[-1]
        sampled[node] = np.minimum((u[None, :] >= cumulative).sum(axis=0), probs.shape[0] - 1)
        sampled[node] = sampled[node].astype(np.int16)
    return sampled


def sample_cases(
    priors: Priors,
    n: int,
    seed: int = 0,
    tables: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """``n`` joint samples as a frame of state names, one column per node (categorical)."""
    codes = sample_codes(priors, n, seed, tables)
    return pd.DataFrame(
        {
            node: pd.Categorical.from_codes(codes[node], categories=priors.nodes[node].states)
            for node in priors.nodes
        }
    )

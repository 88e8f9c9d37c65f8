"""Build the pgmpy network from validated priors, and write it in formats other tools read.

pgmpy stays the model's representation: its ``check_model`` validates the built tables, its
writers give BIF and XMLBIF for GeNIe, Hugin, Netica or pyAgrum users, and its inference is
the reference the faster engine is tested against. pgmpy is imported when a network is first
built (importing it takes over a second, which a command that only scores cases need not pay).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from model.knowledge.cpt import expand
from model.knowledge.priors import Priors

if TYPE_CHECKING:
    from pgmpy.models import DiscreteBayesianNetwork

EXPORT_FORMATS = ("bif", "xmlbif")


def node_tables(priors: Priors) -> dict[str, np.ndarray]:
    """Every node's full table, shape ``(n_states, *parent cardinalities)``, point estimates."""
    states = {n: spec.states for n, spec in priors.nodes.items()}
    return {n: expand(spec, states) for n, spec in priors.nodes.items()}


def build_network(priors: Priors) -> DiscreteBayesianNetwork:
    """A checked pgmpy ``DiscreteBayesianNetwork`` with one ``TabularCPD`` per node."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        from pgmpy.factors.discrete import TabularCPD
        from pgmpy.models import DiscreteBayesianNetwork

    network = DiscreteBayesianNetwork()
    network.add_nodes_from(priors.nodes)
    network.add_edges_from((p, n) for n, spec in priors.nodes.items() for p in spec.parents)
    for node_id, table in node_tables(priors).items():
        spec = priors.nodes[node_id]
        network.add_cpds(
            TabularCPD(
                variable=node_id,
                variable_card=len(spec.states),
                values=table.reshape(len(spec.states), -1),
                evidence=spec.parents or None,
                evidence_card=[len(priors.nodes[p].states) for p in spec.parents] or None,
                state_names={
                    node_id: spec.states,
                    **{p: priors.nodes[p].states for p in spec.parents},
                },
            )
        )
    network.check_model()
    return network


def export_network(network: DiscreteBayesianNetwork, path: str | os.PathLike, fmt: str) -> Path:
    """Write the network as BIF or XMLBIF; ``fmt`` is one of :data:`EXPORT_FORMATS`."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"The 'format' must be one of {EXPORT_FORMATS}. Got {fmt!r}.")
    path = Path(path)
    network.save(str(path), filetype=fmt)
    return path

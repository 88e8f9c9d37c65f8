"""The numbers of the priors that data can change, by key path: what learning updates, what
sensitivity analysis varies and what the writer puts back in place.

Every free probability is a :class:`Param` (one number) or a :class:`Row` (a distribution);
each keeps its provenance and confidence in the priors files.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from model.knowledge.cpt import expand
from model.knowledge.priors import Priors
from model.knowledge.schema import NoisyOrCPD, Param, Row, TableCPD

Key = tuple  # (node id, *key path inside the node's cpd), e.g. ("calcium", "leak", "low")
Value = float | np.ndarray  # a probability, or a row's probabilities in its ``probs`` order


def learnable(priors: Priors) -> dict[Key, Param | Row]:
    """Every number EM can update, by key path, in priors order (deterministic nodes have
    none). Keys follow the YAML: ``(node, "rows", i)``, ``(node, "leak", state)``, ``(node,
    "links", parent, parent_state, state)``, ``(node, "interactions", i, "towards", state)``,
    ``(node, "uninformative")``."""
    out: dict[Key, Param | Row] = {}
    for node_id, node in priors.nodes.items():
        cpd = node.cpd
        if isinstance(cpd, TableCPD):
            out.update({(node_id, "rows", i): row for i, row in enumerate(cpd.rows)})
        elif isinstance(cpd, NoisyOrCPD):
            out.update({(node_id, "leak", s): p for s, p in cpd.leak.items()})
            for parent, by_state in cpd.links.items():
                for ps, towards in by_state.items():
                    out.update({(node_id, "links", parent, ps, s): p for s, p in towards.items()})
            for i, inter in enumerate(cpd.interactions):
                out.update(
                    {
                        (node_id, "interactions", i, "towards", s): p
                        for s, p in inter.towards.items()
                    }
                )
            if cpd.uninformative is not None:
                out[(node_id, "uninformative")] = cpd.uninformative
    return out


def prior_values(priors: Priors) -> dict[Key, Value]:
    """The stated numbers: a float per Param, an array (in ``probs`` key order) per row."""
    return {k: stated_value(v) for k, v in learnable(priors).items()}


def stated_value(item: Param | Row) -> Value:
    return item.p if isinstance(item, Param) else np.asarray(list(item.probs.values()), float)


def node_tables_for(priors: Priors, values: Mapping[Key, Value]) -> dict[str, np.ndarray]:
    """Every node's full table with ``values`` in place of the stated numbers."""
    states = {n: spec.states for n, spec in priors.nodes.items()}
    return {
        n: expand(spec, states, value_hook(priors, n, lambda key, _: values[key]))
        for n, spec in priors.nodes.items()
    }


def value_hook(priors: Priors, node_id: str, value: Callable[[Key, Param | Row], Value]):
    """A :func:`model.knowledge.cpt.expand` value hook that looks each Param / Row up by its key."""
    keys = {id(item): key for key, item in learnable(priors).items() if key[0] == node_id}
    return lambda item: value(keys[id(item)], item)

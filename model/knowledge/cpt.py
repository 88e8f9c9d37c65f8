"""Expand the compact parameterisations of ``priors/`` into full conditional tables.

Pure functions of a node's spec and its parents' states. A ``value`` hook maps each
:class:`~model.knowledge.schema.Param` (or table row) to a number, or to an array of K numbers: the
expansion then returns K tables at once along a leading axis, which is how parameter
uncertainty is drawn in one pass. With the default hook the tables are the point estimates.

Noisy-OR semantics (leaky, Henrion's form): each active parent state independently fires the
child towards an active state with its link strength; an interaction term fires only when all
its parent states hold together; the leak fires on its own. Nothing firing leaves the child in
its ``off`` state. When several active states fire at once (only for multi-state children such
as calcium low/high), the child takes one of them with equal chance. An ``uninformative`` state
(a trial not tried) gets the same probability in every column, so observing it moves nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np

from model.knowledge.schema import DeterministicCPD, Node, NoisyOrCPD, Param, Row, TableCPD

ValueHook = Callable[[Param | Row], "float | np.ndarray"]


def point_value(param: Param | Row) -> float | np.ndarray:
    """The stated number (a probability, or a row's probabilities in state order)."""
    return param.p if isinstance(param, Param) else np.asarray(list(param.probs.values()))


def active_states(node: Node) -> list[str]:
    """The states a noisy-OR node can be pushed towards, in the node's state order."""
    cpd = node.cpd
    assert isinstance(cpd, NoisyOrCPD)
    pushed = set(cpd.leak)
    pushed |= {s for by_state in cpd.links.values() for t in by_state.values() for s in t}
    pushed |= {s for inter in cpd.interactions for s in inter.towards}
    return [s for s in node.states if s in pushed]


def expand(
    node: Node, parent_states: dict[str, list[str]], value: ValueHook = point_value
) -> np.ndarray:
    """The node's full table, shape ``(*batch, n_states, *parent cardinalities)``."""
    cpd = node.cpd
    cards = tuple(len(parent_states[p]) for p in node.parents)
    if isinstance(cpd, NoisyOrCPD):
        return _noisy_or(node, cpd, parent_states, cards, value)
    if isinstance(cpd, TableCPD):
        return _table(node, cpd, parent_states, cards, value)
    return _deterministic(node, cpd, parent_states, cards)


def _grid_index(node: Node, when: dict[str, str], parent_states: dict[str, list[str]]) -> tuple:
    return tuple(parent_states[p].index(when[p]) for p in node.parents)


def _table(node, cpd: TableCPD, parent_states, cards, value) -> np.ndarray:
    columns = {}
    for row in cpd.rows:
        v = np.asarray(value(row), dtype=float)
        if v.shape[-1] != len(node.states):  # a row's probs may be keyed in another order
            raise ValueError(f"{node.label}: row has {v.shape[-1]} probabilities")
        order = [list(row.probs).index(s) for s in node.states]
        columns[_grid_index(node, row.when, parent_states)] = v[..., order]
    batch = np.broadcast_shapes(*(c.shape[:-1] for c in columns.values()))
    out = np.empty((*batch, len(node.states), *cards))
    for index, column in columns.items():
        out[(Ellipsis, slice(None), *index)] = column
    return out


def _deterministic(node, cpd: DeterministicCPD, parent_states, cards) -> np.ndarray:
    out = np.zeros((len(node.states), *cards))
    for case in cpd.cases:
        out[(node.states.index(case.state), *_grid_index(node, case.when, parent_states))] = 1.0
    return out


def _along(vector: np.ndarray, axis: int, n_axes: int) -> np.ndarray:
    """Reshape ``(*batch, card)`` so the last axis lies on parent axis ``axis`` of ``n_axes``."""
    shape = [1] * n_axes
    shape[axis] = vector.shape[-1]
    return vector.reshape(*vector.shape[:-1], *shape)


def _noisy_or(node, cpd: NoisyOrCPD, parent_states, cards, value) -> np.ndarray:
    """Each active state fires unless the leak and every active link fail: the log of the
    chance that all fail is summed (``log1p``) and the chance that one fires is
    ``-expm1`` of it, so that tiny probabilities keep their digits (``1 - (1 - p)(1 - q)``
    would lose them: with p = q = 1e-6 about five)."""
    n = len(cards)
    log_fail: dict[str, np.ndarray] = {}

    def log_miss(p) -> np.ndarray:
        with np.errstate(divide="ignore"):  # a certain link: log 0 = -inf, it never fails
            return np.log1p(-np.asarray(value(p), dtype=float))

    for state in active_states(node):
        leak = cpd.leak.get(state)
        f = log_miss(leak) if leak is not None else np.asarray(0.0)
        f = f.reshape(f.shape + (1,) * n)
        for axis, parent in enumerate(node.parents):
            links = cpd.links.get(parent, {})
            terms = [
                log_miss(links[ps][state]) if state in links.get(ps, {}) else np.asarray(0.0)
                for ps in parent_states[parent]
            ]
            f = f + _along(np.stack(np.broadcast_arrays(*terms), axis=-1), axis, n)
        for inter in cpd.interactions:
            if state not in inter.towards:
                continue
            mask = np.ones(cards, dtype=bool)
            for axis, parent in enumerate(node.parents):
                if parent in inter.when:
                    hit = np.array([s == inter.when[parent] for s in parent_states[parent]])
                    mask = mask & _along(hit, axis, n)
            strength = log_miss(inter.towards[state])
            f = f + np.where(mask, strength.reshape(strength.shape + (1,) * n), 0.0)
        log_fail[state] = f
    batch = np.broadcast_shapes(*(f.shape[:-n] if n else f.shape for f in log_fail.values()))
    out = np.zeros((*batch, len(node.states), *cards))
    active = list(log_fail)
    for fired in itertools.product((False, True), repeat=len(active)):
        weight = np.ones((*batch, *cards))
        for state, on in zip(active, fired, strict=True):
            f = log_fail[state]
            weight = weight * (-np.expm1(f) if on else np.exp(f))
        chosen = [s for s, on in zip(active, fired, strict=True) if on] or [cpd.off_state]
        for state in chosen:
            out[..., node.states.index(state), *([slice(None)] * n)] += weight / len(chosen)
    if cpd.uninformative is not None:
        constant = np.asarray(value(cpd.uninformative), dtype=float)
        constant = constant.reshape(constant.shape + (1,) * n)
        out = out * (1.0 - constant[..., None, *([slice(None)] * n)])
        out[..., node.states.index(cpd.uninformative.state), *([slice(None)] * n)] = constant
    return out

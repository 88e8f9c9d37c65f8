"""One node in two worlds: the joint table of its factual and counterfactual values.

A counterfactual ("had calcium been normal, would the night cramps have stopped?") needs more
than a node's table: it needs *how* the node makes its value, so that what happened in fact
(the noise) carries over to the world where a parent was changed. Each kind of table in
``priors/`` reads as a structural causal model with its own noise, shared by both worlds:

- **noisy-OR** (the model's links): one activation variable per source and pushed state (the
  leak, each parent, each interaction). A parent's activation is a uniform draw that fires when
  it falls below the strength of the link from the parent's *current* state, so a stronger push
  fires whenever a weaker one would; with no link it never fires. When several pushed states
  fire, one uniform draw picks among them in state order; an ``uninformative`` state (a trial
  not tried) is a draw of its own that overrides the rest. This is the activation (inhibitor)
  reading of noisy-OR that Richens, Lee and Johri (2020) use, so switching a cause off removes
  exactly the activations that came from it;
- **deterministic**: no noise; the value follows the parents in each world;
- **full table**: one uniform draw read through the table's cumulative distribution in state
  order (the monotone, "comonotone" coupling). A full table says nothing about its mechanism;
  this is the choice that keeps counterfactuals of yes/no nodes within the bounds of
  monotonicity. Our priors use full tables only for roots, which no counterfactual changes.

:func:`joint` gives ``P(X = x, X' = x' | parents in fact, parents in the other world)``;
:func:`twin_table` turns it into the counterfactual node's table. Pure functions of a node's
spec, like :mod:`model.knowledge.cpt`, whose tables they reproduce as the factual margin.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from fractions import Fraction

import numpy as np

from model.knowledge.cpt import active_states, expand, point_value
from model.knowledge.schema import DeterministicCPD, Node, NoisyOrCPD


def joint(
    node: Node,
    parent_states: Mapping[str, list[str]],
    changed: list[str],
    acting: set[str] | None = None,
    fixed: Mapping[str, str] | None = None,
) -> np.ndarray:
    """``P(X = x, X' = x' | pa, pa')``, shape ``(n, n, *parent cards, *changed cards)``.

    ``changed`` lists the parents whose counterfactual value may differ from the factual one
    (each gets a second axis, in that order, after the factual parents); ``fixed`` gives the
    parents whose counterfactual value is set (no axis: the table of a set parent would be
    all but one of its columns wasted); every other parent has the same value in both worlds.
    ``acting``, when given, silences the rest in the other world: the leak and the links (and
    interactions) of every parent not in ``acting`` never fire there, as if every other cause
    had been switched off. It does not change what a definition or a full table computes.
    """
    cards = [len(parent_states[p]) for p in node.parents]
    extra = [len(parent_states[p]) for p in changed]
    grid = (*cards, *extra)
    # for each parent, the axis of its factual value and the axis of its counterfactual one
    axes = {p: (i, i) for i, p in enumerate(node.parents)}
    for j, p in enumerate(changed):
        axes[p] = (axes[p][0], len(cards) + j)
    for p, state in (fixed or {}).items():  # a set value: a negative "axis", -(index + 1)
        axes[p] = (axes[p][0], -1 - list(parent_states[p]).index(state))
    cpd = node.cpd
    if isinstance(cpd, NoisyOrCPD):
        return _noisy_or(node, cpd, parent_states, grid, axes, acting)
    if isinstance(cpd, DeterministicCPD):
        return _deterministic(node, cpd, parent_states, grid, axes)
    return _comonotone(node, parent_states, grid, axes)


def twin_table(
    node: Node,
    parent_states: Mapping[str, list[str]],
    changed: list[str],
    acting: set[str] | None = None,
    fixed: Mapping[str, str] | None = None,
) -> np.ndarray:
    """The counterfactual node's table ``P(X' | X, pa, pa')``: shape ``(n, n, *parent cards,
    *changed cards)``, parents in that order (its factual self first). Where the factual value
    is impossible under ``pa`` the column is the identity (never reached, but a valid table)."""
    both = joint(node, parent_states, changed, acting, fixed)
    factual = both.sum(axis=1, keepdims=True)
    n = len(node.states)
    identity = np.eye(n).reshape(n, n, *([1] * (both.ndim - 2)))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(factual > 0, both / np.where(factual > 0, factual, 1.0), identity)
    return np.moveaxis(out, 1, 0)  # (x', x, ...)


def _on(vector: np.ndarray, axis: int, n_axes: int) -> np.ndarray:
    shape = [1] * n_axes
    shape[axis] = vector.shape[0]
    return vector.reshape(shape)


def _worlds(values: np.ndarray, parent: str, axes, n_axes: int) -> tuple[np.ndarray, np.ndarray]:
    """A per-state vector of ``parent`` laid on its factual and its counterfactual axis (or,
    for a set counterfactual value, that value's entry)."""
    fact, other = axes[parent]
    if other < 0:
        return _on(values, fact, n_axes), np.asarray(values[-1 - other]).reshape([1] * n_axes)
    return _on(values, fact, n_axes), _on(values, other, n_axes)


def _noisy_or(node: Node, cpd: NoisyOrCPD, parent_states, grid, axes, acting) -> np.ndarray:
    n_axes = len(grid)
    active = active_states(node)
    fire = {}  # per pushed state: P(fires in fact, fires in the other world), 2 x 2 x grid
    for state in active:
        leak = cpd.leak[state].p if state in cpd.leak else 0.0
        leak_other = leak if acting is None else 0.0
        both = np.full(grid, 1.0 - max(leak, leak_other))
        fact, other = np.full(grid, 1.0 - leak), np.full(grid, 1.0 - leak_other)
        for parent in node.parents:
            links = cpd.links.get(parent, {})
            strength = np.array(
                [
                    links[ps][state].p if state in links.get(ps, {}) else 0.0
                    for ps in parent_states[parent]
                ]
            )
            f, o = _worlds(strength, parent, axes, n_axes)
            if acting is not None and parent not in acting:
                o = np.zeros_like(o)
            both = both * (1.0 - np.maximum(f, o))  # one shared draw: fails both if above both
            fact, other = fact * (1.0 - f), other * (1.0 - o)
        for inter in cpd.interactions:
            if state not in inter.towards:
                continue
            f_mask, o_mask = np.ones(grid, dtype=bool), np.ones(grid, dtype=bool)
            for parent, wanted in inter.when.items():
                hit = np.array([s == wanted for s in parent_states[parent]])
                f, o = _worlds(hit, parent, axes, n_axes)
                f_mask, o_mask = f_mask & f, o_mask & o
            if acting is not None and not set(inter.when) <= acting:
                o_mask = np.zeros_like(o_mask)
            s = inter.towards[state].p
            both = both * (1.0 - s * (f_mask | o_mask))
            fact, other = fact * (1.0 - s * f_mask), other * (1.0 - s * o_mask)
        fire[state] = np.stack(
            [
                np.stack([both, fact - both]),  # not fired in fact: not / fired in the other
                np.stack([other - both, 1.0 - fact - other + both]),  # fired in fact
            ]
        )
    n = len(node.states)
    out = np.zeros((n, n, *grid))
    for pattern in itertools.product((0, 1), repeat=2 * len(active)):
        weight = np.ones(grid)
        for k, state in enumerate(active):
            weight = weight * fire[state][pattern[2 * k], pattern[2 * k + 1]]
        fired = [s for k, s in enumerate(active) if pattern[2 * k]] or [cpd.off_state]
        fired_other = [s for k, s in enumerate(active) if pattern[2 * k + 1]] or [cpd.off_state]
        for (x, x2), share in _choices(fired, fired_other).items():
            out[node.states.index(x), node.states.index(x2)] += weight * share
    if cpd.uninformative is not None:
        c = cpd.uninformative.p
        u = node.states.index(cpd.uninformative.state)
        out = out * (1.0 - c)
        out[u, u] += c
    return out


def _choices(fired: list[str], fired_other: list[str]) -> dict[tuple[str, str], float]:
    """One uniform draw picks among the fired states in each world: the share of ``[0, 1)``
    where it picks ``x`` in fact and ``x'`` in the other world (overlaps of equal slices)."""
    out: dict[tuple[str, str], float] = {}
    a, b = len(fired), len(fired_other)
    for i, x in enumerate(fired):
        for j, x2 in enumerate(fired_other):
            low = max(Fraction(i, a), Fraction(j, b))
            high = min(Fraction(i + 1, a), Fraction(j + 1, b))
            if high > low:
                out[(x, x2)] = out.get((x, x2), 0.0) + float(high - low)
    return out


def _deterministic(node: Node, cpd: DeterministicCPD, parent_states, grid, axes) -> np.ndarray:
    n_axes = len(grid)
    n = len(node.states)
    out = np.zeros((n, n, *grid))
    for case in cpd.cases:
        for case2 in cpd.cases:
            f_mask, o_mask = np.ones(grid, dtype=bool), np.ones(grid, dtype=bool)
            for parent in node.parents:
                f, _ = _worlds(
                    np.array([s == case.when[parent] for s in parent_states[parent]]),
                    parent,
                    axes,
                    n_axes,
                )
                _, o = _worlds(
                    np.array([s == case2.when[parent] for s in parent_states[parent]]),
                    parent,
                    axes,
                    n_axes,
                )
                f_mask, o_mask = f_mask & f, o_mask & o
            out[node.states.index(case.state), node.states.index(case2.state)] += f_mask & o_mask
    return out


def _comonotone(node: Node, parent_states, grid, axes) -> np.ndarray:
    """One uniform draw through both worlds' cumulative distributions (state order)."""
    table = expand(node, dict(parent_states), point_value)  # (n, *parent cards)
    index = np.indices(grid) if grid else np.zeros((0,), dtype=int)

    def read(world: int) -> np.ndarray:  # the table on one world's parent axes: (n, *grid)
        picked = tuple(
            index[axes[p][world]] if axes[p][world] >= 0 else np.full(grid, -1 - axes[p][world])
            for p in node.parents
        )
        return table[(slice(None), *picked)] if picked else table.reshape(-1, *[1] * len(grid))

    below_fact = np.cumsum(np.broadcast_to(read(0), (len(node.states), *grid)), axis=0)
    below_other = np.cumsum(np.broadcast_to(read(1), (len(node.states), *grid)), axis=0)
    cdf = np.minimum(below_fact[:, None], below_other[None, :])  # P(X <= i, X' <= j)
    cdf = np.pad(cdf, [(1, 0), (1, 0)] + [(0, 0)] * len(grid))
    return np.diff(np.diff(cdf, axis=0), axis=1)

"""Compiling one pattern of evidence, targets and interventions into a junction tree.

For each pattern the compiler

1. keeps only the ancestors of evidence and targets (barren nodes sum to one and drop out),
   with the incoming links of intervened variables cut (``do(X=x)``);
2. sums out cheap unobserved variables into their neighbours (an unanswered risk factor into
   the cause it feeds, the hidden left/right leg nodes into ``leg_cramp_side``): evidence-free
   work, its results kept and shared across patterns;
3. plans absorption steps: an answered variable held by one table (a finding at the edge),
   or by its prior and one child's table (an answered risk factor), is summed into that table
   at query time instead of joining the tree;
4. compiles a junction tree over what is left and multiplies each clique's tables once per
   set of answer values (:meth:`Structure.potentials`).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from model.errors import NetworkTooLargeError
from model.inference.junction import (
    JunctionTree,
    align,
    ancestral,
    clique_potentials,
    compile_tree,
)
from model.inference.kept import Kept

MAX_CLIQUE_BYTES = 2**30  # default refusal: a clique table (with its parameter draws) above 1 GB
FOLD_LIMIT = 16384  # largest table (entries per row) a pre-summing step may create (batches:
# the recipes of hidden nodes with parents recur across patterns and rows)
FOLD_CACHE_BYTES = 256 * 2**20
POTENTIALS_KEPT = 4  # per structure: the answer values seen most recently
POTENTIALS_MAX_BYTES = 64 * 2**20  # clique tables of one answer set bigger than this: not kept
SHARED_CHAIN_ENTRIES = 256  # a chain of absorption steps from a table this big runs once per
# distinct combination of its rows' answers (see Structure.absorb)
LAYOUTS_KEPT = 8  # per structure: batch layouts (by clique shapes and per-row factors)
TREES_KEPT = 512
RECIPES_KEPT = 2**18  # fold recipes numbered (each a short tuple)


@dataclass(eq=False)
class Structure:
    """A compiled junction tree for one pattern of evidence, targets and interventions.

    ``factors`` are the tables multiplied into the cliques (scopes ``scopes``). ``steps``
    absorb answers at query time: each sums one answered variable's likelihood (times its
    prior, for a risk factor) into a table, a source that is either one of the network's
    tables or the result of an earlier step. The factors the steps leave (``outputs``) are
    the tree's factors ``len(factors)`` onwards, each multiplied into its home clique.
    Keeps the clique tables of the :data:`POTENTIALS_KEPT` answer values seen last, and
    the :data:`LAYOUTS_KEPT` batch layouts used last (:meth:`layout`).
    """

    tree: JunctionTree
    scopes: list[tuple[str, ...]]
    factors: list[np.ndarray]
    steps: tuple = ()  # (variable, prior table or None, (kind, table or step index), scope)
    outputs: tuple = ()  # (scope, step index, home clique) of each factor the steps leave
    potentials_kept: OrderedDict = field(default_factory=OrderedDict, repr=False)
    layouts_kept: Kept = field(
        default_factory=lambda: Kept(LAYOUTS_KEPT, size_of=lambda layout: layout.nbytes),
        repr=False,
    )
    potentials_bytes: int = 0  # what the kept clique tables hold
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def absorb(
        self,
        likelihoods: dict[str, np.ndarray],
        keys: Mapping[str, np.ndarray] | None = None,
    ) -> list[tuple]:
        """Run the absorption steps: each answer's likelihood (times its prior, for a risk
        factor) summed into its table; returns the resulting factors with their cliques.

        ``keys[v]`` (optional) numbers each row's likelihood of ``v``. A chain of steps that
        starts from a table of at least :data:`SHARED_CHAIN_ENTRIES` entries then runs once
        per distinct combination of its rows' keys, not once per row: on our network the
        ten answered risk factors of calcium halve its 3,072-entry table in turn, a third of
        a batch's time, and a batch's rows answer them in a few hundred ways at most.
        """
        results: list[np.ndarray | None] = [None] * len(self.steps)
        for chain in self.chains:
            rows = _shared_rows(self, chain, likelihoods, keys)
            first, inverse = rows if rows is not None else (None, None)
            for k in chain:
                v, prior, (kind, ref), scope = self.steps[k]
                weight = likelihoods.pop(v)
                if first is not None and weight.ndim == 2:
                    weight = weight[first]
                if prior is not None:
                    weight = prior * weight
                results[k] = _absorb_step(
                    ref if kind == "table" else results[ref], scope, v, weight
                )
            if inverse is not None:
                results[chain[-1]] = results[chain[-1]][inverse]
        return [(scope, results[ref], home) for scope, ref, home in self.outputs]

    @cached_property
    def chains(self) -> tuple[tuple[int, ...], ...]:
        """The absorption steps as chains: each starts from a network table and goes on
        through the steps that take the result before (a result feeds one step at most)."""
        chains: list[list[int]] = []
        chain_of: dict[int, int] = {}
        for k, (_, _, (kind, ref), _) in enumerate(self.steps):
            if kind == "table":
                chain_of[k] = len(chains)
                chains.append([k])
            else:
                chain_of[k] = chain_of[ref]
                chains[chain_of[ref]].append(k)
        return tuple(map(tuple, chains))

    @property
    def nbytes(self) -> int:
        """What the kept clique tables and batch layouts hold."""
        return self.potentials_bytes + self.layouts_kept.nbytes

    def layout(self, key: tuple, build: Callable[[], object]) -> object:
        """The batch layout kept under ``key`` (:mod:`model.inference.batch_tree`), or
        ``build()``'s, kept (the :data:`LAYOUTS_KEPT` used last)."""
        return self.layouts_kept.get(key, build)

    def potentials(self, fixed: Mapping[str, int]) -> list[np.ndarray]:
        """Clique tables with each ``fixed`` variable cut down to its one state (an axis of
        length one). Slicing the factors before multiplying them keeps the products small
        (a hard answer on ``leg_cramp_side`` quarters its clique); cached per answer values.
        """
        key = tuple(sorted(fixed.items()))
        with self.lock:
            found = self.potentials_kept.get(key)
            if found is None:
                sliced = [
                    slice_fixed(f, s, fixed) for f, s in zip(self.factors, self.scopes, strict=True)
                ]
                sizes = {v: 1 for v in fixed}
                found = clique_potentials(self.tree, self.scopes, sliced, sizes)
                size = sum(p.nbytes for p in found)
                if size <= POTENTIALS_MAX_BYTES:  # a bigger set is used once, not kept
                    while len(self.potentials_kept) >= POTENTIALS_KEPT:
                        _, dropped = self.potentials_kept.popitem(last=False)  # oldest first
                        self.potentials_bytes -= sum(p.nbytes for p in dropped)
                    self.potentials_kept[key] = found
                    self.potentials_bytes += size
            else:
                self.potentials_kept.move_to_end(key)
        return found


class Compiler:
    """Compiles patterns over one network (``states``, ``parents``, ``tables``); keeps the
    junction trees by shape (:data:`TREES_KEPT`) and the pre-summed tables by recipe (up to
    :data:`FOLD_CACHE_BYTES`), least recently used dropped, behind its own lock."""

    def __init__(
        self,
        states,
        card,
        parents,
        tables,
        max_clique_bytes: int = MAX_CLIQUE_BYTES,
        draws: int | None = None,
    ):
        self.states, self.card, self.parents, self.tables = states, card, parents, tables
        self.max_clique_bytes = max_clique_bytes
        self.row_bytes = 8 * (draws or 1)  # one entry of a clique, over every parameter draw
        self._trees: OrderedDict[tuple, JunctionTree] = OrderedDict()
        self._folds: OrderedDict[int, np.ndarray] = OrderedDict()  # by recipe number
        self._fold_bytes = 0  # what the folds hold
        # a recipe is a number: a network table's is its variable's rank, a fold's is given
        # when first met to (variable summed out, the numbers it combined), so that keys stay
        # flat however deep the folds nest (nested tuples were hashed and compared whole)
        self._rank = {v: k for k, v in enumerate(states)}
        self._recipes: dict[tuple[str, tuple[int, ...]], int] = {}
        self._next_recipe = itertools.count(len(states))
        self._lock = threading.RLock()

    def ancestors(self, variable: str) -> set[str]:
        """Every ancestor of ``variable`` (not itself)."""
        return ancestral(self.parents, self.parents[variable])

    def compile(self, observed: frozenset, targets: frozenset, do: frozenset) -> Structure:
        """The structure of one pattern (see the module's steps)."""
        with self._lock:
            return self._compile(observed, targets, do)

    def pruned(
        self, observed: frozenset, targets: frozenset, do: frozenset = frozenset(), grow: int = 0
    ) -> list[tuple]:
        """The factors a query on this pattern needs, ``(recipe, scope, table)`` each: the
        tables of the answered, asked and set variables and their ancestors (the others are
        barren), with the unanswered non-targets whose elimination makes no bigger table
        (or one of at most ``grow`` entries, for a variable with parents) summed out, each
        sum cached by recipe."""
        with self._lock:
            return self._pruned(set(observed) | set(targets) | set(do), do, grow)

    def _pruned(self, keep: set[str], do: frozenset, grow: int) -> list[tuple]:
        relevant = ancestral(self.parents, keep, do)
        order = [n for n in self.states if n in relevant]
        factors = [(self._rank[n], (n, *self.parents[n]), self.tables[n]) for n in order]
        factors = [f for f in factors if f[1][0] not in do]
        return self._fold(factors, [n for n in order if n not in keep], grow)

    def tree(self, card: dict[str, int], scopes: list[tuple[str, ...]]) -> JunctionTree:
        """The junction tree of these factor scopes (cached by shape); raise a
        :class:`NetworkTooLargeError` if its largest clique would pass the limit."""
        with self._lock:
            return self._tree(card, scopes)

    def _tree(self, card: dict[str, int], scopes: list[tuple[str, ...]]) -> JunctionTree:
        key = (tuple(scopes), tuple(sorted(card.items())))
        tree = self._trees.get(key)
        if tree is None:
            tree = compile_tree(card, scopes, list(self.states))
            self._check_size(tree)
            self._trees[key] = tree
            while len(self._trees) > TREES_KEPT:
                self._trees.popitem(last=False)
        else:
            self._trees.move_to_end(key)
        return tree

    def _compile(self, observed: frozenset, targets: frozenset, do: frozenset) -> Structure:
        keep = set(observed) | set(targets) | set(do)
        order = [n for n in self.states if n in keep]  # the answered ones, in order
        factors = self._pruned(keep, do, FOLD_LIMIT)
        # An answered variable held by one table only (a finding at the edge of the pruned
        # network), or by its own prior and one child's table (an answered risk factor),
        # leaves the tree: at query time its likelihood is summed into that table, a factor
        # over the rest, batched per row if the answers differ by row. Such steps chain (every
        # answered risk factor of calcium in turn), each halving the factor it works on.
        work = [(scope, ("table", table)) for _, scope, table in factors]
        steps: list[tuple] = []  # (variable, prior table or None, source, scope)
        candidates = [n for n in order if n in observed and n not in targets and n not in do]
        changed = True
        while changed:
            changed = False
            for v in candidates:
                holding = [w for w in work if v in w[0]]
                prior = next((w for w in holding if w[0] == (v,) and w[1][0] == "table"), None)
                if len(holding) == 1 and len(holding[0][0]) > 1:
                    (scope, source), prior_table = holding[0], None
                elif len(holding) == 2 and prior is not None:
                    scope, source = next(w for w in holding if w is not prior)
                    prior_table = prior[1][1]
                    if len(scope) == 1:  # nothing would be left to join the tree
                        continue
                else:
                    continue
                steps.append((v, prior_table, source, scope))
                work = [w for w in work if v not in w[0]]
                work.append((tuple(u for u in scope if u != v), ("step", len(steps) - 1)))
                candidates = [c for c in candidates if c != v]
                changed = True
                break
        static = [w for w in work if w[1][0] == "table"]
        dynamic = [w for w in work if w[1][0] == "step"]
        scopes = [scope for scope, _ in static]
        tables = [source[1] for _, source in static]
        rests = [scope for scope, _ in dynamic]
        gone = {v for v, *_ in steps}
        card = {v: self.card[v] for v in ({v for s in scopes + rests for v in s} | keep) - gone}
        tree = self._tree(card, scopes + rests)
        homes = [
            next(i for i, held in enumerate(tree.assignment) if len(scopes) + k in held)
            for k in range(len(dynamic))
        ]
        outputs = tuple(
            (scope, source[1], home) for (scope, source), home in zip(dynamic, homes, strict=True)
        )
        return Structure(tree, scopes, tables, tuple(steps), outputs)

    def _check_size(self, tree: JunctionTree) -> None:
        """Refuse a tree whose largest clique table would pass the limit, before any of it is
        allocated (a clear error, not a ``MemoryError`` half-way)."""
        needed = tree.largest * self.row_bytes
        if needed > self.max_clique_bytes:
            largest = max(tree.cliques, key=lambda c: math.prod([tree.card[v] for v in c]))
            raise NetworkTooLargeError(needed, self.max_clique_bytes, largest)

    def _recipe(self, v: str, combined: tuple[int, ...]) -> int:
        """The number of the fold summing ``v`` out of the recipes ``combined``; numbers are
        never reused, so forgetting them all (past :data:`RECIPES_KEPT`) only misses folds."""
        key = (v, combined)
        number = self._recipes.get(key)
        if number is None:
            if len(self._recipes) >= RECIPES_KEPT:
                self._recipes.clear()
            number = self._recipes[key] = next(self._next_recipe)
        return number

    def _fold(self, factors: list[tuple], candidates: list[str], grow: int) -> list[tuple]:
        """Sum out unobserved non-targets whose elimination creates no larger table (or, for
        one with parents, one of at most ``grow`` entries).

        Each factor is ``(recipe, scope, table)``; a fold's result is cached under its recipe
        (the variable summed out and the recipes it combined), so the same fold in another
        structure (the hidden leg nodes into ``leg_cramp_side``, say) is not redone.
        """
        rank = self._rank
        live = dict(enumerate(factors))
        keys = itertools.count(len(factors))  # a new key for each folded factor
        holders: dict[str, set[int]] = {}
        for i, (_, scope, _) in live.items():
            for u in scope:
                holders.setdefault(u, set()).add(i)
        pending, changed = list(reversed(candidates)), True
        while changed:
            changed, waiting = False, []
            for v in pending:
                if not holders.get(v):
                    continue
                holding = sorted((live[i] for i in holders[v]), key=lambda f: (-f[2].size, f[0]))
                extra = sorted({u for f in holding[1:] for u in f[1]} - set(holding[0][1]))
                merged = tuple(u for u in holding[0][1] if u != v) + tuple(
                    sorted((u for u in extra if u != v), key=rank.__getitem__)
                )
                size = math.prod([self.card[u] for u in merged])
                largest = max(math.prod([self.card[u] for u in f[1]]) for f in holding)
                # growing folds only for hidden nodes with parents (the leg sides), whose
                # recipes recur across evidence and so are computed once; a risk factor with
                # several children is left to the junction tree
                if size > largest and (not self.parents[v] or size > grow):
                    waiting.append(v)
                    continue
                recipe = self._recipe(v, tuple(sorted(f[0] for f in holding)))
                table = self._folds.get(recipe)
                if table is None:
                    table = self._folds[recipe] = _sum_product(holding, v, merged)
                    self._fold_bytes += table.nbytes
                    while self._fold_bytes > FOLD_CACHE_BYTES:  # least recently used first
                        self._fold_bytes -= self._folds.popitem(last=False)[1].nbytes
                else:
                    self._folds.move_to_end(recipe)
                for i in list(holders[v]):
                    for u in live.pop(i)[1]:
                        holders[u].discard(i)
                new = next(keys)
                live[new] = (recipe, merged, table)
                for u in merged:
                    holders.setdefault(u, set()).add(new)
                changed = True
            pending = waiting
        return list(live.values())


def _absorb_step(
    table: np.ndarray, scope: tuple[str, ...], v: str, weight: np.ndarray
) -> np.ndarray:
    """``table`` (over ``scope``, after any batch axis) summed over ``v`` against
    ``weight`` (over ``v``'s states, after any batch axis)."""
    batched = table.ndim - len(scope)
    axis = batched + scope.index(v)
    if weight.ndim == 1:
        return np.tensordot(table, weight, axes=([axis], [0]))
    if batched == 0:  # per-row weights against one table
        return np.tensordot(weight, table, axes=([1], [axis]))
    # per-row weights against per-row tables, read in place (no copy)
    letters = "abcdefghijklmnopqrstuvwxy"[: table.ndim - 2]
    spec = "z" + letters[: axis - 1] + "Y" + letters[axis - 1 :]
    return np.einsum(f"{spec},zY->z{letters}", table, weight)


def _shared_rows(
    structure: Structure,
    chain: tuple[int, ...],
    likelihoods: Mapping[str, np.ndarray],
    keys: Mapping[str, np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """For a chain worth running once per distinct combination of answers: one row of
    each combination and, for every row, its combination's number; else None (no keys,
    a small table, a per-row answer without a key, or too few rows alike)."""
    table = structure.steps[chain[0]][2][1]
    if not keys or table.size < SHARED_CHAIN_ENTRIES:
        return None
    answered = [structure.steps[k][0] for k in chain]
    per_row = [v for v in answered if likelihoods[v].ndim == 2]
    if not per_row or any(v not in keys for v in per_row):
        return None
    key = np.zeros(len(keys[per_row[0]]), dtype=np.int64)
    span = 1
    for v in per_row:
        column = keys[v].astype(np.int64)
        low, width = int(column.min()), int(column.max() - column.min()) + 1
        if span * width >= 2**62:  # renumber before the key could overflow
            key = np.unique(key, return_inverse=True)[1].ravel()
            span = int(key.max()) + 1
        key = key * width + (column - low)
        span *= width
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    if 2 * len(first) > len(key):  # most rows differ: the per-row run costs no more
        return None
    return first, inverse.ravel()


def slice_fixed(table: np.ndarray, scope: tuple[str, ...], fixed: dict[str, int]) -> np.ndarray:
    """Keep only the fixed state of each fixed variable, as an axis of length one."""
    index = tuple(slice(fixed[v], fixed[v] + 1) if v in fixed else slice(None) for v in scope)
    return table[(Ellipsis, *index)] if any(v in fixed for v in scope) else table


def _sum_product(factors: list[tuple], v: str, out: tuple[str, ...]) -> np.ndarray:
    """Multiply tables (batch axes in front) and sum ``v`` out, onto the axes ``out``.

    A multiply-accumulate over the states of ``v``: the big table is read slice by slice
    and never copied whole, which is what makes folding a 1000-draw table cheap.
    """
    scope = (v, *out)
    big, *small = factors
    weights = None
    for _, fscope, table in small:
        aligned = align(table, fscope, scope)
        weights = aligned if weights is None else weights * aligned
    big_view = align(big[2], big[1], scope)
    batch = big_view.ndim - len(scope)
    total = None
    for state in range(big_view.shape[batch]):
        term = big_view[(slice(None),) * batch + (state,)]
        if weights is not None:
            w = weights[(slice(None),) * (weights.ndim - len(scope)) + (state,)]
            term = term * w
        total = term.copy() if total is None else np.add(total, term, out=total)
    return total

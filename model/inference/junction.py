"""A junction tree compiled once and propagated in batches with numpy.

Generic over discrete factors: :func:`compile_tree` takes variable cardinalities and factor
scopes, triangulates the moral graph (greedy min-fill, ties broken by clique weight), and
links the maximal cliques into a tree. :func:`propagate` passes messages up the tree
Shafer-Shenoy style and down it Hugin style (see its docstring for why the one division is
safe), with every array allowed a leading batch axis: a batch of evidence sets, or of
parameter draws. Products are broadcast multiplications; sums are matmuls with 0/1 matrices.
Messages are normalised as they go and the log normaliser is kept, so long products never
underflow and P(evidence) comes out as ``log_z``.

State: the 0/1 projection matrices live in a :class:`Projections` object that its owner (an
engine, a learner) passes in, bounded in bytes. The small memos of pure functions of tuples
(how to view a table on a clique's axes, where an onto's variables sit, in which order to
multiply) are bounded ``functools.lru_cache`` memos: their results are immutable.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from model.inference.kept import Kept
from model.inference.kernel import onto
from model.inference.triangulation import eliminate

SMALL_BATCH = 32  # fewer rows than this: products formed, per-onto matrices (see _project)
PAIRING_ROWS = 32  # batches smaller than this multiply in order of size, unplanned
PROJECTION_BYTES = 64 * 2**20  # projection matrices one owner keeps (least recent dropped)
MATRIX_ENTRIES = 2**21  # largest 0/1 projection matrix (16 MB): bigger cliques sum their axes
SUM_WIDTH = 64  # a few rows onto more entries than this: summing axes beats a matmul


@dataclass(frozen=True)
class JunctionTree:
    """Cliques, tree edges and where each factor and variable lives.

    ``assignment[i]`` lists the indices of the factors multiplied into clique ``i``, in the
    order of the scopes given to :func:`compile_tree`; a caller may pass more scopes than it
    has tables (the engine's absorbed answers come after its tables: index ``>= len(tables)``
    means "a factor made at query time", see :class:`model.inference.engine.Structure`).
    """

    card: dict[str, int]
    cliques: list[tuple[str, ...]]
    neighbours: list[list[int]]
    collect: list[tuple[int, int]]  # (child, parent) edges, leaves first
    root: int
    home: dict[str, int]  # the smallest clique holding each variable
    assignment: list[list[int]]  # factor indices multiplied into each clique
    below: dict[tuple[int, int], frozenset[int]]  # (child, parent): the cliques under child

    def separator(self, i: int, j: int) -> tuple[str, ...]:
        """The variables cliques ``i`` and ``j`` share, in clique ``i``'s order."""
        held = self._clique_sets[j]
        return tuple(v for v in self.cliques[i] if v in held)

    @cached_property
    def _clique_sets(self) -> list[frozenset[str]]:
        """Each clique's variables as a set: a separator is asked for every edge, and a
        clique of munin's holds dozens of variables."""
        return [frozenset(c) for c in self.cliques]

    @cached_property
    def largest(self) -> int:
        """Entries of the largest clique table (per batch row)."""
        return max((int(math.prod([self.card[v] for v in c])) for c in self.cliques), default=0)

    @cached_property
    def size(self) -> int:
        """Total entries over all clique tables: the cost of one propagation, per batch row."""
        return sum(int(math.prod([self.card[v] for v in c])) for c in self.cliques)


def _eliminate(card: dict[str, int], scopes: list[tuple[str, ...]]) -> list[frozenset]:
    """The maximal cliques of greedy min-fill elimination (ties: smaller clique table, then
    name order), compiled: see :mod:`model.inference.triangulation`."""
    return _maximal(list(dict.fromkeys(eliminate(sorted(card), card, scopes))))


def _maximal(cliques: list[frozenset]) -> list[frozenset]:
    """The cliques not inside another, in order. A clique can only lie inside one that holds
    its rarest variable, so only those are compared (not every pair: big networks have
    thousands of cliques)."""
    holders = _holders(cliques)
    kept = []
    for k, c in enumerate(cliques):
        rarest = min(c, key=lambda v: len(holders[v]))
        if not any(c < cliques[j] for j in holders[rarest] if j != k):
            kept.append(c)
    return kept


def _holders(cliques: list[frozenset]) -> dict[str, list[int]]:
    """For each variable, the indices of the cliques holding it, in order."""
    holders: dict[str, list[int]] = {}
    for k, c in enumerate(cliques):
        for v in c:
            holders.setdefault(v, []).append(k)
    return holders


def compile_tree(
    card: dict[str, int], scopes: list[tuple[str, ...]], order: list[str] | None = None
) -> JunctionTree:
    """Triangulate, build a maximum-weight spanning tree of cliques, assign the factors.

    Clique axes follow ``order`` (default: sorted names); giving the factors' own variable
    order saves transposing big tables into the cliques.
    """
    order = [v for v in order if v in card] if order is not None else sorted(card)
    if not card:  # nothing to compute: P(no evidence) = 1
        return JunctionTree(card, [], [], [], -1, {}, [], {})
    cliques_sets = _eliminate(card, scopes)
    cliques = [tuple(v for v in order if v in c) for c in cliques_sets]
    neighbours = _spanning_tree(cliques_sets)
    weight = [int(math.prod([card[v] for v in c])) for c in cliques]
    root = max(range(len(cliques)), key=lambda i: weight[i])
    collect: list[tuple[int, int]] = []

    def visit(node: int, parent: int | None) -> None:
        for child in neighbours[node]:
            if child != parent:
                visit(child, node)
                collect.append((child, node))

    visit(root, None)
    holders = _holders(cliques_sets)
    home = {v: min(holders[v], key=lambda i: weight[i]) for v in card}
    assignment: list[list[int]] = [[] for _ in cliques]
    for index, scope in enumerate(scopes):
        needed = set(scope)
        rarest = min(scope, key=lambda v: len(holders[v]))
        holder = min(
            (i for i in holders[rarest] if needed <= cliques_sets[i]), key=lambda i: weight[i]
        )
        assignment[holder].append(index)
    below = _subtrees(collect, neighbours)
    return JunctionTree(card, cliques, neighbours, collect, root, home, assignment, below)


def ancestral(
    parents: Mapping[str, tuple[str, ...]], variables: Iterable[str], stop: Container[str] = ()
) -> set[str]:
    """``variables`` and all their ancestors, not going above a variable in ``stop`` (one set
    by intervention): the only tables a query on them needs, any other variable being barren
    (it sums to one)."""
    found: set[str] = set()
    stack = list(variables)
    while stack:
        v = stack.pop()
        if v not in found:
            found.add(v)
            if v not in stop:
                stack.extend(parents[v])
    return found


def family_tree(card: dict[str, int], parents: dict[str, tuple[str, ...]]) -> JunctionTree:
    """The whole network's junction tree: each variable's family (itself and its parents) one
    factor, factor ``k`` the ``k``-th variable of ``card``, axes in ``card``'s order. The
    engine compiles it once and builds its calibrated and lazy trees on it."""
    return compile_tree(dict(card), [(v, *parents[v]) for v in card], list(card))


def _spanning_tree(cliques: list[frozenset]) -> list[list[int]]:
    """Each clique's neighbours in a maximum-weight spanning tree: Kruskal on separator size
    gives a junction tree for the cliques of a chordal graph; disconnected parts are joined
    by empty separators (to the first clique). Only pairs that share a variable are weighed
    (not every pair: big networks have thousands of cliques); ties go to the first pair."""
    shared: dict[tuple[int, int], int] = {}
    for held in _holders(cliques).values():
        for pair in itertools.combinations(held, 2):
            shared[pair] = shared.get(pair, 0) + 1
    pairs = sorted(shared, key=lambda ij: (-shared[ij], ij))
    parent_of = list(range(len(cliques)))

    def find(i: int) -> int:
        while parent_of[i] != i:
            parent_of[i] = parent_of[parent_of[i]]
            i = parent_of[i]
        return i

    neighbours: list[list[int]] = [[] for _ in cliques]
    for i, j in [*pairs, *((0, j) for j in range(1, len(cliques)))]:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent_of[ri] = rj
            neighbours[i].append(j)
            neighbours[j].append(i)
    return neighbours


def _subtrees(
    collect: list[tuple[int, int]], neighbours: list[list[int]]
) -> dict[tuple[int, int], frozenset[int]]:
    """For each tree edge in each direction ``(child, parent)``: the cliques on child's side."""
    below: dict[tuple[int, int], frozenset[int]] = {}
    for child, parent in collect:  # leaves first: a child's own children are done already
        below[(child, parent)] = frozenset(
            {child}.union(*(below[(k, child)] for k in neighbours[child] if k != parent))
        )
    for child, parent in reversed(collect):  # the other direction, root side first
        below[(parent, child)] = frozenset(range(len(neighbours))) - below[(child, parent)]
    return below


def align(table: np.ndarray, scope: tuple[str, ...], onto: tuple[str, ...]) -> np.ndarray:
    """View ``table`` (axes ``scope`` after any batch axes) on the axes ``onto``: transposed,
    with length-one axes for variables it lacks. A view, never a copy."""
    order, index = _layout(tuple(scope), tuple(onto), table.ndim - len(scope))
    return table.transpose(order)[index]


@lru_cache(maxsize=65536)
def _layout(scope: tuple[str, ...], onto: tuple[str, ...], batch: int) -> tuple[tuple, tuple]:
    """The transpose order and the index (length-one axes added) of :func:`align`."""
    place = {v: k for k, v in enumerate(onto)}  # dicts and sets: munin's folds are long
    present = sorted(range(len(scope)), key=lambda a: place[scope[a]])
    order = (*range(batch), *(batch + a for a in present))
    held = set(scope)
    index = (slice(None),) * batch + tuple(slice(None) if v in held else None for v in onto)
    return order, index


def clique_product(
    tree: JunctionTree, i: int, operands: list[tuple[tuple[str, ...], np.ndarray]]
) -> np.ndarray:
    """The product of labelled arrays laid out on clique ``i``'s axes, by broadcasting."""
    batched, shared = _factors(tree, i, operands)
    if shared is None or batched is None:
        return shared if batched is None else batched
    return batched * shared


def _factors(tree: JunctionTree, i: int, operands: list[tuple[tuple[str, ...], np.ndarray]]):
    """The operands' product on clique ``i``'s axes as two factors, ``(batched, shared)``
    (either may be None), whose product it is.

    Elementwise multiplication with broadcasting beats a many-operand einsum here: every
    operand's variables lie inside the clique, so nothing is summed until the projection.
    The shared (unbatched) tables are multiplied once, not once per row. The batched ones
    (likelihoods, messages, absorbed answers) are multiplied smallest first or, for big
    batches, pairwise, the pair with the smallest joint shape first (:func:`_pairing`), so
    that few products reach the full clique. The two are left apart: :func:`_project`
    folds the shared one into its matrix.
    """
    clique = tree.cliques[i]
    shared = None
    batched: list[np.ndarray | None] = []
    for scope, array in sorted(operands, key=lambda op: op[1].size):
        aligned = align(array, scope, clique)
        if array.ndim == len(scope):
            shared = aligned if shared is None else shared * aligned
        else:
            batched.append(aligned)
    rows = max((math.prod(x.shape[: x.ndim - len(clique)]) for x in batched), default=0)
    if len(batched) > 2 and rows < PAIRING_ROWS:  # a few rows: planning would cost more
        product = batched[0]
        for x in batched[1:]:
            product = product * x
        batched = [product]
    elif len(batched) > 2:
        for a, b in _pairing(tuple(x.shape[x.ndim - len(clique) :] for x in batched)):
            batched.append(batched[a] * batched[b])
            batched[a] = batched[b] = None  # freed as soon as used: a batch of draws is big
        batched = batched[-1:]
    elif len(batched) == 2:
        batched = [batched[0] * batched[1]]
    return (batched[0] if batched else None), shared


@lru_cache(maxsize=65536)
def _pairing(shapes: tuple[tuple[int, ...], ...]) -> tuple[tuple[int, int], ...]:
    """The order in which to multiply arrays of these (broadcastable) shapes: each step names
    two live arrays, whose product is appended to the list; greedy on the product's size.
    Memoised by shapes, so a structure's plan is worked out once."""
    live = dict(enumerate(shapes))
    plan, n = [], len(shapes)
    while len(live) > 1:
        _, a, b = min(
            (math.prod(map(max, live[a], live[b])), a, b) for a in live for b in live if a < b
        )
        plan.append((a, b))
        live[n] = tuple(map(max, live.pop(a), live.pop(b)))
        n += 1
    return tuple(plan)


def clique_potentials(
    tree: JunctionTree,
    scopes: list[tuple[str, ...]],
    factors: list[np.ndarray],
    sizes: dict[str, int] | None = None,
) -> list[np.ndarray]:
    """Multiply the factors assigned to each clique into one table over the clique's scope.

    Done once per structure and answer values (``sizes`` gives the length of a variable cut
    down to its answered state), so that propagation contracts one table per clique plus the
    remaining evidence, not every factor again.
    """
    potentials = []
    for i, clique in enumerate(tree.cliques):
        operands = [(scopes[f], factors[f]) for f in tree.assignment[i] if f < len(factors)]
        covered = {v for scope, _ in operands for v in scope}
        sizes = sizes or {}
        operands += [
            ((v,), np.ones(sizes.get(v, tree.card[v]))) for v in clique if v not in covered
        ]
        potentials.append(np.ascontiguousarray(clique_product(tree, i, operands)))
    return potentials


def propagate(
    tree: JunctionTree,
    potentials: list[np.ndarray],
    likelihoods: dict[str, np.ndarray],
    targets: list[str],
    extra: list[tuple[tuple[str, ...], np.ndarray, int]] = (),
    *,
    projections: Projections,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Normalised marginals of ``targets`` and ``log P(evidence)``, per batch row.

    ``potentials[i]`` has the axes of ``tree.cliques[i]`` after optional leading batch axes;
    ``likelihoods[v]`` is a likelihood vector of ``v`` (one-hot for a hard answer), also
    optionally batched. Rows whose evidence has probability zero get ``log_z = -inf`` and NaN
    marginals.

    Upward, each clique sends one product (Shafer-Shenoy). Downward, each clique's belief is
    formed once and a message to a child is that belief summed onto the separator, divided by
    the child's upward message (Hugin); where that message is zero the belief is zero too, so
    0/0 is taken as 0 without loss.
    """
    if not tree.cliques:
        return {}, np.zeros(())
    run = _Messages(tree, potentials, likelihoods, targets, extra, projections)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_z = run.collect() + np.log(run.believe(tree.root, None))
        run.distribute()
        possible = np.isfinite(log_z)[..., None]
        marginals = {v: np.where(possible, run.found[v], np.nan) for v in targets}
    return marginals, np.asarray(log_z)


class _Messages:
    """One propagation's state: each clique's local factors, the messages sent so far, the
    normalised sums a believed clique sends towards targets, and the targets' marginals."""

    def __init__(self, tree, potentials, likelihoods, targets, extra, projections):
        self.tree, self.projections = tree, projections
        self.local: list[list[tuple[tuple[str, ...], np.ndarray]]] = [
            [(clique, potentials[i])] for i, clique in enumerate(tree.cliques)
        ]
        for v, lik in likelihoods.items():
            self.local[tree.home[v]].append(((v,), lik))
        for scope, factor, home in extra:  # further factors (batched or not) for given cliques
            self.local[home].append((scope, factor))
        self.homes = {tree.home[v] for v in targets}
        self.by_home: dict[int, list[str]] = {}
        for v in targets:
            self.by_home.setdefault(tree.home[v], []).append(v)
        self.messages: dict[tuple[int, int], tuple[tuple[str, ...], np.ndarray]] = {}
        self.seps: dict[tuple[int, int], np.ndarray] = {}
        self.found: dict[str, np.ndarray] = {}

    def _incoming(self, i: int, but: int | None = None) -> list:
        return [self.messages[(k, i)] for k in self.tree.neighbours[i] if k != but]

    def collect(self) -> np.ndarray | float:
        """Upward, leaves first: each clique sends one normalised product (Shafer-Shenoy);
        returns the sum of the log normalisers."""
        log_z: np.ndarray | float = 0.0
        for child, parent in self.tree.collect:
            sep = self.tree.separator(child, parent)
            factors = _factors(self.tree, child, self.local[child] + self._incoming(child, parent))
            projected, total = _project(self.tree, child, factors, [sep], self.projections)
            self.messages[(child, parent)] = (
                sep,
                _per_total(projected, np.where(total > 0, total, 1)),
            )
            log_z = log_z + np.log(total)
        return log_z

    def believe(self, i: int, came: int | None) -> np.ndarray:
        """Form clique ``i``'s belief once (never whole): its normalised sums onto each
        separator towards a child that leads to a target, and its targets' marginals; returns
        its total."""
        tree = self.tree
        children = [
            k for k in tree.neighbours[i] if k != came and _leads_to(tree, k, i, self.homes)
        ]
        ontos = [tree.separator(i, k) for k in children] + [(v,) for v in self.by_home.get(i, [])]
        factors = _factors(tree, i, self.local[i] + self._incoming(i))
        *sums, total = _project(tree, i, factors, ontos, self.projections)
        safe = np.where(total > 0, total, 1.0)
        for k, projected in zip(children, sums, strict=False):
            self.seps[(i, k)] = _per_total(projected, safe)
        for v, projected in zip(self.by_home.get(i, []), sums[len(children) :], strict=True):
            self.found[v] = _per_total(projected, safe)
        return total

    def distribute(self) -> None:
        """Downward, towards targets only: a message to a child is the parent's belief summed
        onto the separator divided by the child's upward message (Hugin)."""
        for child, parent in reversed(self.tree.collect):
            if not _leads_to(self.tree, child, parent, self.homes):
                continue
            sep = self.tree.separator(parent, child)
            up = self.messages[(child, parent)][1]
            total = self.seps[(parent, child)]
            shape = np.broadcast_shapes(total.shape, up.shape)
            down = np.divide(total, up, out=np.zeros(shape), where=up > 0)
            self.messages[(parent, child)] = (sep, down)
            self.believe(child, parent)


def _per_total(projected: np.ndarray, safe: np.ndarray) -> np.ndarray:
    """``projected`` (batch axes, then its own) divided by its row's total, ``safe`` (the
    total with zeros, from impossible evidence, replaced by ones: all zeros stay zeros)."""
    return projected / safe.reshape(safe.shape + (1,) * (projected.ndim - safe.ndim))


def _project(
    tree: JunctionTree,
    i: int,
    factors: tuple[np.ndarray | None, np.ndarray | None],
    ontos: list[tuple[str, ...]],
    projections: Projections,
) -> list[np.ndarray]:
    """Sums of the product ``batched * shared`` (see :func:`_factors`) onto each of
    ``ontos`` (tuples of the clique's variables), then its total: one matmul of the batched
    factor with the cached 0/1 projection matrices weighted by the shared one, so that the
    full product is never formed (numpy's multi-axis sums are many times slower on these
    small, many-axis tables). A matmul costs the clique's entries times the ontos' (the
    matrix's width), so one row or a few onto more than :data:`SUM_WIDTH` entries sum their
    axes instead: on hailfinder's batches (cliques of 5,940 entries sending 1,980) that took
    one thread from 11,000 to 15,900 rows a second, and our network's figures did not move."""
    clique = tree.cliques[i]
    batched, shared = factors
    n = len(clique)
    shapes = [f.shape[f.ndim - n :] for f in factors if f is not None]
    dims = tuple(map(max, *shapes)) if len(shapes) > 1 else shapes[0]
    kept = _positions(clique, tuple(ontos))
    batch: tuple[int, ...] = () if batched is None else batched.shape[: batched.ndim - n]
    if math.prod(dims) * _width(dims, kept) > MATRIX_ENTRIES:  # too big for a 0/1 matrix
        table = shared if batched is None else batched if shared is None else batched * shared
        return _summed(np.broadcast_to(table, batch + dims), len(batch), kept)
    if batched is None or (shared is not None and math.prod(batch) < SMALL_BATCH):
        # one row or a few: form the product and sum it onto each onto with the matrices
        # shared by every clique of this shape (no joined matrix to build for a new tree)
        table = shared if batched is None else batched * shared
        if _width(dims, kept) > SUM_WIDTH:  # a matmul would cost entries x width
            return _summed(np.broadcast_to(table, batch + dims), len(batch), kept)
        flat = table.reshape(batch + (-1,))
        out = [
            (flat @ projections.matrix(dims, k)).reshape(batch + tuple(dims[x] for x in k))
            for k in kept
        ]
        out.append(flat.sum(axis=-1))
        return out
    matrix, cuts = projections.joined(dims, kept)
    if shared is not None:  # weigh the matrix once rather than every row
        if shared.shape != dims:
            shared = np.broadcast_to(shared, dims)
        matrix = matrix * shared.reshape(-1, 1)
    if batched.shape[batched.ndim - n :] != dims:
        batched = np.broadcast_to(batched, batch + dims)
    flat = batched.reshape(batch + (-1,)) @ matrix
    out = [flat[..., a:b].reshape(batch + shape) for a, b, shape in cuts]
    out.append(flat[..., -1])
    return out


def _width(dims: tuple[int, ...], kept: tuple[tuple[int, ...], ...]) -> int:
    """Columns of the joined projection matrix: every onto's entries and the total."""
    return sum(math.prod([dims[a] for a in k]) for k in kept) + 1


def _summed(table: np.ndarray, batch: int, kept: tuple[tuple[int, ...], ...]) -> list:
    """:func:`_project` by summing axes, for cliques whose matrices would be big: the axes no
    onto keeps are summed once, then each onto's others (memory: the table, nothing more)."""
    n = table.ndim - batch
    used = sorted({a for k in kept for a in k})
    common = table.sum(axis=tuple(batch + a for a in range(n) if a not in used))
    out = []
    for k in kept:
        others = tuple(batch + p for p, a in enumerate(used) if a not in k)
        summed = common.sum(axis=others) if others else common.copy()
        if list(k) != sorted(k):  # the sum leaves the axes in clique order: the onto's order
            summed = summed.transpose((*range(batch), *(batch + sorted(k).index(a) for a in k)))
        out.append(summed)
    out.append(common.reshape(common.shape[:batch] + (-1,)).sum(axis=-1))
    return out


@lru_cache(maxsize=65536)
def _positions(clique: tuple[str, ...], ontos: tuple[tuple[str, ...], ...]) -> tuple:
    """Where each onto's variables sit in the clique: cliques of one shape share matrices."""
    return tuple(tuple(clique.index(v) for v in onto) for onto in ontos)


def onto_index(dims: tuple[int, ...], kept: tuple[int, ...] | list[int]) -> np.ndarray:
    """For each entry of a flattened table of shape ``dims``, its flat index on the axes
    ``kept`` (all zeros when none is kept), by a compiled loop
    (:func:`model.inference.kernel.onto`): no grid of every entry's digits."""
    out = np.empty(math.prod(dims), dtype=np.int64)
    onto(np.array(dims, dtype=np.int64), np.array(list(kept), dtype=np.int64), out)
    return out


def projection(dims: tuple[int, ...], kept: tuple[int, ...]) -> np.ndarray:
    """The 0/1 matrix that sums a flattened table of shape ``dims`` onto its axes ``kept``."""
    target = onto_index(dims, kept)
    matrix = np.zeros((target.size, int(math.prod([dims[a] for a in kept]))))
    matrix[np.arange(target.size), target] = 1.0
    return matrix


class Projections:
    """The projection matrices one owner (an engine, a learner) has needed, least recently
    used dropped beyond ``max_bytes``; shared read-only by its threads (callers must not
    write to a matrix they get).

    ``matrix(dims, kept)`` sums a flattened table of shape ``dims`` onto its axes ``kept``;
    ``joined(dims, kepts)`` puts several side by side with a column of ones (the total), so
    that one matmul gives every sum a clique sends, and says where each part lies.
    """

    def __init__(self, max_bytes: int = PROJECTION_BYTES):
        self.max_bytes = max_bytes
        self._kept: Kept[tuple] = Kept(max_bytes=max_bytes, size_of=lambda found: found[0].nbytes)

    @property
    def nbytes(self) -> int:
        return self._kept.nbytes

    def __len__(self) -> int:
        return len(self._kept)

    def matrix(self, dims: tuple[int, ...], kept: tuple[int, ...]) -> np.ndarray:
        return self._get(("one", dims, kept), lambda: (projection(dims, kept),))[0]

    def joined(self, dims: tuple[int, ...], kepts: tuple[tuple[int, ...], ...]) -> tuple:
        def build() -> tuple:
            parts = [projection(dims, k) for k in kepts] + [np.ones((math.prod(dims), 1))]
            bounds = np.cumsum([0] + [p.shape[1] for p in parts])
            cuts = [
                (int(a), int(b), tuple(dims[x] for x in k))
                for a, b, k in zip(bounds[:-2], bounds[1:-1], kepts, strict=True)
            ]
            return np.concatenate(parts, axis=1), cuts

        return self._get(("joined", dims, kepts), build)

    def _get(self, key: tuple, build) -> tuple:
        return self._kept.get(key, build)


def _leads_to(tree: JunctionTree, child: int, parent: int, homes: set[int]) -> bool:
    """Whether the subtree below ``child`` (seen from ``parent``) holds a target's clique."""
    return bool(tree.below[(child, parent)] & homes)

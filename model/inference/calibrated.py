"""The whole network's junction tree, calibrated once with no evidence, for single queries.

Compiling a pruned tree for every new pattern of evidence and targets (see
:mod:`model.inference.compiler`) pays off for batches and for patterns that recur; a single
query on a pattern never seen before would spend most of its time compiling. This tree is
compiled once over every table, and every message it can send is computed once with no
evidence (Shafer-Shenoy, normalised, with its log scale). A query then recomputes only the
messages that evidence changes: a message from clique ``i`` to ``j`` differs from its
evidence-free value only if some evidence lies on ``i``'s side, and is needed only if a target
lies on ``j``'s side. Every other message is read from the calibration, so the parts of the
network far from both evidence and targets cost nothing.

Single rows only, over point tables (no parameter draws), without interventions (which cut
links and so change the tree): the engine sends everything else to compiled patterns.

The same flattened layout serves a tree compiled for one pattern
(:meth:`CalibratedTree.from_factors` with ``calibrate=False``,
:meth:`model.inference.engine.Engine.pattern_tree`): no evidence-free messages are kept, and
a query sends every message that leads to a target. On big networks where a query needs a
small part of the network (pigs, munin) that tree holds a few thousand entries where the
whole calibrated tree would have a query visit about a million.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from model.inference import kernel
from model.inference.junction import JunctionTree, clique_potentials, family_tree, onto_index

CALIBRATED_ENTRIES = 2**23  # whole trees bigger than this (64 MB of tables) are not kept
UNLIMITED = np.iinfo(np.int64).max  # a budget of clique entries that never runs out


@dataclass(frozen=True, eq=False)
class CalibratedTree:
    """A junction tree over every table, flattened for :mod:`model.inference.kernel`, with
    its evidence-free messages. Immutable once built: threads share it."""

    RELEASES_GIL: ClassVar[bool] = True  # the kernel's loops run nogil: threads help

    tree: JunctionTree
    arrays: dict[str, np.ndarray]  # the kernel's layout (see its docstring), by name
    moff: dict[str, int]  # where each variable's state map over its home clique starts
    number: dict[str, int]  # each variable's number in the kernel's arrays
    calibrated: bool = True  # False: no evidence-free messages kept; a query sends all up

    @classmethod
    def build(
        cls,
        card: Mapping[str, int],
        parents: Mapping[str, tuple[str, ...]],
        tables: Mapping[str, np.ndarray],
        max_clique_bytes: int,
        tree: JunctionTree | None = None,
    ) -> CalibratedTree | None:
        """Compile (unless its ``tree`` is given) and calibrate the whole network's tree;
        None if it is too big to keep (over :data:`CALIBRATED_ENTRIES`, or a clique over
        ``max_clique_bytes``)."""
        tree = tree or family_tree(dict(card), dict(parents))
        scopes = [(v, *parents[v]) for v in card]
        return cls.from_factors(tree, scopes, [tables[v] for v in card], max_clique_bytes)

    @classmethod
    def from_factors(
        cls,
        tree: JunctionTree,
        scopes: list[tuple[str, ...]],
        tables: list[np.ndarray],
        max_clique_bytes: int,
        calibrate: bool = True,
    ) -> CalibratedTree | None:
        """The flattened tree of any factors (``tables[k]`` over ``scopes[k]``, assigned to
        cliques as ``tree`` says), calibrated unless ``calibrate`` is false: then every query
        sends every message up the tree (a tree compiled for one pattern of evidence, used
        a few times). None if it is too big to keep."""
        card = tree.card
        too_big = tree.size > CALIBRATED_ENTRIES or 8 * tree.largest > max_clique_bytes
        if too_big or not tree.cliques:
            return None
        potentials = clique_potentials(tree, scopes, tables)
        dims = [tuple(card[v] for v in c) for c in tree.cliques]
        slots, maps = slot_layout(tree, dims)
        arrays = {
            "pot": np.concatenate([p.ravel() for p in potentials]),
            "pot_off": offsets([p.size for p in potentials])[:-1],
            "size": np.array([p.size for p in potentials], dtype=np.int64),
            **slots,
            "nb_map_off": offsets([math.prod(d) for d, _ in maps])[:-1],
            "maps": flat_indices(maps),
            "col_parent": np.array([p for _, p in tree.collect], dtype=np.int64),
        }
        moff, vmaps, at = {}, [], 0  # each variable's state at each entry of its home clique
        for v in card:
            i = tree.home[v]
            vmaps.append((dims[i], [tree.cliques[i].index(v)]))
            moff[v], at = at, at + math.prod(dims[i])
        ax_card, ax_stride, ax_ptr = [], [], [0]
        for clique in tree.cliques:
            for a, v in enumerate(clique):
                ax_card.append(card[v])
                ax_stride.append(math.prod([card[u] for u in clique[a + 1 :]]))
            ax_ptr.append(len(ax_card))
        holding: dict[str, list[int]] = {v: [] for v in card}  # each variable's cliques
        for i, clique in enumerate(tree.cliques):
            for v in clique:
                holding[v].append(i)
        var_ptr, var_clique, var_axis = [0], [], []
        for v in card:  # its home clique first: the kernel counts the answer there
            for i in [tree.home[v]] + [i for i in holding[v] if i != tree.home[v]]:
                var_clique.append(i)
                var_axis.append(ax_ptr[i] + tree.cliques[i].index(v))
            var_ptr.append(len(var_clique))
        arrays.update(
            {
                name: np.array(values, dtype=np.int64)
                for name, values in (
                    ("ax_ptr", ax_ptr),
                    ("ax_card", ax_card),
                    ("ax_stride", ax_stride),
                    ("var_ptr", var_ptr),
                    ("var_clique", var_clique),
                    ("var_axis", var_axis),
                )
            }
        )
        arrays["vmaps"] = flat_indices(vmaps)
        total = int(arrays["msg_off"][-1])
        edges = len(arrays["msg_off"]) - 1
        arrays["prior_msg"], arrays["prior_scale"] = np.ones(total), np.zeros(edges)
        built = cls(tree, arrays, moff, {v: k for k, v in enumerate(card)}, calibrate)
        if calibrate:  # every message once with no evidence: what a query reads where
            # evidence changes none
            _, _, msg, scale, _ = built._run([], {}, every=True, budget=UNLIMITED)
            arrays["prior_msg"], arrays["prior_scale"] = msg, scale
        return built

    def given(self, likelihoods: Mapping[str, np.ndarray]) -> CalibratedTree:
        """This tree with ``likelihoods`` (``likelihoods[v]``: a vector over ``v``'s states,
        one-hot for a hard answer) multiplied into each variable's home clique, and
        calibrated again: a query on it is conditional on those answers too, and recomputes
        only the messages its own answers change. For many queries that share most of their
        answers (the value of each next question: the answers so far plus one more), whose
        every query on this tree would otherwise carry all the shared answers through the
        tree again. ``log_z`` of a query then counts the shared answers as given here (soft
        ones at the scale given)."""
        if not self.calibrated:
            raise ValueError("only a calibrated tree can take answers in (not a pattern's tree)")
        arrays = dict(self.arrays)
        pot = arrays["pot"].copy()
        for v, likelihood in likelihoods.items():
            i = self.tree.home[v]
            lo, n = int(arrays["pot_off"][i]), int(arrays["size"][i])
            states = arrays["vmaps"][self.moff[v] : self.moff[v] + n]
            pot[lo : lo + n] *= np.asarray(likelihood, dtype=float)[states]
        arrays["pot"] = pot
        conditioned = replace(self, arrays=arrays)
        _, _, msg, scale, _ = conditioned._run([], {}, every=True, budget=UNLIMITED)
        arrays["prior_msg"], arrays["prior_scale"] = msg, scale
        return conditioned

    @property
    def kernel_tree(self) -> tuple:
        """The arrays the kernel reads, in its order (:data:`model.inference.kernel.TREE`)."""
        return tuple(self.arrays[name] for name in kernel.TREE)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())

    def query(
        self,
        targets: list[str],
        likelihoods: Mapping[str, np.ndarray],
        budget: int = UNLIMITED,
    ) -> tuple[dict[str, np.ndarray], float] | None:
        """Normalised marginals of ``targets`` and ``log P(evidence)`` for one evidence set
        (``likelihoods[v]``: a vector over ``v``'s states, one-hot for a hard answer); None,
        with no work done, if it would visit more than ``budget`` clique entries. If the
        evidence is impossible, ``log_z`` is ``-inf`` and the marginals are NaN."""
        marginals, log_z, _, _, touched = self._run(targets, likelihoods, False, budget)
        if touched > budget:
            return None
        card = self.tree.card
        return {v: marginals[t, : card[v]] for t, v in enumerate(targets)}, float(log_z)

    def _run(self, targets, likelihoods, every: bool, budget: int):
        tree = self.tree
        card = tree.card
        hard = {  # one-hot likelihoods are hard answers: they cut the cliques down
            v: int(np.argmax(lik)) for v, lik in likelihoods.items() if np.count_nonzero(lik) == 1
        }
        soft = [v for v in likelihoods if v not in hard]
        width = max([card[v] for v in soft], default=1)
        ev_lik = np.zeros((len(soft), width))
        for k, v in enumerate(soft):
            ev_lik[k, : card[v]] = likelihoods[v]
        return kernel.propagate(
            self.kernel_tree,
            self._ints([self.number[v] for v in hard]),
            self._ints(list(hard.values())),
            self._ints([tree.home[v] for v in soft]),
            self._ints([self.moff[v] for v in soft]),
            ev_lik,
            self._ints([tree.home[v] for v in targets]),
            self._ints([self.moff[v] for v in targets]),
            self._ints([card[v] for v in targets]),
            every,
            not self.calibrated,
            budget,
        )  # fmt: skip

    def rows(
        self, targets: list[str], columns: list[str], codes: np.ndarray
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """:meth:`query` for many rows of hard answers at once (``codes[r, j]``: row ``r``'s
        state index of ``columns[j]``, -1 for none): marginals ``(rows, card)`` per target
        and ``log_z`` per row, in one compiled loop."""
        marginals, log_z, _ = self._rows(targets, columns, codes, UNLIMITED)
        return marginals, log_z

    def visits(self, targets: list[str], columns: list[str], codes: np.ndarray) -> np.ndarray:
        """Clique entries :meth:`rows` would visit for each row (counted, nothing computed)."""
        return self._rows(targets, columns, codes, -1)[2]

    def _rows(self, targets, columns, codes, budget):
        tree = self.tree
        card = tree.card
        out, log_z, touched = kernel.propagate_rows(
            self.kernel_tree,
            self._ints([self.number[c] for c in columns]),
            np.ascontiguousarray(codes, dtype=np.int64),
            self._ints([tree.home[v] for v in targets]),
            self._ints([self.moff[v] for v in targets]),
            self._ints([card[v] for v in targets]),
            not self.calibrated,
            budget,
        )
        return {v: out[:, t, : card[v]] for t, v in enumerate(targets)}, log_z, touched

    @staticmethod
    def _ints(values: list[int]) -> np.ndarray:
        return np.array(values, dtype=np.int64)


def slot_layout(
    tree: JunctionTree, dims: list[tuple[int, ...]]
) -> tuple[dict[str, np.ndarray], list[tuple[tuple[int, ...], list[int]]]]:
    """How the cliques of ``tree`` (clique ``i`` of shape ``dims[i]``) meet, as the compiled
    loops read it (:mod:`model.inference.kernel`): each clique's neighbour slots
    (``nb_ptr``), each slot's directed edges in and out (``nb_in``, ``nb_out``; edge ``2k``
    runs up collect edge ``k``, ``2k + 1`` down it), where each message starts
    (``msg_off``), the collect edges leaves first (``col_child``) with their slots from
    either side (``col_slot_cp``, ``col_slot_pc``) and each clique's child edges
    (``ch_ptr``, ``ch_edge``); and, one per slot in order, the ``(dims, kept)`` of its
    separator map for :func:`flat_indices`. Shared by the single-row and the batch layout."""
    cliques, collect = tree.cliques, tree.collect
    edge_of = {}  # (i, j) -> directed edge from i to j
    for k, (c, p) in enumerate(collect):
        edge_of[(c, p)], edge_of[(p, c)] = 2 * k, 2 * k + 1
    seps = [tree.separator(c, p) for c, p in collect]
    msg_sizes = [
        math.prod([dims[c][cliques[c].index(v)] for v in sep])
        for sep, (c, _) in zip(seps, collect, strict=True)
        for _ in (0, 1)
    ]
    nb_ptr, nb_in, nb_out, maps, slot_of = [0], [], [], [], {}
    for i, clique in enumerate(cliques):
        for j in tree.neighbours[i]:
            d = edge_of[(i, j)]
            slot_of[(i, j)] = len(nb_in)
            nb_out.append(d)
            nb_in.append(d ^ 1)
            maps.append((dims[i], [clique.index(v) for v in seps[d // 2]]))
        nb_ptr.append(len(nb_in))
    children: list[list[int]] = [[] for _ in cliques]  # each clique's child edges
    for k, (_, p) in enumerate(collect):
        children[p].append(k)
    ints = {
        "nb_ptr": nb_ptr,
        "nb_in": nb_in,
        "nb_out": nb_out,
        "col_child": [c for c, _ in collect],
        "col_slot_cp": [slot_of[(c, p)] for c, p in collect],
        "col_slot_pc": [slot_of[(p, c)] for c, p in collect],
        "ch_edge": [k for edges in children for k in edges],
    }
    arrays = {name: np.array(values, dtype=np.int64) for name, values in ints.items()}
    arrays["msg_off"] = offsets(msg_sizes)
    arrays["ch_ptr"] = offsets([len(edges) for edges in children])
    return arrays, maps


def flat_indices(parts: list[tuple[tuple[int, ...], list[int]]]) -> np.ndarray:
    """For each ``(dims, kept)`` in turn, each entry's index on the axes ``kept`` of a table
    of shape ``dims`` (:func:`model.inference.kernel.onto`), one after another in one array
    of 32-bit integers (the kernel's maps)."""
    out = np.empty(sum(math.prod(dims) for dims, _ in parts), dtype=np.int32)
    at = 0
    for dims, kept in parts:
        n = math.prod(dims)
        kernel.onto(
            np.array(dims, dtype=np.int64), np.array(kept, dtype=np.int64), out[at : at + n]
        )
        at += n
    return out


def offsets(sizes: list[int]) -> np.ndarray:
    """Where each of consecutive blocks of these sizes starts, and the end."""
    return np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)


def warm() -> None:
    """Compile the kernel's loops now (numba keeps them on disk), so that the first query of
    a fresh install does not wait seconds for the compiler: ``make run`` and ``make test``
    call this once after installing."""
    card = {"a": 2, "b": 2}
    parents: dict[str, tuple[str, ...]] = {"a": (), "b": ("a",)}
    tables = {"a": np.array([0.5, 0.5]), "b": np.array([[0.9, 0.2], [0.1, 0.8]])}
    tree = CalibratedTree.build(card, parents, tables, max_clique_bytes=2**20)
    tree.query(["a"], {"b": np.array([0.0, 1.0])}, budget=2**20)
    tree.query(["a"], {"b": np.array([0.3, 1.0])}, budget=2**20)
    tree.rows(["a"], ["b"], np.array([[1], [-1]]))
    fresh = CalibratedTree.from_factors(
        tree.tree, [("a",), ("b", "a")], [tables["a"], tables["b"]], 2**20, calibrate=False
    )
    fresh.query(["a"], {"b": np.array([0.0, 1.0])})
    onto_index((2, 2), [1])  # the 64-bit maps of projection matrices

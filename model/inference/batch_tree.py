"""A compiled pattern's junction tree laid out for batches in one compiled loop.

The engine compiles a tree for each pattern of answered variables and targets
(:mod:`model.inference.compiler`) and runs a batch of rows through it. This module lays that
tree out as flat arrays for :mod:`model.inference.batch_kernel` (which runs a block of rows
at once, the rows innermost) and runs it: :func:`propagate` has the signature and the
results of :func:`model.inference.junction.propagate`, for tables without parameter draws.

A layout depends on the tree, the shapes of its clique tables (an answer shared by the whole
batch leaves its variable one state long) and which factors vary by row; the engine keeps
one per such key on its structure (:meth:`model.inference.compiler.Structure.layout`). The
factors shared by every row are multiplied into the clique tables at each call; the per-row
ones are copied into one array, one column per row. Memory beyond the clique tables is
bounded whatever the batch: the messages of a block of rows by :data:`BLOCK_BYTES`, the
staged factors by :data:`DATA_BYTES` (a longer batch runs in parts).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from model.inference import batch_kernel
from model.inference.calibrated import flat_indices, offsets, slot_layout
from model.inference.junction import JunctionTree, align

BLOCK_BYTES = 2**25  # the messages of one block of rows stay within this (32 MB)
DATA_BYTES = 2**27  # the per-row factors staged at once (128 MB): more rows run in parts


@dataclass(frozen=True, eq=False)
class BatchTree:
    """The arrays :func:`model.inference.batch_kernel.run` reads (but the clique tables,
    given at each call), and where each per-row factor's entries go. Immutable: threads
    share it."""

    arrays: dict[str, np.ndarray]
    data_off: np.ndarray  # where each per-row factor starts in the data, and the end

    @classmethod
    def build(
        cls,
        tree: JunctionTree,
        dims: list[tuple[int, ...]],
        operands: list[tuple[tuple[str, ...], int]],
        targets: list[str],
    ) -> BatchTree:
        """The layout of ``tree`` whose clique ``i`` has the shape ``dims[i]``, with the
        per-row factors ``operands`` (scope and clique each, in the order of the data) and
        the marginals of ``targets``."""
        cliques = tree.cliques
        sizes = [math.prod(d) for d in dims]
        slots, maps = slot_layout(tree, dims)  # slot s's separator map is maps[s]
        n_slots = len(maps)
        by_clique: list[list[int]] = [[] for _ in cliques]
        for k, (_, home) in enumerate(operands):
            by_clique[home].append(k)
        op_ptr, op_order, op_map = [0], [], []
        for i, held in enumerate(by_clique):
            for k in held:
                scope = operands[k][0]
                op_order.append(k)
                op_map.append(len(maps))
                maps.append((dims[i], [cliques[i].index(v) for v in scope]))
            op_ptr.append(len(op_order))
        op_sizes = [
            math.prod([dims[home][cliques[home].index(v)] for v in scope])
            for scope, home in operands
        ]
        data_off = offsets(op_sizes)
        tg_map = []
        for v in targets:
            i = tree.home[v]
            tg_map.append(len(maps))
            maps.append((dims[i], [cliques[i].index(v)]))
        map_off = offsets([math.prod(d) for d, _ in maps])
        homes = {tree.home[v] for v in targets}
        down = [bool(tree.below[(c, p)] & homes) for c, p in tree.collect]
        believes = [i in homes or i == tree.root for i in range(len(cliques))]
        for k, (_, p) in enumerate(tree.collect):
            believes[p] = believes[p] or down[k]
        ints = {
            "size": sizes,
            "op_ptr": op_ptr,
            "op_map_off": [map_off[m] for m in op_map],
            "op_data_off": [data_off[k] for k in op_order],
            "nb_map_off": map_off[:n_slots],
            "order": [tree.root] + [c for c, _ in reversed(tree.collect)],
            "tg_home": [tree.home[v] for v in targets],
            "tg_moff": [map_off[m] for m in tg_map],
            "tg_card": [tree.card[v] for v in targets],
        }
        arrays = {name: np.array(values, dtype=np.int64) for name, values in ints.items()}
        arrays.update(slots)
        arrays["maps"] = flat_indices(maps)
        arrays["down"] = np.array(down, dtype=np.bool_)
        arrays["believes"] = np.array(believes, dtype=np.bool_)
        arrays["pot_off"] = offsets(sizes)
        return cls(arrays, data_off)

    def run(self, tables: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Marginals ``(rows, targets, widest)`` and ``log_z`` per row, given the clique
        tables (flat, shared factors in) and the per-row factors (one column per row)."""
        layout = tuple(
            tables if name == "pot" else self.arrays[name] for name in batch_kernel.LAYOUT
        )
        return batch_kernel.run(layout, data, self.block)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values()) + self.data_off.nbytes

    @property
    def block(self) -> int:
        """Rows at a time: :data:`~model.inference.batch_kernel.BLOCK_ROWS`, fewer where the
        messages of that many rows would pass :data:`BLOCK_BYTES` (big separators)."""
        entries = max(1, int(self.arrays["msg_off"][-1]))
        return max(1, min(batch_kernel.BLOCK_ROWS, BLOCK_BYTES // (8 * entries)))


def propagate(
    tree: JunctionTree,
    potentials: list[np.ndarray],
    likelihoods: dict[str, np.ndarray],
    targets: list[str],
    extra: list[tuple[tuple[str, ...], np.ndarray, int]],
    batch: int,
    layout: Callable[[tuple, Callable[[], BatchTree]], BatchTree],
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """:func:`model.inference.junction.propagate` for ``batch`` rows over clique tables
    without parameter draws, in one compiled loop. ``layout(key, build)`` gives the layout
    kept under ``key`` or builds it (the caller keeps them: see the module)."""
    factors = [((v,), lik, tree.home[v]) for v, lik in likelihoods.items()] + list(extra)
    shared = [f for f in factors if f[1].ndim == len(f[0])]
    per_row = [f for f in factors if f[1].ndim != len(f[0])]
    dims = [p.shape for p in potentials]
    operands = [(scope, home) for scope, _, home in per_row]
    key = (tuple(dims), tuple(operands), tuple(targets))
    found = layout(key, lambda: BatchTree.build(tree, dims, operands, targets))
    tables = list(potentials)
    for scope, table, home in shared:
        tables[home] = tables[home] * align(table, scope, tree.cliques[home])
    flat = np.concatenate([np.ravel(t) for t in tables])
    entries = int(found.data_off[-1])
    step = max(1, DATA_BYTES // (8 * max(entries, 1)))  # rows whose factors are staged at once
    parts = []
    for start in range(0, batch, step):
        rows = min(step, batch - start)
        data = np.empty((entries, rows))
        for k, (_, table, _) in enumerate(per_row):
            lo, hi = found.data_off[k], found.data_off[k + 1]
            part = table[start : start + rows] if len(table) == batch else table
            data[lo:hi] = np.broadcast_to(part, (rows, *table.shape[1:])).reshape(rows, -1).T
        parts.append(found.run(flat, data))
    marginals = np.concatenate([m for m, _ in parts])
    log_z = np.concatenate([z for _, z in parts])
    return {v: marginals[:, j, : tree.card[v]] for j, v in enumerate(targets)}, log_z

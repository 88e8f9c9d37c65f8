"""Compiled loops (numba) for a batch of rows through one compiled pattern's junction tree.

Batched numpy (:mod:`model.inference.junction`) pays a few microseconds per call and makes a
temporary for every product; on our network's pruned trees (a few hundred entries per row,
some forty per-row factors) most of a batch's time went there. These loops do a block of
rows at once, the rows innermost: each clique entry's index into a factor or a message is
read once and then multiplied across the block's rows in one contiguous run, so the cost of
finding an entry is shared by the rows and the arithmetic vectorises.

The layout (:class:`model.inference.batch_tree.BatchTree` builds it; the names follow
:mod:`model.inference.kernel`):

- clique ``i``'s table is ``pot[pot_off[i] : pot_off[i] + size[i]]``, its factors shared by
  every row already multiplied in;
- its per-row factors are the operands ``op_ptr[i] .. op_ptr[i + 1]``: operand ``o``'s entry
  for clique entry ``e`` is row ``op_data_off[o] + maps[op_map_off[o] + e]`` of ``data``,
  whose columns are the batch's rows;
- its neighbours are the slots ``nb_ptr[i] .. nb_ptr[i + 1]``, as in the single-row kernel;
  directed edge ``d``'s message is rows ``msg_off[d] .. msg_off[d + 1]`` of ``msg`` (one
  column per row of the block), normalised per row with its log scale in ``scale[d]``;
- every message is sent up the tree (its root's total is ``P(evidence)``), and down only
  towards the cliques of targets (``down``); ``believes`` marks the cliques that form their
  belief (Hugin: a message down is the belief over the separator divided by the message up).

No answer is "fixed" here: the rows of a block answer differently, so a hard answer is a
one-hot factor like any other (an answer shared by the whole batch was sliced out of the
tables before, see :meth:`model.inference.compiler.Structure.potentials`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

LAYOUT = (  # the arrays of a flattened tree, in the order the loops unpack them
    "pot", "pot_off", "size", "op_ptr", "op_map_off", "op_data_off", "nb_ptr", "nb_in",
    "nb_out", "nb_map_off", "maps", "msg_off", "col_child", "col_slot_cp", "col_slot_pc",
    "ch_ptr", "ch_edge", "down", "believes", "order", "tg_home", "tg_moff", "tg_card",
)  # fmt: skip
BLOCK_ROWS = 32  # rows at a time: a clique entry's run across them is 4 cache lines
WORK = 4096  # entries x rows multiplied together at a time: they stay in the L1/L2 cache


@njit(cache=True, nogil=True)
def run(layout, data, block):
    """Every row of ``data`` (one column per row) through the tree, ``block`` rows at a
    time. Returns ``(marginals[r, t, :card], log_z[r])``: NaN marginals and ``-inf`` where a
    row's evidence is impossible."""
    (pot, pot_off, size, op_ptr, op_map_off, op_data_off, nb_ptr, nb_in, nb_out, nb_map_off,
     maps, msg_off, col_child, col_slot_cp, col_slot_pc, ch_ptr, ch_edge, down, believes,
     order, tg_home, tg_moff, tg_card) = layout  # fmt: skip
    rows = data.shape[1]
    n_targets = tg_home.shape[0]
    widest = 1
    for j in range(n_targets):
        widest = max(widest, tg_card[j])
    marginals = np.zeros((rows, n_targets, widest))
    log_z = np.empty(rows)
    n_edges = col_child.shape[0]
    msg = np.zeros((msg_off[-1], block))
    scale = np.zeros((msg_off.shape[0] - 1, block))
    entries = max(1, WORK // block)
    work = np.empty((entries, block))
    total = np.empty(block)  # what a message summed to
    belief = np.empty(block)  # what a clique's belief sums to
    below = np.empty(block)
    found = np.zeros((n_targets * widest, block))
    degree = 1
    for i in range(size.shape[0]):
        degree = max(degree, nb_ptr[i + 1] - nb_ptr[i])
    send = np.zeros(degree, np.bool_)
    for r0 in range(0, rows, block):
        width = min(block, rows - r0)
        for k in range(n_edges):  # upward, leaves first: every message (Shafer-Shenoy)
            c = col_child[k]
            slot = col_slot_cp[k]
            d = nb_out[slot]
            lo, hi = msg_off[d], msg_off[d + 1]
            msg[lo:hi, :width] = 0.0
            for start in range(0, size[c], entries):
                n = min(entries, size[c] - start)
                _fill(c, slot, start, n, width, r0, layout, data, msg, work)
                _scatter(start, n, width, work, maps, nb_map_off[slot], msg, lo)
            _normalise(msg, lo, hi, width, total)
            _sum_scales(c, slot, nb_ptr, nb_in, scale, width, below)
            for b in range(width):
                scale[d, b] = math.log(total[b]) + below[b] if total[b] > 0.0 else -np.inf
        # downward, root first: each believing clique forms its belief once
        for step in range(order.shape[0]):
            i = order[step]
            if not believes[i]:
                continue
            lo_s = nb_ptr[i]
            send[:] = False
            for x in range(ch_ptr[i], ch_ptr[i + 1]):
                k = ch_edge[x]
                if down[k]:
                    send[col_slot_pc[k] - lo_s] = True
                    d = nb_out[col_slot_pc[k]]
                    msg[msg_off[d] : msg_off[d + 1], :width] = 0.0
            found[:, :width] = 0.0
            belief[:width] = 0.0
            for start in range(0, size[i], entries):
                n = min(entries, size[i] - start)
                _fill(i, -1, start, n, width, r0, layout, data, msg, work)
                for q in range(n):
                    for b in range(width):
                        belief[b] += work[q, b]
                for s in range(lo_s, nb_ptr[i + 1]):
                    if send[s - lo_s]:
                        _scatter(start, n, width, work, maps, nb_map_off[s], msg,
                                 msg_off[nb_out[s]])  # fmt: skip
                for j in range(n_targets):
                    if tg_home[j] == i:
                        _scatter(start, n, width, work, maps, tg_moff[j], found, j * widest)
            _sum_scales(i, -1, nb_ptr, nb_in, scale, width, below)
            for s in range(lo_s, nb_ptr[i + 1]):
                if send[s - lo_s]:
                    _divide(s, nb_out, nb_in, msg_off, msg, scale, width, below, total)
            for j in range(n_targets):
                if tg_home[j] == i:
                    for x in range(tg_card[j]):
                        for b in range(width):
                            t = belief[b]
                            marginals[r0 + b, j, x] = (
                                found[j * widest + x, b] / t if t > 0.0 else np.nan
                            )
            if step == 0:  # the root: its total with its incoming scales is P(evidence)
                for b in range(width):
                    t = belief[b]
                    log_z[r0 + b] = (
                        math.log(t) + below[b] if t > 0.0 and below[b] > -np.inf else -np.inf
                    )
    for r in range(rows):
        if log_z[r] == -np.inf:
            marginals[r] = np.nan
    return marginals, log_z


@njit(cache=True, nogil=True)
def _fill(i, skip, start, n, width, r0, layout, data, msg, work):
    """``work[:n, :width]``: clique ``i``'s product at entries ``start .. start + n`` for
    the block's rows: its shared table, its per-row factors and the messages into it
    through every slot but ``skip`` (-1: none)."""
    pot, pot_off, op_ptr, op_map_off, op_data_off = (
        layout[0],
        layout[1],
        layout[3],
        layout[4],
        layout[5],
    )
    nb_ptr, nb_in, nb_map_off, maps, msg_off = (
        layout[6],
        layout[7],
        layout[9],
        layout[10],
        layout[11],
    )
    base = pot_off[i] + start
    for q in range(n):
        p = pot[base + q]
        for b in range(width):
            work[q, b] = p
    for o in range(op_ptr[i], op_ptr[i + 1]):
        mp = op_map_off[o] + start
        lo = op_data_off[o]
        for q in range(n):
            x = lo + maps[mp + q]
            for b in range(width):
                work[q, b] *= data[x, r0 + b]
    for s in range(nb_ptr[i], nb_ptr[i + 1]):
        if s == skip:
            continue
        mp = nb_map_off[s] + start
        lo = msg_off[nb_in[s]]
        for q in range(n):
            x = lo + maps[mp + q]
            for b in range(width):
                work[q, b] *= msg[x, b]


@njit(cache=True, nogil=True)
def _scatter(start, n, width, work, maps, mp, out, lo):
    """``out[lo + map(e)] += work[q]`` for each row of the block: a sum onto a separator."""
    mp += start
    for q in range(n):
        x = lo + maps[mp + q]
        for b in range(width):
            out[x, b] += work[q, b]


@njit(cache=True, nogil=True)
def _normalise(msg, lo, hi, width, total):
    """Scale each row's ``msg[lo:hi]`` to sum to one; ``total`` gets what each summed to."""
    total[:width] = 0.0
    for x in range(lo, hi):
        for b in range(width):
            total[b] += msg[x, b]
    for x in range(lo, hi):
        for b in range(width):
            if total[b] > 0.0:
                msg[x, b] /= total[b]


@njit(cache=True, nogil=True)
def _sum_scales(i, skip, nb_ptr, nb_in, scale, width, below):
    """``below``: per row, the log scales of the messages into ``i`` but through ``skip``."""
    below[:width] = 0.0
    for s in range(nb_ptr[i], nb_ptr[i + 1]):
        if s != skip:
            for b in range(width):
                below[b] += scale[nb_in[s], b]


@njit(cache=True, nogil=True)
def _divide(s, nb_out, nb_in, msg_off, msg, scale, width, below, total):
    """The message out through slot ``s``: the belief's sum over the separator (already in
    place) divided by the message in through ``s`` (where that is zero, so is the sum: 0/0
    is 0), normalised per row, with its log scale."""
    d = nb_out[s]
    back = nb_in[s]
    lo, hi, lo_b = msg_off[d], msg_off[d + 1], msg_off[back]
    for x in range(hi - lo):
        for b in range(width):
            m = msg[lo_b + x, b]
            msg[lo + x, b] = msg[lo + x, b] / m if m > 0.0 else 0.0
    _normalise(msg, lo, hi, width, total)
    for b in range(width):
        if total[b] > 0.0 and below[b] > -np.inf:
            scale[d, b] = math.log(total[b]) + below[b] - scale[back, b]
        else:
            scale[d, b] = -np.inf

"""Compiled loops (numba) for message passing on a flattened junction tree.

numpy's cost per call (a few microseconds) dominates on the small clique tables of most
networks: a query sending fifty messages spends far more in calls than in arithmetic. These
loops do the arithmetic of one whole query in one call, with no Python in between, over the
flat arrays :class:`model.inference.calibrated.CalibratedTree` lays out:

- clique ``i``'s table is ``pot[pot_off[i] : pot_off[i] + size[i]]`` (C order, the clique's
  axes in the tree's variable order); its axes are ``ax_ptr[i] .. ax_ptr[i + 1]``, each with
  its number of states ``ax_card`` and stride ``ax_stride``;
- variable ``v`` is axis ``var_axis[x]`` of every clique ``x`` in ``var_ptr[v] ..
  var_ptr[v + 1]``;
- clique ``i``'s neighbours are the *slots* ``nb_ptr[i] .. nb_ptr[i + 1]``; slot ``s`` names
  the directed edge into ``i`` (``nb_in[s]``), the one out of ``i`` (``nb_out[s]``), and where
  in ``maps`` the separator index of each of ``i``'s entries starts (``nb_map_off[s]``);
- directed edge ``d``'s message is ``msg[msg_off[d] : msg_off[d + 1]]``, normalised to sum
  to one, with its log scale ``scale[d]`` (the log of what it summed to, plus the scales of
  the messages it was made from), so long products never underflow;
- the tree is rooted: ``col_child[k] -> col_parent[k]`` are its edges leaves first, with the
  slots that name each edge from the child's side and from the parent's; clique ``i``'s edges
  to its children are ``ch_edge[ch_ptr[i] : ch_ptr[i + 1]]``.

A hard answer ``v = s`` restricts every clique holding ``v`` that a query visits to its
entries with ``v = s`` (the others would be multiplied by zero wherever they meet the
answer's own clique, and a message's scale absorbs what it leaves out), so answers make the
work smaller, not just the result. Soft answers multiply their likelihoods in at their home
clique. The state of a variable in entry ``e`` of its home clique is ``vmaps[moff + e]``,
``moff`` where its map starts (the kernel never divides an index to find a state).

Compiled once per machine and cached on disk (numba's ``cache=True``); ``nogil`` lets the
callers' threads run side by side.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

TREE = (  # the arrays that describe a flattened tree, in the order the kernel unpacks them
    "pot", "pot_off", "size", "ax_ptr", "ax_card", "ax_stride", "var_ptr", "var_clique",
    "var_axis", "nb_ptr", "nb_in", "nb_out", "nb_map_off", "maps", "prior_msg", "msg_off",
    "prior_scale", "col_child", "col_parent", "col_slot_cp", "col_slot_pc", "ch_ptr", "ch_edge",
    "vmaps",
)  # fmt: skip
BLOCK = 2048  # entries multiplied together at a time: their products stay in the L1 cache


@njit(cache=True, nogil=True)
def onto(dims, kept, out):
    """``out[e]``: entry ``e``'s flat index on the axes ``kept`` of a C-order table of shape
    ``dims`` (the first kept axis the slowest): a run along the last axis at a time, an
    odometer over the others between runs."""
    n = dims.shape[0]
    stride = np.zeros(n, np.int64)  # each axis's stride on the kept axes (0: not kept)
    s = 1
    for k in range(kept.shape[0] - 1, -1, -1):
        stride[kept[k]] = s
        s *= dims[kept[k]]
    if n == 0:
        out[:] = 0
        return
    last, step = dims[n - 1], stride[n - 1]
    digits = np.zeros(n, np.int64)
    index = 0
    for start in range(0, out.shape[0], last):
        for q in range(last):
            out[start + q] = index + q * step
        a = n - 2
        while a >= 0:
            digits[a] += 1
            index += stride[a]
            if digits[a] < dims[a]:
                break
            index -= stride[a] * dims[a]
            digits[a] = 0
            a -= 1


@njit(cache=True, nogil=True)
def _entries(i, ax_ptr, ax_card, ax_stride, fixed, ent, free, digits):
    """The entries of clique ``i`` consistent with the fixed axes (``fixed[a] >= 0``), in
    order, into ``ent``; returns how many, or -1 if no axis is fixed (every entry)."""
    lo = ax_ptr[i]
    hi = ax_ptr[i + 1]
    base = 0
    n_free = 0
    for a in range(lo, hi):
        if fixed[a] >= 0:
            base += fixed[a] * ax_stride[a]
        else:
            n_free += 1
    if n_free == hi - lo:
        return -1
    k = 0
    for a in range(lo, hi):
        if fixed[a] < 0:
            free[k] = a
            k += 1
    digits[:n_free] = 0
    m = 0
    e = base
    while True:
        ent[m] = e
        m += 1
        k = n_free - 1
        while k >= 0:
            a = free[k]
            digits[k] += 1
            e += ax_stride[a]
            if digits[k] < ax_card[a]:
                break
            e -= ax_stride[a] * ax_card[a]
            digits[k] = 0
            k -= 1
        if k < 0:
            return m


@njit(cache=True, nogil=True)
def _visit(i, size, ax_ptr, ax_card, ax_stride, fixed, buffer, free, digits):
    """The entries a visit of clique ``i`` covers: ``(m, ent)`` with ``ent`` empty when
    every entry is covered (``m = size[i]``)."""
    m = _entries(i, ax_ptr, ax_card, ax_stride, fixed, buffer, free, digits)
    if m < 0:
        return size[i], buffer[:0]
    return m, buffer[:m]


@njit(cache=True, nogil=True)
def _fill(i, skip, start, n, ent, t, nb_ptr, nb_in, nb_map_off, msg_off, work):
    """``work[:n]``: clique ``i``'s product at its entries ``start .. start + n`` of ``ent``
    (or of all its entries, when ``ent`` is empty): its table, the soft evidence it holds
    and the messages into it through every slot but ``skip`` (-1: none), each multiplied in
    by its own simple loop over a block small enough to stay in cache."""
    (pot, pot_off, msg, maps, vmaps, ev_home, ev_moff, ev_lik) = t  # fmt: skip
    base = pot_off[i]
    sparse = ent.shape[0] > 0
    if sparse:
        for q in range(n):
            work[q] = pot[base + ent[start + q]]
    else:
        work[:n] = pot[base + start : base + start + n]
    for k in range(ev_home.shape[0]):
        if ev_home[k] == i:
            mo = ev_moff[k]
            for q in range(n):
                e = ent[start + q] if sparse else start + q
                work[q] *= ev_lik[k, vmaps[mo + e]]
    for s in range(nb_ptr[i], nb_ptr[i + 1]):
        if s == skip:
            continue
        mo = msg_off[nb_in[s]]
        mp = nb_map_off[s]
        if sparse:
            for q in range(n):
                work[q] *= msg[mo + maps[mp + ent[start + q]]]
        else:
            mp += start
            for q in range(n):
                work[q] *= msg[mo + maps[mp + q]]


@njit(cache=True, nogil=True)
def _below(i, skip, nb_ptr, nb_in, scale):
    """The sum of the log scales of the messages into ``i`` through every slot but
    ``skip``."""
    below = 0.0
    for s in range(nb_ptr[i], nb_ptr[i + 1]):
        if s != skip:
            below += scale[nb_in[s]]
    return below


@njit(cache=True, nogil=True)
def _scatter(start, n, ent, work, maps, mp, out, lo):
    """``out[lo + map(e)] += work[q]`` over a block of entries: a sum onto a separator."""
    if ent.shape[0] > 0:
        for q in range(n):
            out[lo + maps[mp + ent[start + q]]] += work[q]
    else:
        mp += start
        for q in range(n):
            out[lo + maps[mp + q]] += work[q]


@njit(cache=True, nogil=True)
def _normalise(msg, lo, hi):
    """Scale ``msg[lo:hi]`` to sum to one; returns what it summed to."""
    total = 0.0
    for x in range(lo, hi):
        total += msg[x]
    if total > 0.0:
        for x in range(lo, hi):
            msg[x] /= total
    return total


@njit(cache=True, nogil=True)
def _send_up(i, slot, m, ent, t, nb_ptr, nb_in, nb_out, nb_map_off, msg_off, scale, work):
    """Clique ``i``'s message through ``slot`` (Shafer-Shenoy: its product without that
    slot's incoming message, summed onto the separator), normalised, with its log scale."""
    msg, maps = t[2], t[3]
    d = nb_out[slot]
    lo = msg_off[d]
    msg[lo : msg_off[d + 1]] = 0.0
    for start in range(0, m, BLOCK):
        n = min(BLOCK, m - start)
        _fill(i, slot, start, n, ent, t, nb_ptr, nb_in, nb_map_off, msg_off, work)
        _scatter(start, n, ent, work, maps, nb_map_off[slot], msg, lo)
    total = _normalise(msg, lo, msg_off[d + 1])
    below = _below(i, slot, nb_ptr, nb_in, scale)
    scale[d] = math.log(total) + below if total > 0.0 else -np.inf


@njit(cache=True, nogil=True)
def _believe(i, m, ent, t, nb_ptr, nb_in, nb_out, nb_map_off, msg_off, scale, send,
             tg_home, tg_moff, tg_card, marginals, work):  # fmt: skip
    """Clique ``i``'s belief, formed once: summed onto the separator of each slot marked in
    ``send`` (then divided by that slot's incoming message: Hugin; where that message is
    zero the belief is zero too, so 0/0 is taken as 0) and onto each target it is home to.
    Returns the log of its total with its incoming messages' scales: ``log P(evidence)``."""
    msg, maps, vmaps = t[2], t[3], t[4]
    lo_s = nb_ptr[i]
    for s in range(lo_s, nb_ptr[i + 1]):
        if send[s - lo_s]:
            d = nb_out[s]
            msg[msg_off[d] : msg_off[d + 1]] = 0.0
    sparse = ent.shape[0] > 0
    total = 0.0
    for start in range(0, m, BLOCK):
        n = min(BLOCK, m - start)
        _fill(i, -1, start, n, ent, t, nb_ptr, nb_in, nb_map_off, msg_off, work)
        for q in range(n):
            total += work[q]
        for s in range(lo_s, nb_ptr[i + 1]):
            if send[s - lo_s]:
                _scatter(start, n, ent, work, maps, nb_map_off[s], msg, msg_off[nb_out[s]])
        for j in range(tg_home.shape[0]):
            if tg_home[j] == i:
                mo = tg_moff[j]
                for q in range(n):
                    e = ent[start + q] if sparse else start + q
                    marginals[j, vmaps[mo + e]] += work[q]
    below = _below(i, -1, nb_ptr, nb_in, scale)
    for s in range(lo_s, nb_ptr[i + 1]):
        if not send[s - lo_s]:
            continue
        d = nb_out[s]
        lo = msg_off[d]
        n = msg_off[d + 1] - lo
        back = nb_in[s]
        lo_b = msg_off[back]
        for x in range(n):
            if msg[lo_b + x] > 0.0:
                msg[lo + x] /= msg[lo_b + x]
            else:
                msg[lo + x] = 0.0
        sent = _normalise(msg, lo, lo + n)
        if sent > 0.0 and below > -np.inf:
            scale[d] = math.log(sent) + below - scale[back]
        else:
            scale[d] = -np.inf
    for j in range(tg_home.shape[0]):
        if tg_home[j] == i:
            for x in range(tg_card[j]):
                marginals[j, x] = marginals[j, x] / total if total > 0.0 else np.nan
    return math.log(total) + below if total > 0.0 else -np.inf


@njit(cache=True, nogil=True)
def propagate(tree, hard_var, hard_state, ev_home, ev_moff, ev_lik,
              tg_home, tg_moff, tg_card, every, fresh, budget):  # fmt: skip
    """One query: the messages the evidence changes that lead to a target's clique, then
    each target's marginal. ``tree`` is the tuple of arrays :data:`TREE` names.

    Hard answers are ``hard_var`` (variable numbers) and ``hard_state``; soft ones their
    home cliques ``ev_home`` with their likelihood rows ``ev_lik``. Returns ``(marginals,
    log_z, msg, scale, touched)``: ``marginals[t, :card]`` normalised (NaN when the evidence
    is impossible), ``log_z = log P(evidence)``, the messages (the prior ones where
    unchanged) and the clique entries the work visits at most. With ``every`` set, every
    message is sent (calibration); with ``fresh`` the tree holds no calibrated messages (a
    pattern's own tree): every message that leads to a target is sent. If the work would
    visit more than ``budget`` clique entries nothing is done.
    """
    prior_msg, prior_scale = tree[14], tree[16]
    marginals = np.zeros((tg_home.shape[0], _widest(tg_card)))
    msg = prior_msg.copy()
    scale = prior_scale.copy()
    buffers = _buffers(tree)
    log_z, touched = _query(tree, msg, scale, hard_var, hard_state, ev_home, ev_moff,
                            ev_lik, tg_home, tg_moff, tg_card, every, fresh, budget,
                            buffers, marginals)  # fmt: skip
    return marginals, log_z, msg, scale, touched


@njit(cache=True, nogil=True)
def propagate_rows(tree, columns, codes, tg_home, tg_moff, tg_card, fresh, budget):
    """:func:`propagate` for many rows of hard answers: ``codes[r, j]`` is row ``r``'s state
    of variable ``columns[j]``, or -1 for none. Returns ``(marginals[r, t, :card], log_z[r],
    touched[r])``; the buffers are made once for all rows. A row that would visit more than
    ``budget`` clique entries is only counted (its marginals left zero). ``fresh`` as in
    :func:`propagate` (a tree with no calibrated messages)."""
    prior_msg, prior_scale = tree[14], tree[16]
    rows = codes.shape[0]
    out = np.zeros((rows, tg_home.shape[0], _widest(tg_card)))
    log_z = np.empty(rows)
    touched = np.empty(rows, np.int64)
    msg = prior_msg.copy()
    scale = prior_scale.copy()
    buffers = _buffers(tree)
    hard_var = np.empty(columns.shape[0], np.int64)
    hard_state = np.empty(columns.shape[0], np.int64)
    no_home = np.zeros(0, np.int64)
    no_lik = np.zeros((0, 1))
    for r in range(rows):
        n = 0
        for j in range(columns.shape[0]):
            if codes[r, j] >= 0:
                hard_var[n] = columns[j]
                hard_state[n] = codes[r, j]
                n += 1
        msg[:] = prior_msg
        scale[:] = prior_scale
        log_z[r], touched[r] = _query(tree, msg, scale, hard_var[:n], hard_state[:n], no_home,
                                      no_home, no_lik, tg_home, tg_moff, tg_card, False,
                                      fresh, budget, buffers, out[r])  # fmt: skip
    return out, log_z, touched


@njit(cache=True, nogil=True)
def _widest(cards):
    widest = 1
    for k in range(cards.shape[0]):
        widest = max(widest, cards[k])
    return widest


@njit(cache=True, nogil=True)
def _buffers(tree):
    """Work space for one query at a time, made once for many: the fixed axes, an entry
    list and a block of products, a flag per slot of the busiest clique, an odometer over a
    clique's axes, and per clique and per edge the counts and flags of the schedule."""
    size, ax_ptr, ax_card, nb_ptr, col_child = tree[2], tree[3], tree[4], tree[9], tree[17]
    n = size.shape[0]
    largest = 1
    degree = 1
    axes = 1
    for i in range(n):
        largest = max(largest, size[i])
        degree = max(degree, nb_ptr[i + 1] - nb_ptr[i])
        axes = max(axes, ax_ptr[i + 1] - ax_ptr[i])
    edges = col_child.shape[0]
    return (
        np.empty(ax_card.shape[0], np.int64),  # fixed
        np.empty(largest, np.int64),  # buffer (entries)
        np.zeros(degree, np.bool_),  # send
        np.empty(BLOCK),  # work
        np.empty(axes, np.int64),  # free axes
        np.empty(axes, np.int64),  # digits
        np.zeros(n, np.int64),  # ev_sub
        np.zeros(n, np.int64),  # end_sub
        np.zeros(n, np.bool_),  # is_end
        np.zeros(edges, np.bool_),  # up
        np.zeros(edges, np.bool_),  # down
        np.zeros(n, np.bool_),  # believes
    )


@njit(cache=True, nogil=True)
def _query(tree, msg, scale, hard_var, hard_state, ev_home, ev_moff, ev_lik,
           tg_home, tg_moff, tg_card, every, fresh, budget, buffers, marginals):  # fmt: skip
    """The work of :func:`propagate` in buffers the caller owns (``msg`` and ``scale`` hold
    the prior messages on entry); writes ``marginals``, returns ``(log_z, touched)``."""
    (pot, pot_off, size, ax_ptr, ax_card, ax_stride, var_ptr, var_clique, var_axis, nb_ptr,
     nb_in, nb_out, nb_map_off, maps, _, msg_off, _, col_child, col_parent, col_slot_cp,
     col_slot_pc, ch_ptr, ch_edge, vmaps) = tree  # fmt: skip
    fixed, buffer, send, work, free, digits, ev_sub, end_sub, is_end, up, down, believes = buffers
    n_cliques = size.shape[0]
    n_edges = col_child.shape[0]
    fixed[:] = -1
    marginals[:] = 0.0
    ev_sub[:] = 0
    end_sub[:] = 0
    is_end[:] = False
    for k in range(hard_var.shape[0]):
        v = hard_var[k]
        for x in range(var_ptr[v], var_ptr[v + 1]):
            fixed[var_axis[x]] = hard_state[k]
        ev_sub[var_clique[var_ptr[v]]] += 1  # the first clique listed is its home
    for k in range(ev_home.shape[0]):
        ev_sub[ev_home[k]] += 1
    for k in range(tg_home.shape[0]):
        is_end[tg_home[k]] = True
    if tg_home.shape[0] == 0:  # no targets: one answered clique gives log_z
        for i in range(n_cliques):
            if ev_sub[i] > 0:
                is_end[i] = True
                break
    for i in range(n_cliques):
        if is_end[i]:
            end_sub[i] = 1
    for k in range(n_edges):  # leaves first: counts under each clique
        ev_sub[col_parent[k]] += ev_sub[col_child[k]]
        end_sub[col_parent[k]] += end_sub[col_child[k]]
    root = col_parent[n_edges - 1] if n_edges > 0 else 0
    ev_all = ev_sub[root]
    end_all = end_sub[root]
    believes[:] = is_end  # the cliques that form their belief on the way down
    for k in range(n_edges):
        c = col_child[k]
        # calibrated: a message changes only where evidence lies on its sender's side;
        # fresh: every message is computed, those that lead to a target
        up[k] = every or ((fresh or ev_sub[c] > 0) and end_all - end_sub[c] > 0)
        down[k] = every or ((fresh or ev_all - ev_sub[c] > 0) and end_sub[c] > 0)
        if down[k]:
            believes[col_parent[k]] = True
    touched = 0
    for i in range(n_cliques):  # entries a visit covers, the answered axes fixed
        visited = size[i]
        for a in range(ax_ptr[i], ax_ptr[i + 1]):
            if fixed[a] >= 0:
                visited //= ax_card[a]
        if believes[i]:
            touched += visited
    for k in range(n_edges):
        if up[k]:
            c = col_child[k]
            visited = size[c]
            for a in range(ax_ptr[c], ax_ptr[c + 1]):
                if fixed[a] >= 0:
                    visited //= ax_card[a]
            touched += visited
    if touched > budget:
        return 0.0, touched
    t = (pot, pot_off, msg, maps, vmaps, ev_home, ev_moff, ev_lik)
    for k in range(n_edges):  # upward, leaves first (Shafer-Shenoy)
        if up[k]:
            c = col_child[k]
            m, ent = _visit(c, size, ax_ptr, ax_card, ax_stride, fixed, buffer, free, digits)
            _send_up(c, col_slot_cp[k], m, ent, t, nb_ptr, nb_in, nb_out, nb_map_off, msg_off,
                     scale, work)  # fmt: skip
    # downward, root first: a clique that sends down or holds a target forms its belief
    # once, and its children's messages come from it by division (Hugin)
    log_z = 0.0
    first = True
    for step in range(n_edges + 1):  # the root, then each edge's child, root side first
        i = root if step == 0 else col_child[n_edges - step]
        if not believes[i]:
            continue
        send[:] = False
        for x in range(ch_ptr[i], ch_ptr[i + 1]):
            k = ch_edge[x]
            if down[k]:
                send[col_slot_pc[k] - nb_ptr[i]] = True
        m, ent = _visit(i, size, ax_ptr, ax_card, ax_stride, fixed, buffer, free, digits)
        z = _believe(i, m, ent, t, nb_ptr, nb_in, nb_out, nb_map_off, msg_off, scale, send,
                     tg_home, tg_moff, tg_card, marginals, work)  # fmt: skip
        if is_end[i] and first:
            log_z = z
            first = False
    return log_z, touched

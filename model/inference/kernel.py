"""Compiled loops (numba) for message passing on a flattened junction tree.

numpy's cost per call (a few microseconds) dominates on the small clique tables of most
networks: a query sending fifty messages spends far more in calls than in arithmetic. These
loops do the arithmetic of one whole query in one call, with no Python in between, over the
flat arrays :class:`model.inference.calibrated.CalibratedTree` lays out:

- clique ``i``'s table is ``pot[pot_off[i] : pot_off[i] + size[i]]`` (C order, the clique's
  axes in the tree's variable order);
- its neighbours are the *slots* ``nb_ptr[i] .. nb_ptr[i + 1]``; slot ``s`` names the
  directed edge into ``i`` (``nb_in[s]``), the one out of ``i`` (``nb_out[s]``), and where in
  ``maps`` the separator index of each of ``i``'s entries starts (``nb_map_off[s]``);
- directed edge ``d``'s message is ``msg[msg_off[d] : msg_off[d + 1]]``, normalised to sum
  to one, with its log scale ``scale[d]`` (the log of what it summed to, plus the scales of
  the messages it was made from), so long products never underflow;
- the tree is rooted: ``col_child[k] -> col_parent[k]`` are its edges leaves first, with the
  slots that name each edge from the child's side and from the parent's.

Variables are found in a clique by stride: the state of a variable with stride ``st`` and
``cd`` states in entry ``e`` is ``(e // st) % cd``.

Compiled once per machine and cached on disk (numba's ``cache=True``); ``nogil`` lets the
batch scorer's threads run side by side.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _product(i, pot, pot_off, size, ev_home, ev_stride, ev_card, ev_lik, work):
    """``work[:size[i]]``: clique ``i``'s table times the evidence it holds; returns
    ``size[i]``."""
    n = size[i]
    base = pot_off[i]
    for e in range(n):
        work[e] = pot[base + e]
    for k in range(ev_home.shape[0]):
        if ev_home[k] == i:
            st = ev_stride[k]
            cd = ev_card[k]
            for e in range(n):
                work[e] *= ev_lik[k, (e // st) % cd]
    return n


@njit(cache=True, nogil=True)
def _times_messages(i, skip, size, nb_ptr, nb_in, nb_map_off, maps, msg, msg_off, scale, work):
    """Multiply ``work`` (clique ``i``) by the messages into ``i`` through every slot but
    ``skip``; returns the sum of their log scales."""
    n = size[i]
    total = 0.0
    for s in range(nb_ptr[i], nb_ptr[i + 1]):
        if s == skip:
            continue
        d = nb_in[s]
        mo = msg_off[d]
        mp = nb_map_off[s]
        for e in range(n):
            work[e] *= msg[mo + maps[mp + e]]
        total += scale[d]
    return total


@njit(cache=True, nogil=True)
def _send(i, slot, pot, pot_off, size, nb_ptr, nb_in, nb_out, nb_map_off, maps, msg, msg_off,
          scale, ev_home, ev_stride, ev_card, ev_lik, work):  # fmt: skip
    """Clique ``i``'s message through ``slot``: its product without that slot's incoming
    message, summed onto the separator, normalised, with its log scale."""
    n = _product(i, pot, pot_off, size, ev_home, ev_stride, ev_card, ev_lik, work)
    below = _times_messages(i, slot, size, nb_ptr, nb_in, nb_map_off, maps, msg, msg_off,
                            scale, work)  # fmt: skip
    d = nb_out[slot]
    lo = msg_off[d]
    hi = msg_off[d + 1]
    for x in range(lo, hi):
        msg[x] = 0.0
    mp = nb_map_off[slot]
    for e in range(n):
        msg[lo + maps[mp + e]] += work[e]
    total = 0.0
    for x in range(lo, hi):
        total += msg[x]
    if total > 0.0:
        for x in range(lo, hi):
            msg[x] /= total
        scale[d] = math.log(total) + below
    else:
        scale[d] = -np.inf


@njit(cache=True, nogil=True)
def propagate(pot, pot_off, size, nb_ptr, nb_in, nb_out, nb_map_off, maps, prior_msg, msg_off,
              prior_scale, col_child, col_parent, col_slot_cp, col_slot_pc,
              ev_home, ev_stride, ev_card, ev_lik, tg_home, tg_stride, tg_card,
              every, budget):  # fmt: skip
    """One query: the messages the evidence changes that lead to a target's clique, then
    each target's marginal.

    Returns ``(marginals, log_z, msg, scale, touched)``: ``marginals[t, :card]`` normalised
    (NaN when the evidence is impossible), ``log z = log P(evidence)``, the messages (the
    prior ones where unchanged) and the clique entries visited. With ``every`` set, every
    message is sent (calibration); if the work would visit more than ``budget`` clique
    entries nothing is done and ``touched`` says how many it would have been.
    """
    n_cliques = size.shape[0]
    n_edges = col_child.shape[0]
    msg = prior_msg.copy()
    scale = prior_scale.copy()
    ev_sub = np.zeros(n_cliques, np.int64)
    end_sub = np.zeros(n_cliques, np.int64)
    for k in range(ev_home.shape[0]):
        ev_sub[ev_home[k]] += 1
    is_end = np.zeros(n_cliques, np.bool_)
    for k in range(tg_home.shape[0]):
        is_end[tg_home[k]] = True
    if tg_home.shape[0] == 0 and ev_home.shape[0] > 0:
        is_end[ev_home[0]] = True  # no targets: one evidence clique gives log_z
    for i in range(n_cliques):
        if is_end[i]:
            end_sub[i] = 1
    for k in range(n_edges):  # leaves first: counts under each clique
        ev_sub[col_parent[k]] += ev_sub[col_child[k]]
        end_sub[col_parent[k]] += end_sub[col_child[k]]
    # the root is the last parent (or the only clique)
    root = col_parent[n_edges - 1] if n_edges > 0 else 0
    ev_all = ev_sub[root]
    end_all = end_sub[root]
    up = np.zeros(n_edges, np.bool_)
    down = np.zeros(n_edges, np.bool_)
    touched = 0
    for k in range(n_edges):
        c = col_child[k]
        p = col_parent[k]
        up[k] = every or (ev_sub[c] > 0 and end_all - end_sub[c] > 0)
        down[k] = every or (ev_all - ev_sub[c] > 0 and end_sub[c] > 0)
        if up[k]:
            touched += size[c]
        if down[k]:
            touched += size[p]
    for i in range(n_cliques):
        if is_end[i]:
            touched += size[i]
    maxcard = ev_lik.shape[1] if ev_lik.shape[0] > 0 else 1
    for k in range(tg_card.shape[0]):
        maxcard = max(maxcard, tg_card[k])
    marginals = np.zeros((tg_home.shape[0], maxcard))
    if touched > budget:
        return marginals, 0.0, msg, scale, touched
    largest = 0
    for i in range(n_cliques):
        largest = max(largest, size[i])
    work = np.empty(largest)
    for k in range(n_edges):
        if up[k]:
            _send(col_child[k], col_slot_cp[k], pot, pot_off, size, nb_ptr, nb_in, nb_out,
                  nb_map_off, maps, msg, msg_off, scale, ev_home, ev_stride, ev_card, ev_lik,
                  work)  # fmt: skip
    for k in range(n_edges - 1, -1, -1):
        if down[k]:
            _send(col_parent[k], col_slot_pc[k], pot, pot_off, size, nb_ptr, nb_in, nb_out,
                  nb_map_off, maps, msg, msg_off, scale, ev_home, ev_stride, ev_card, ev_lik,
                  work)  # fmt: skip
    log_z = 0.0
    first = True
    for i in range(n_cliques):
        if not is_end[i]:
            continue
        n = _product(i, pot, pot_off, size, ev_home, ev_stride, ev_card, ev_lik, work)
        below = _times_messages(i, -1, size, nb_ptr, nb_in, nb_map_off, maps, msg, msg_off,
                                scale, work)  # fmt: skip
        total = 0.0
        for e in range(n):
            total += work[e]
        if first:
            log_z = math.log(total) + below if total > 0.0 else -np.inf
            first = False
        for t in range(tg_home.shape[0]):
            if tg_home[t] != i:
                continue
            st = tg_stride[t]
            cd = tg_card[t]
            for e in range(n):
                marginals[t, (e // st) % cd] += work[e]
            for x in range(cd):
                marginals[t, x] = marginals[t, x] / total if total > 0.0 else np.nan
    return marginals, log_z, msg, scale, touched

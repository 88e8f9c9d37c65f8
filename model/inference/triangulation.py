"""Greedy min-fill elimination, compiled (numba): the cliques of a triangulated moral graph.

Every pattern of evidence a query has not met before is compiled into a junction tree of its
own, and on big networks the elimination order was most of that compile: min-fill in Python
sets cost 2 to 9 ms on munin's pruned networks (a few hundred variables), as much as the
query it served. Here the graph is a bit matrix (one row of 64-bit words per variable), a
neighbourhood is a row ANDed with the remaining variables, and a fill-in count a popcount per
neighbour.

The rule is the one :mod:`model.inference.junction` always used: eliminate the variable whose
elimination adds the fewest edges, ties to the smallest clique table (product of the
numbers of states), then to the first variable in the caller's order. Table sizes are counted
up to :data:`SIZE_CAP` (2^53, where float64 stops counting exactly): beyond it every table is
as big as any other, so that rounding never decides a tie (no engine keeps such a table).
"""

from __future__ import annotations

import numpy as np
from numba import njit

SIZE_CAP = float(2**53)  # clique table sizes compare exactly below this, all equal above


def eliminate(
    names: list[str], card: dict[str, int], scopes: list[tuple[str, ...]]
) -> list[frozenset]:
    """The clique each elimination forms (the variable and its remaining neighbours), in
    elimination order, for the moral graph of ``scopes`` over ``names`` (ties broken in that
    order)."""
    number = {v: k for k, v in enumerate(names)}
    members = [number[v] for scope in scopes for v in scope]
    ptr = np.cumsum([0] + [len(scope) for scope in scopes], dtype=np.int64)
    ptr_c, members_c = _min_fill(
        np.array([card[v] for v in names], dtype=np.float64),
        ptr,
        np.array(members, dtype=np.int64),
    )
    return [
        frozenset(names[u] for u in members_c[ptr_c[k] : ptr_c[k + 1]])
        for k in range(len(ptr_c) - 1)
    ]


@njit(cache=True)
def _popcount(x):
    """Set bits of a 64-bit word (SWAR)."""
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit(cache=True)
def _bits(row, out):
    """The indices of the set bits of a bit row, into ``out``; returns how many."""
    k = 0
    for w in range(row.shape[0]):
        word = row[w]
        b = 0
        while word != np.uint64(0):
            if word & np.uint64(1):
                out[k] = w * 64 + b
                k += 1
            word >>= np.uint64(1)
            b += 1
    return k


@njit(cache=True)
def _cost(v, adj, remaining, card, near, words):
    """Fill-in edges and clique table size of eliminating ``v`` now."""
    for w in range(words.shape[0]):
        words[w] = adj[v, w] & remaining[w]
    k = _bits(words, near)
    pairs = 0
    weight = card[v]
    for x in range(k):
        a = near[x]
        weight = min(weight * card[a], SIZE_CAP)
        for w in range(words.shape[0]):
            pairs += _popcount(adj[a, w] & words[w])
    return k * (k - 1) // 2 - pairs // 2, weight


@njit(cache=True)
def _min_fill(card, ptr, members):
    n = card.shape[0]
    n_words = (n + 63) // 64
    adj = np.zeros((n, n_words), np.uint64)
    for f in range(ptr.shape[0] - 1):
        for x in range(ptr[f], ptr[f + 1]):
            a = members[x]
            for y in range(ptr[f], ptr[f + 1]):
                b = members[y]
                if a != b:
                    adj[a, b // 64] |= np.uint64(1) << np.uint64(b % 64)
    remaining = np.zeros(n_words, np.uint64)
    for v in range(n):
        remaining[v // 64] |= np.uint64(1) << np.uint64(v % 64)
    near = np.empty(n, np.int64)
    touched = np.empty(n, np.int64)
    words = np.empty(n_words, np.uint64)
    mask = np.empty(n_words, np.uint64)
    fill = np.empty(n, np.int64)
    weight = np.empty(n, np.float64)
    for v in range(n):
        fill[v], weight[v] = _cost(v, adj, remaining, card, near, words)
    alive = np.ones(n, np.bool_)
    ptr_c = np.zeros(n + 1, np.int64)
    members_c = np.empty(n * 4 + 16, np.int64)
    for step in range(n):
        v = -1
        for u in range(n):
            if alive[u] and (
                v < 0 or fill[u] < fill[v] or (fill[u] == fill[v] and weight[u] < weight[v])
            ):
                v = u
        for w in range(n_words):
            words[w] = adj[v, w] & remaining[w]
        k = _bits(words, near)
        # the clique: v and its remaining neighbours
        need = ptr_c[step] + k + 1
        if need > members_c.shape[0]:
            grown = np.empty(2 * need, np.int64)
            grown[: ptr_c[step]] = members_c[: ptr_c[step]]
            members_c = grown
        members_c[ptr_c[step]] = v
        members_c[ptr_c[step] + 1 : need] = near[:k]
        ptr_c[step + 1] = need
        # join the neighbours pairwise, then drop v
        for x in range(k):
            a = near[x]
            for w in range(n_words):
                adj[a, w] |= words[w]
            adj[a, a // 64] &= ~(np.uint64(1) << np.uint64(a % 64))
        remaining[v // 64] &= ~(np.uint64(1) << np.uint64(v % 64))
        alive[v] = False
        # only v's neighbours and theirs change cost
        for w in range(n_words):
            mask[w] = words[w]
        for x in range(k):
            a = near[x]
            for w in range(n_words):
                mask[w] |= adj[a, w]
        for w in range(n_words):
            mask[w] &= remaining[w]
        m = _bits(mask, touched)
        for x in range(m):
            u = touched[x]
            fill[u], weight[u] = _cost(u, adj, remaining, card, near, words)
    return ptr_c, members_c[: ptr_c[n]]

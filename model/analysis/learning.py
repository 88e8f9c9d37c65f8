"""Learning the priors' numbers from case data: MAP expectation-maximisation on the compact
parameters, with the priors' ``confidence`` as pseudo-counts.

Each case answers some variables; causes are confirmed for a few cases (lab tests) and missing
for most. The E-step sums, over cases, the posterior of every node's *family* (the node and its
parents): a junction tree over the whole network, compiled once, propagated for a batch of
cases at a time, its calibrated clique beliefs summed over the batch. From those expected
family counts ``N(x, u)`` the M-step updates the parameters in the priors' own shapes:

* **Table rows** (context prevalences, root causes): ``(N(., u) + n * row) / (N(u) + n)``, the
  Dirichlet(``n * row``) pseudo-counts of the row's confidence ``n``.
* **Noisy-OR numbers** (leaks, link strengths, interaction terms): each is a hidden "source"
  that fires independently with probability ``theta`` wherever it applies (the leak always, a
  link when its parent is in its state, an interaction when all its parents are); the child
  then takes the off state if nothing fired, else one of the fired active states with equal
  chance (:mod:`model.knowledge.cpt`). Given the family state ``(x, u)``, the source fired with
  probability ``theta * T[theta=1](x | u) / T(x | u)``, where ``T[theta=1]`` is the table with
  that one number set to 1: exact for any mix of sources, ties and active states, because the
  sources are independent given ``u``. Expected firings ``F`` and expected applications ``M``
  give ``(F + n p) / (M + n)``, the Beta(``n p``, ``n (1 - p)``) pseudo-counts.
* **An uninformative state** (a trial not tried) is one more source, taken with probability
  ``c`` in every column: ``F`` is the expected count of that state, ``M`` every case. The
  noisy-OR sources are counted only where the child is not in it (they play no part there).

The objective is the log-posterior ``sum_cases log P(answers) + sum_params log prior`` with
the prior density ``theta^(n p) (1 - theta)^(n (1 - p))`` (and ``prod_x theta_x^(n row_x)``
for a row): the M-step above maximises exactly its expected complete-data form, so each
iteration never lowers it (tested). The result's ``confidence`` of each number is its prior
confidence plus the expected number of cases it applied to (Spiegelhalter and Lauritzen's
fractional updating): an upper bound on the information gained, since missing answers inform
less than observed ones.

Cost: one E-step propagates every distinct case through a tree of about 9,000 clique entries,
about 0.7 ms per case on the real network (5,000 cases: about 4 s per iteration, measured on
2 shared cores). pgmpy's ``ExpectationMaximization`` was tried and is not used: with cells
missing in a partly observed column it silently dropped the incomplete rows (a complete-case
estimate, not EM); with the column fully latent it ran EM, but on full tables only, with
unlabelled latent states and no per-number pseudo-counts.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.special import xlogy

from model.inference.junction import (
    JunctionTree,
    Projections,
    align,
    clique_potentials,
    clique_product,
    compile_tree,
)
from model.knowledge.cpt import expand
from model.knowledge.params import (
    Key,
    Value,
    learnable,
    node_tables_for,
    prior_values,
    stated_value,
    value_hook,
)
from model.knowledge.priors import Priors
from model.knowledge.schema import DeterministicCPD, NoisyOrCPD, Param, Row, TableCPD

BATCH = 512  # cases propagated together: batch x cliques stays a few tens of MB
MAX_ITER = 200
TOL = 1e-6  # stop when the log-posterior rises by less than this many nats per case


# --- the E-step: expected family counts -------------------------------------------------------


class FamilyCounts:
    """Expected counts of every family ``(node, *parents)``, summed over cases.

    Compiled once per network (``states``, ``parents``); :meth:`count` takes the tables of the
    current parameters and a batch of coded cases. Independent of :mod:`model.inference.engine`,
    which prunes per answer pattern and returns one-variable marginals only.
    """

    def __init__(self, states: Mapping[str, list[str]], parents: Mapping[str, tuple[str, ...]]):
        self.order = list(states)
        self.card = {n: len(s) for n, s in states.items()}
        self.scopes = [(n, *parents[n]) for n in self.order]
        self.tree: JunctionTree = compile_tree(self.card, self.scopes, self.order)
        self.holder = {
            self.order[f]: i for i, held in enumerate(self.tree.assignment) for f in held
        }
        self.children: dict[int, list[int]] = {i: [] for i in range(len(self.tree.cliques))}
        for child, parent in self.tree.collect:
            self.children[parent].append(child)
        self.projections = Projections()  # the 0/1 matrices of the sums, kept for every batch

    def count(
        self,
        tables: Mapping[str, np.ndarray],
        columns: list[str],
        codes: np.ndarray,
        weights: np.ndarray | None = None,
        *,
        batch: int = BATCH,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Expected family counts ``{node: (card, *parent cards)}`` weighted by ``weights``
        (one per row, default 1), and ``log P(answers)`` per row (``-inf`` if impossible;
        such rows add nothing). ``codes`` holds state indices, ``-1`` where unanswered."""
        codes = np.asarray(codes).reshape(-1, len(columns))
        weights = np.ones(len(codes)) if weights is None else np.asarray(weights, float)
        potentials = clique_potentials(self.tree, self.scopes, [tables[n] for n in self.order])
        totals = [np.zeros(p.shape) for p in potentials]
        log_z = np.zeros(len(codes))
        lookups = {c: np.vstack([np.eye(self.card[c]), np.ones(self.card[c])]) for c in columns}
        for start in range(0, len(codes), batch):
            part = codes[start : start + batch]
            likelihoods = {
                c: lookups[c][part[:, j]] for j, c in enumerate(columns) if (part[:, j] >= 0).any()
            }
            beliefs, z = self._propagate(potentials, likelihoods, len(part))
            log_z[start : start + len(part)] = z
            w = np.where(np.isfinite(z), weights[start : start + len(part)], 0.0)
            for i, belief in enumerate(beliefs):
                if belief.ndim == len(self.tree.cliques[i]):  # no answer reached it
                    totals[i] += w.sum() * belief
                else:
                    totals[i] += np.tensordot(w, belief, axes=(0, 0))
        counts = {n: self._family(totals[self.holder[n]], self.holder[n], n) for n in self.order}
        return counts, log_z

    def _family(self, table: np.ndarray, clique: int, node: str) -> np.ndarray:
        scope = self.tree.cliques[clique]
        family = self.scopes[self.order.index(node)]
        kept = tuple(v for v in scope if v in family)
        summed = table.sum(axis=tuple(a for a, v in enumerate(scope) if v not in family))
        return summed.transpose([kept.index(v) for v in family])

    def _sum_onto(self, i: int, table: np.ndarray, onto: tuple[str, ...]) -> np.ndarray:
        """Sum a clique table onto some of its variables (in clique order): one matmul with
        a kept 0/1 matrix, much faster than numpy's sum over many small axes."""
        clique = self.tree.cliques[i]
        if onto == clique:
            return table
        batch = table.shape[: table.ndim - len(clique)]
        dims = tuple(self.card[v] for v in clique)
        kept = tuple(a for a, v in enumerate(clique) if v in onto)
        flat = np.ascontiguousarray(table).reshape(*batch, -1) @ self.projections.matrix(dims, kept)
        return flat.reshape((*batch, *(dims[a] for a in kept)))  # () when both are empty

    def _propagate(self, potentials, likelihoods, rows: int) -> tuple[list[np.ndarray], np.ndarray]:
        """Normalised belief of every clique and ``log P(answers)``, per row (Shafer-Shenoy
        upwards, Hugin downwards: a zero upward message means a zero belief, so 0/0 is 0)."""
        tree = self.tree
        local: list[list] = [[(c, potentials[i])] for i, c in enumerate(tree.cliques)]
        for v, lik in likelihoods.items():
            local[tree.home[v]].append(((v,), lik))
        up: dict[int, tuple[tuple[str, ...], np.ndarray]] = {}
        product: dict[int, np.ndarray] = {}
        log_z = np.zeros(rows)
        with np.errstate(divide="ignore", invalid="ignore"):
            for child, parent in tree.collect:
                product[child] = clique_product(
                    self.tree, child, local[child] + [up[k] for k in self.children[child]]
                )
                sep = tree.separator(child, parent)
                message, total = _normalise(self._sum_onto(child, product[child], sep), len(sep))
                up[child] = (sep, message)
                log_z = log_z + np.log(total)
            root = tree.root
            incoming = [up[k] for k in self.children[root]]
            product[root] = clique_product(self.tree, root, local[root] + incoming)
            beliefs = {}
            beliefs[root], total = _normalise(product[root], len(tree.cliques[root]))
            log_z = log_z + np.log(total)
            for child, parent in reversed(tree.collect):
                sep = tree.separator(child, parent)
                summed = self._sum_onto(parent, beliefs[parent], tree.separator(parent, child))
                summed = align(summed, tree.separator(parent, child), sep)
                upward = up[child][1]
                shape = np.broadcast_shapes(summed.shape, upward.shape)
                down = np.divide(summed, upward, out=np.zeros(shape), where=upward > 0)
                belief = product[child] * align(down, sep, tree.cliques[child])
                beliefs[child] = _normalise(belief, len(tree.cliques[child]))[0]
        return [beliefs[i] for i in range(len(tree.cliques))], np.broadcast_to(log_z, (rows,))


def _normalise(table: np.ndarray, n_axes: int) -> tuple[np.ndarray, np.ndarray]:
    axes = tuple(range(table.ndim - n_axes, table.ndim))
    total = table.sum(axis=axes, keepdims=True) if axes else table[..., None][..., 0]
    safe = np.where(total > 0, total, 1.0)
    return table / safe, total.reshape(total.shape[: table.ndim - n_axes])


# --- the M-step -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Update:
    """New values and, per number, the expected count of cases it applied to."""

    values: dict[Key, Value]
    applied: dict[Key, float]


def m_step(priors: Priors, values: Mapping[Key, Value], counts: Mapping[str, np.ndarray]) -> Update:
    """MAP update of every learnable number from expected family counts (see module doc)."""
    new: dict[Key, Value] = {}
    applied: dict[Key, float] = {}
    states = {n: spec.states for n, spec in priors.nodes.items()}
    items = learnable(priors)
    for node_id, node in priors.nodes.items():
        cpd, table = node.cpd, counts[node_id]
        if isinstance(cpd, TableCPD):
            for i, row in enumerate(cpd.rows):
                column = table[(slice(None), *(states[p].index(row.when[p]) for p in node.parents))]
                found = column[[node.states.index(s) for s in row.probs]]
                key = (node_id, "rows", i)
                new[key] = _dirichlet_map(row, found)
                applied[key] = float(found.sum())
        elif isinstance(cpd, NoisyOrCPD):
            for key, (fired, present) in _noisy_or_counts(priors, node_id, values, table).items():
                new[key] = _beta_map(items[key], fired, present)
                applied[key] = present
        elif not isinstance(cpd, DeterministicCPD):  # pragma: no cover - schema has three kinds
            raise TypeError(f"{node_id}: unknown cpd {type(cpd).__name__}")
    return Update(new, applied)


def _beta_map(param: Param, fired: float, present: float) -> float:
    n = param.confidence
    if present <= 0.0 or not math.isfinite(n):
        return param.p
    return (fired + n * param.p) / (present + n)


def _dirichlet_map(row: Row, found: np.ndarray) -> np.ndarray:
    stated = np.asarray(list(row.probs.values()), float)
    n = row.confidence
    if found.sum() <= 0.0 or not math.isfinite(n):
        return stated
    out = found + n * stated
    return out / out.sum()


def _noisy_or_counts(
    priors: Priors, node_id: str, values: Mapping[Key, Value], table: np.ndarray
) -> dict[Key, tuple[float, float]]:
    """Expected (firings, applications) of each source of a noisy-OR node, from its family
    counts ``table``: one batched expansion gives the table with nothing changed (entry 0)
    and with each source in turn set to 1 (entry k)."""
    node = priors.nodes[node_id]
    cpd = node.cpd
    states = {n: spec.states for n, spec in priors.nodes.items()}
    keys = [k for k in learnable(priors) if k[0] == node_id and k[1] != "uninformative"]
    slot = {key: k + 1 for k, key in enumerate(keys)}

    def value(key: Key, _: Param | Row) -> np.ndarray:
        if key[1] == "uninformative":
            return np.zeros(len(keys) + 1)  # the noisy-OR part alone
        out = np.full(len(keys) + 1, float(values[key]))
        out[slot[key]] = 1.0
        return out

    tables = expand(node, states, value_hook(priors, node_id, value))
    base = tables[0]
    if cpd.uninformative is not None:  # the noisy-OR sources play no part in that state
        live = np.delete(table, node.states.index(cpd.uninformative.state), axis=0)
        base = np.delete(base, node.states.index(cpd.uninformative.state), axis=0)
        tables = np.delete(tables, node.states.index(cpd.uninformative.state), axis=1)
    else:
        live = table
    posterior = np.divide(live, base, out=np.zeros(live.shape), where=base > 0)
    out: dict[Key, tuple[float, float]] = {}
    for key in keys:
        where = _applies(node, key, states)
        fired = float(values[key]) * (posterior * tables[slot[key]])[:, where].sum()
        out[key] = (float(fired), float(live[:, where].sum()))
    if cpd.uninformative is not None:
        out[(node_id, "uninformative")] = (
            float(table[node.states.index(cpd.uninformative.state)].sum()),
            float(table.sum()),
        )
    return out


def _applies(node, key: Key, states: Mapping[str, list[str]]) -> np.ndarray:
    """Boolean grid over the parent configurations where a source can fire."""
    cards = tuple(len(states[p]) for p in node.parents)
    grid = np.ones(cards, dtype=bool)
    if key[1] == "links":
        when = {key[2]: key[3]}
    elif key[1] == "interactions":
        when = node.cpd.interactions[key[2]].when
    else:
        when = {}
    for axis, parent in enumerate(node.parents):
        if parent in when:
            hit = np.array([s == when[parent] for s in states[parent]])
            grid = grid & hit.reshape([-1 if a == axis else 1 for a in range(len(cards))])
    return grid


def log_prior(priors: Priors, values: Mapping[Key, Value]) -> float:
    """``sum n p log theta + n (1 - p) log(1 - theta)`` over numbers, ``sum n row log theta``
    over rows: the pseudo-count prior the M-step maximises against (fixed numbers excluded)."""
    total = 0.0
    for key, item in learnable(priors).items():
        n = item.confidence
        if not math.isfinite(n):
            continue
        if isinstance(item, Param):
            theta = float(values[key])
            total += xlogy(n * item.p, theta) + xlogy(n * (1.0 - item.p), 1.0 - theta)
        else:
            total += float(xlogy(n * stated_value(item), values[key]).sum())
    return float(total)


# --- the driver -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LearningResult:
    """What EM learned: the new numbers beside the stated ones, and how it got there.

    ``history[t]`` is the log-posterior of the parameters after ``t`` iterations (the last is
    that of ``values``); ``applied[key]`` the expected number of cases a number applied to.
    """

    values: dict[Key, Value]
    prior: dict[Key, Value]
    applied: dict[Key, float]
    history: list[float]
    converged: bool
    n_cases: int
    n_impossible: int

    @property
    def iterations(self) -> int:
        return len(self.history) - 1

    def moved(self, top: int | None = None) -> list[tuple[Key, float, float]]:
        """(key, stated, learned) of the numbers that moved most (a row by its largest
        entry's move), largest first."""
        out = []
        for key, before in self.prior.items():
            a, b = np.atleast_1d(before), np.atleast_1d(self.values[key])
            k = int(np.argmax(np.abs(b - a)))
            out.append((key if a.size == 1 else (*key, k), float(a[k]), float(b[k])))
        out.sort(key=lambda item: -abs(item[2] - item[1]))
        return out[:top] if top is not None else out


def learn(
    priors: Priors,
    columns: list[str],
    codes: np.ndarray,
    *,
    max_iter: int = MAX_ITER,
    tol: float = TOL,
    progress: bool | None = None,
) -> LearningResult:
    """MAP-EM from coded cases (state indices, ``-1`` unanswered; one column per ``columns``).

    Stops when the log-posterior rises by less than ``tol`` nats per case, or after
    ``max_iter`` iterations. Identical rows are propagated once, weighted by their count;
    rows impossible under the priors are left out (``n_impossible``). With no cases the
    stated numbers come back unchanged. ``progress``: a tqdm bar on stderr (default: only
    when stderr is a terminal).
    """
    if max_iter < 0 or not tol > 0:
        raise ValueError(f"max_iter must be >= 0 and tol > 0. Got {max_iter}, {tol}.")
    start = prior_values(priors)
    codes = np.asarray(codes, dtype=np.int16).reshape(-1, len(columns))
    if len(codes) == 0:
        zero = {k: 0.0 for k in start}
        return LearningResult(start, start, zero, [log_prior(priors, start)], True, 0, 0)
    rows, weights = np.unique(codes, axis=0, return_counts=True)
    families = FamilyCounts(
        {n: s.states for n, s in priors.nodes.items()},
        {n: tuple(s.parents) for n, s in priors.nodes.items()},
    )
    values, history = start, []
    counts, log_z = families.count(node_tables_for(priors, values), columns, rows, weights)
    possible = np.isfinite(log_z)
    n_impossible = int(weights[~possible].sum())
    rows, weights, log_z = rows[possible], weights[possible], log_z[possible]
    n_cases = int(weights.sum())
    bar = _progress(max_iter, progress)
    converged = False
    try:
        for iteration in range(max_iter + 1):
            if iteration:
                counts, log_z = families.count(
                    node_tables_for(priors, values), columns, rows, weights
                )
            history.append(float(weights @ log_z) + log_prior(priors, values))
            if iteration and history[-1] - history[-2] < tol * max(n_cases, 1):
                converged = True
                break
            if iteration == max_iter:
                break
            values = m_step(priors, values, counts).values
            if bar is not None:
                bar.update(1)
                bar.set_postfix(log_posterior=f"{history[-1]:.2f}")
    finally:
        if bar is not None:
            bar.close()
    applied = m_step(priors, values, counts).applied  # at the values returned
    return LearningResult(values, start, applied, history, converged, n_cases, n_impossible)


def _progress(total: int, show: bool | None):
    if show is None:
        show = sys.stderr.isatty()
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="EM", unit="iteration", file=sys.stderr)


# --- values as plain numbers ------------------------------------------------------------------


def draw_values(priors: Priors, seed: int = 0) -> dict[Key, Value]:
    """One set of numbers drawn from the priors' uncertainty (Beta(n p, n (1 - p)) per
    number, Dirichlet(n * row) per row, as :mod:`model.knowledge.draws` does for whole tables): a
    "truth" that differs from the stated numbers as much as their confidence allows."""
    rng = np.random.default_rng(seed)
    out: dict[Key, Value] = {}
    for key, item in learnable(priors).items():
        stated, n = stated_value(item), item.confidence
        if isinstance(item, Param):
            fixed = stated <= 0.0 or stated >= 1.0 or not math.isfinite(n)
            out[key] = stated if fixed else float(rng.beta(n * stated, n * (1.0 - stated)))
        else:
            live = stated > 0
            drawn = np.zeros_like(stated)
            if live.sum() > 1 and math.isfinite(n):
                drawn[live] = rng.dirichlet(n * stated[live])
            else:
                drawn[live] = stated[live]
            out[key] = drawn
    return out


def flat(priors: Priors, values: Mapping[Key, Value]) -> dict[str, float]:
    """Every number by a dotted label (a row's entries as ``...rows.0.<state>``), for tables
    and plots. Deterministic nodes have none."""
    out: dict[str, float] = {}
    for key, item in learnable(priors).items():
        label = ".".join(map(str, key))
        if isinstance(item, Param):
            out[label] = float(values[key])
        else:
            for state, v in zip(item.probs, np.atleast_1d(values[key]), strict=True):
                out[f"{label}.{state}"] = float(v)
    return out

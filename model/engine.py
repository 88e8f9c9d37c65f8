"""The compiled exact engine: the network as numpy arrays, answered in batches.

For each *structure* (which variables carry evidence, which are targets, which are set by
intervention) the engine

1. keeps only the ancestors of evidence and targets (barren nodes sum to one and drop out),
   with the incoming links of intervened variables cut (``do(X=x)``);
2. sums out cheap unobserved variables into their neighbours (an unanswered risk factor into
   the cause it feeds, the hidden left/right leg nodes into ``leg_cramp_side``): evidence-free
   work, done once per structure and cached;
3. compiles a junction tree over what is left and multiplies each clique's tables once.

A query then only multiplies in the evidence (one likelihood vector per answered variable, one
row per evidence set) and passes messages (:mod:`model.junction`). The same structure serves a
batch of evidence sets, or a batch of parameter draws (tables with a leading draw axis).
pgmpy stays the model's representation; this engine is checked against it and pyAgrum.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from model.errors import ImpossibleEvidenceError
from model.junction import JunctionTree, _einsum, clique_potentials, compile_tree, propagate
from model.priors import Priors

Posteriors = dict[str, dict[str, float]]
FOLD_LIMIT = 16384  # largest table (entries per row) a pre-summing step may create


@dataclass(frozen=True)
class Structure:
    """A compiled junction tree for one pattern of evidence, targets and interventions."""

    tree: JunctionTree
    scopes: list[tuple[str, ...]]
    factors: list[np.ndarray]
    potentials: list[np.ndarray]


class Engine:
    """Exact posteriors, batched, from validated priors (point tables or given ones).

    ``tables`` maps each node to its table, shape ``(n_states, *parent cardinalities)``,
    optionally with a leading batch axis (parameter draws). By default the point estimates.
    """

    def __init__(self, priors: Priors, tables: Mapping[str, np.ndarray] | None = None):
        from model.network import node_tables

        self.priors = priors
        self.states = {n: spec.states for n, spec in priors.nodes.items()}
        self.card = {n: len(s) for n, s in self.states.items()}
        self.parents = {n: tuple(spec.parents) for n, spec in priors.nodes.items()}
        self.tables = dict(tables) if tables is not None else node_tables(priors)
        extra = {n: t.ndim - 1 - len(self.parents[n]) for n, t in self.tables.items()}
        drawn = [self.tables[n].shape[0] for n, axes in extra.items() if axes == 1]
        self.draws: int | None = drawn[0] if drawn else None  # tables with a leading draw axis
        self._structures: dict[tuple, Structure] = {}
        self._drawn: dict[tuple[int, int], Engine] = {}

    def drawn(self, k: int = 1000, seed: int = 0) -> Engine:
        """An engine over ``k`` parameter sets drawn from the priors (cached per k, seed)."""
        from model.draws import draw_tables

        key = (k, seed)
        if key not in self._drawn:
            self._drawn[key] = Engine(self.priors, draw_tables(self.priors, k, seed))
        return self._drawn[key]

    # --- structure --------------------------------------------------------------------------

    def _relevant(self, keep: set[str], do: frozenset[str]) -> set[str]:
        relevant, stack = set(), list(keep)
        while stack:
            node = stack.pop()
            if node not in relevant:
                relevant.add(node)
                if node not in do:
                    stack.extend(self.parents[node])
        return relevant

    def structure(
        self, observed: Iterable[str], targets: Iterable[str], do: Iterable[str] = ()
    ) -> Structure:
        """The compiled structure for this pattern (cached: patterns recur)."""
        key = (frozenset(observed), frozenset(targets), frozenset(do))
        found = self._structures.get(key)
        if found is None:
            found = self._structures[key] = self._compile(*key)
        return found

    def _compile(self, observed: frozenset, targets: frozenset, do: frozenset) -> Structure:
        keep = set(observed) | set(targets) | set(do)
        relevant = self._relevant(keep, do)
        order = [n for n in self.priors.nodes if n in relevant]
        scopes = [(n, *self.parents[n]) for n in order if n not in do]
        factors = [self.tables[n] for n in order if n not in do]
        scopes, factors = self._fold(scopes, factors, [n for n in order if n not in keep])
        card = {v: self.card[v] for v in {v for s in scopes for v in s} | keep}
        tree = compile_tree(card, scopes)
        return Structure(tree, scopes, factors, clique_potentials(tree, scopes, factors))

    def _fold(self, scopes, factors, candidates: list[str]):
        """Sum out unobserved non-targets whose elimination creates no large table."""
        scopes, factors = list(scopes), list(factors)
        changed = True
        while changed:
            changed = False
            for v in reversed(candidates):
                holding = [i for i, s in enumerate(scopes) if v in s]
                if not holding:
                    continue
                merged = tuple(dict.fromkeys(u for i in holding for u in scopes[i] if u != v))
                if np.prod([self.card[u] for u in merged]) > FOLD_LIMIT:
                    continue
                tree = _PATHLESS
                table = _einsum(tree, [(scopes[i], factors[i]) for i in holding], merged)
                scopes = [s for i, s in enumerate(scopes) if i not in holding] + [merged]
                factors = [f for i, f in enumerate(factors) if i not in holding] + [table]
                candidates = [c for c in candidates if c != v]
                changed = True
        return scopes, factors

    # --- evidence ---------------------------------------------------------------------------

    def likelihood(self, variable: str, answer: str | Mapping[str, float]) -> np.ndarray:
        """A hard answer as a one-hot vector, a soft one as its likelihoods in state order."""
        states = self.states[variable]
        if isinstance(answer, str):
            return np.eye(len(states))[states.index(answer)]
        return np.array([float(answer[s]) for s in states])

    def _stack(self, rows: list[dict[str, object]]) -> dict[str, np.ndarray]:
        """One likelihood array per answered variable: ``(card,)`` when every row gives the
        same answer (shared, multiplied in once), else ``(rows, card)`` with ones where a row
        leaves the variable unanswered."""
        out = {}
        for v in dict.fromkeys(v for row in rows for v in row):
            answers = [row.get(v) for row in rows]
            if all(isinstance(a, str) for a in answers) and len(set(answers)) == 1:
                out[v] = self.likelihood(v, answers[0])
                continue
            column = np.ones((len(rows), self.card[v]))
            for r, answer in enumerate(answers):
                if answer is not None:
                    column[r] = self.likelihood(v, answer)
            out[v] = column
        return out

    # --- queries ----------------------------------------------------------------------------

    def query(
        self,
        targets: list[str],
        rows: list[dict[str, object]],
        do: Mapping[str, str] | None = None,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Marginals ``(rows, n_states)`` of each target and ``log P(evidence)`` per row.

        Each row maps variables to a hard state or a likelihood per state; ``do`` sets
        variables by intervention for every row. On an engine over drawn tables (see
        :meth:`drawn`) a single row is answered once per draw. Impossible rows come back with
        ``log_z = -inf`` and NaN marginals.
        """
        do = dict(do or {})
        if self.draws and len(rows) != 1:
            raise ValueError("an engine over parameter draws answers one evidence set at a time")
        return self.run(targets, self._stack(rows), do, batch=len(rows))

    def run(
        self,
        targets: list[str],
        likelihoods: dict[str, np.ndarray],
        do: Mapping[str, str] | None = None,
        batch: int = 1,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """:meth:`query` on likelihood arrays already built: ``(card,)`` shared by every row
        or ``(batch, card)``, for callers that encode evidence in bulk (batch scoring)."""
        do = dict(do or {})
        likelihoods = dict(likelihoods)
        structure = self.structure(set(likelihoods), targets, do)
        for v, state in do.items():
            likelihoods[v] = self.likelihood(v, state)
        fixed = {  # one state for every row: slice it out of the tables instead of multiplying
            v: int(np.argmax(lik))
            for v, lik in likelihoods.items()
            if lik.ndim == 1 and np.count_nonzero(lik) == 1
        }
        potentials = [
            _slice(p, clique, fixed)
            for p, clique in zip(structure.potentials, structure.tree.cliques, strict=True)
        ]
        free = {v: lik for v, lik in likelihoods.items() if v not in fixed}
        marginals, log_z = propagate(
            structure.tree, potentials, free, [t for t in targets if t not in fixed]
        )
        for v in targets:
            if v in fixed:
                marginals[v] = np.where(
                    np.isfinite(log_z)[..., None], likelihoods[v] / likelihoods[v].sum(), np.nan
                )
        batch = (self.draws if self.draws else batch,)
        for v in targets:
            if v in do:  # set by intervention: the set state, certainly
                marginals[v] = self.likelihood(v, do[v])
            marginals[v] = np.broadcast_to(marginals[v], batch + (self.card[v],))
        return marginals, np.broadcast_to(log_z, batch)

    def posteriors(
        self,
        targets: list[str],
        evidence: Mapping[str, str],
        soft: Mapping[str, Mapping[str, float]] | None = None,
        do: Mapping[str, str] | None = None,
    ) -> Posteriors:
        """Exact marginal of each target for one (already checked) case; raise if impossible."""
        row = {**evidence, **(soft or {})}
        marginals, log_z = self.query(list(targets), [row], do)
        if not np.isfinite(log_z).all():
            raise ImpossibleEvidenceError(self.conflict(row, do))
        return {
            v: {s: float(p) for s, p in zip(self.states[v], marginals[v][0], strict=True)}
            for v in targets
        }

    def conflict(
        self, row: Mapping[str, object], do: Mapping[str, str] | None = None
    ) -> dict[str, object]:
        """A smallest set of answers with probability zero: drop each answer not needed."""
        keep = dict(row)
        for v in list(keep):
            trial = {k: a for k, a in keep.items() if k != v}
            if trial:
                _, log_z = self.query([], [trial], do)
                if not np.isfinite(log_z).all():
                    keep = trial
        return keep


def _slice(table: np.ndarray, scope: tuple[str, ...], fixed: dict[str, int]) -> np.ndarray:
    """Keep only the fixed state of each fixed variable, as an axis of length one."""
    index = tuple(slice(fixed[v], fixed[v] + 1) if v in fixed else slice(None) for v in scope)
    return table[(Ellipsis, *index)] if any(v in fixed for v in scope) else table


class _NoCache(dict):
    """A path cache that forgets: folding runs once per structure, paths are not reused."""

    def __setitem__(self, key, value) -> None:
        pass


_PATHLESS = JunctionTree({}, [], [], [], 0, {}, [], _NoCache())

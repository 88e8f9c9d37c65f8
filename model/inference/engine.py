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
row per evidence set) and passes messages (:mod:`model.inference.junction`). The same structure
serves a batch of evidence sets, or a batch of parameter draws (tables with a leading draw axis).
pgmpy stays the model's representation; this engine is checked against it and pyAgrum.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from model.errors import ImpossibleEvidenceError
from model.inference.evidence import Posteriors
from model.inference.junction import (
    JunctionTree,
    Projections,
    align,
    clique_potentials,
    compile_tree,
    propagate,
)

FOLD_LIMIT = 16384  # largest table (entries per row) a pre-summing step may create
FOLD_CACHE_BYTES = 256 * 2**20
POTENTIALS_KEPT = 4  # per structure: the answer values seen most recently
STRUCTURES_KEPT = 256  # compiled patterns kept per engine (least recently used dropped)
STRUCTURES_KEPT_DRAWN = 24  # fewer over parameter draws: each holds 1000-draw tables
TREES_KEPT = 512


@dataclass(eq=False)
class Structure:
    """A compiled junction tree for one pattern of evidence, targets and interventions.

    ``factors`` are the tables multiplied into the cliques (scopes ``scopes``). ``steps``
    absorb answers at query time: each sums one answered variable's likelihood (times its
    prior, for a risk factor) into a table, a source that is either one of the network's
    tables or the result of an earlier step. The factors the steps leave (``outputs``) are
    the tree's factors ``len(factors)`` onwards, each multiplied into its home clique.
    Keeps the clique tables of the :data:`POTENTIALS_KEPT` answer values seen last.
    """

    tree: JunctionTree
    scopes: list[tuple[str, ...]]
    factors: list[np.ndarray]
    steps: tuple = ()  # (variable, prior table or None, (kind, table or step index), scope)
    outputs: tuple = ()  # (scope, step index, home clique) of each factor the steps leave
    potentials_kept: OrderedDict = field(default_factory=OrderedDict, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def absorb(self, likelihoods: dict[str, np.ndarray]) -> list[tuple]:
        """Run the absorption steps: each answer's likelihood (times its prior, for a risk
        factor) summed into its table; returns the resulting factors with their cliques."""
        results: list[np.ndarray] = []
        for v, prior, (kind, ref), scope in self.steps:
            weight = likelihoods.pop(v)
            if prior is not None:
                weight = prior * weight
            table = ref if kind == "table" else results[ref]
            batched = table.ndim - len(scope)
            axis = batched + scope.index(v)
            if weight.ndim == 1:
                results.append(np.tensordot(table, weight, axes=([axis], [0])))
            elif batched == 0:  # per-row weights against one table
                results.append(np.tensordot(weight, table, axes=([1], [axis])))
            else:  # per-row weights against per-row tables, read in place (no copy)
                letters = "abcdefghijklmnopqrstuvwxy"[: table.ndim - 2]
                spec = "z" + letters[: axis - 1] + "Y" + letters[axis - 1 :]
                out = "z" + letters
                results.append(np.einsum(f"{spec},zY->{out}", table, weight))
        return [(scope, results[ref], home) for scope, ref, home in self.outputs]

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
                    _slice(f, s, fixed) for f, s in zip(self.factors, self.scopes, strict=True)
                ]
                sizes = {v: 1 for v in fixed}
                found = clique_potentials(self.tree, self.scopes, sliced, sizes)
                while len(self.potentials_kept) >= POTENTIALS_KEPT:
                    self.potentials_kept.popitem(last=False)  # oldest first
                self.potentials_kept[key] = found
        return found


class Engine:
    """Exact posteriors, batched, over discrete tables.

    ``states`` lists each variable's states, ``parents`` its parents, and ``tables`` its
    table, shape ``(n_states, *parent cardinalities)``, optionally with one leading axis of
    parameter draws. Build it from tables, or with :meth:`from_network` from any pgmpy
    ``DiscreteBayesianNetwork``; the cramp model builds its own from the priors
    (:class:`model.diagnosis.crampmodel.CrampModel`). The engine knows variables, states and
    tables only, never what they mean.
    """

    def __init__(
        self,
        states: Mapping[str, list[str]],
        parents: Mapping[str, tuple[str, ...]],
        tables: Mapping[str, np.ndarray],
    ):
        self.states = {n: list(s) for n, s in states.items()}
        self.card = {n: len(s) for n, s in self.states.items()}
        self.parents = {n: tuple(parents[n]) for n in self.states}
        self.tables = dict(tables)
        extra = {n: t.ndim - 1 - len(self.parents[n]) for n, t in self.tables.items()}
        drawn = [self.tables[n].shape[0] for n, axes in extra.items() if axes == 1]
        self.draws: int | None = drawn[0] if drawn else None  # tables with a leading draw axis
        # What the engine keeps between queries, each bounded (least recently used dropped):
        # compiled structures by pattern, junction trees by shape, pre-summed tables (folds)
        # by recipe up to FOLD_CACHE_BYTES, and the projection matrices of propagation.
        self._structures: OrderedDict[tuple, Structure] = OrderedDict()
        self._trees: OrderedDict[tuple, JunctionTree] = OrderedDict()
        self._folds: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._fold_bytes = 0  # what the folds hold
        self.projections = Projections()
        self._lock = threading.RLock()  # batch scoring runs groups on several threads

    @classmethod
    def from_network(cls, network) -> Engine:
        """The engine of a pgmpy ``DiscreteBayesianNetwork`` (its CPDs as they stand)."""
        states, parents, tables = {}, {}, {}
        for cpd in network.get_cpds():
            v = cpd.variable
            states[v] = list(cpd.state_names[v])
            parents[v] = tuple(cpd.variables[1:])
            tables[v] = np.asarray(cpd.values, dtype=float)
        return cls(states, parents, tables)

    # --- structure --------------------------------------------------------------------------

    def ancestors(self, variable: str) -> set[str]:
        """Every ancestor of ``variable`` (not itself)."""
        return self._upward(set(self.parents[variable]), frozenset())

    def _upward(self, keep: set[str], do: frozenset[str]) -> set[str]:
        """``keep`` and its ancestors, not going above an intervened variable."""
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
        """The compiled structure for this pattern (cached, least recently used dropped)."""
        key = (frozenset(observed), frozenset(targets), frozenset(do))
        with self._lock:
            found = self._structures.get(key)
            if found is None:
                found = self._structures[key] = self._compile(*key)
                kept = STRUCTURES_KEPT_DRAWN if self.draws else STRUCTURES_KEPT
                while len(self._structures) > kept:
                    self._structures.popitem(last=False)
            else:
                self._structures.move_to_end(key)
        return found

    def _compile(self, observed: frozenset, targets: frozenset, do: frozenset) -> Structure:
        keep = set(observed) | set(targets) | set(do)
        relevant = self._upward(keep, do)
        order = [n for n in self.states if n in relevant]
        factors = [(("table", n), (n, *self.parents[n]), self.tables[n]) for n in order]
        factors = [f for f in factors if f[0][1] not in do]
        factors = self._fold(factors, [n for n in order if n not in keep])
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
        key = (tuple(scopes + rests), tuple(sorted(card.items())))
        tree = self._trees.get(key)
        if tree is None:
            tree = self._trees[key] = compile_tree(card, scopes + rests, list(self.states))
            while len(self._trees) > TREES_KEPT:
                self._trees.popitem(last=False)
        else:
            self._trees.move_to_end(key)
        homes = [
            next(i for i, held in enumerate(tree.assignment) if len(scopes) + k in held)
            for k in range(len(dynamic))
        ]
        outputs = tuple(
            (scope, source[1], home) for (scope, source), home in zip(dynamic, homes, strict=True)
        )
        return Structure(tree, scopes, tables, tuple(steps), outputs)

    def _fold(self, factors: list[tuple], candidates: list[str]) -> list[tuple]:
        """Sum out unobserved non-targets whose elimination creates no larger table.

        Each factor is ``(recipe, scope, table)``; a fold's result is cached under its recipe
        (the variable summed out and the recipes it combined), so the same fold in another
        structure (the hidden leg nodes into ``leg_cramp_side``, say) is not redone.
        """
        rank = {v: k for k, v in enumerate(self.states)}
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
                if size > largest and (not self.parents[v] or size > FOLD_LIMIT):
                    waiting.append(v)
                    continue
                recipe = ("fold", v, tuple(sorted(f[0] for f in holding)))
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

    # --- evidence ---------------------------------------------------------------------------

    def likelihood(self, variable: str, answer: str | Mapping[str, float]) -> np.ndarray:
        """A hard answer as a one-hot vector, a soft one as its likelihoods in state order,
        scaled so that the largest is 1: only their ratios change a posterior, and a product
        of many tiny (or huge) likelihoods must not underflow (or overflow). :meth:`query`
        adds the scales back to ``log_z``."""
        states = self.states[variable]
        if isinstance(answer, str):
            return np.eye(len(states))[states.index(answer)]
        values = np.array([float(answer[s]) for s in states])
        top = values.max()
        return values / top if top > 0 else values

    def _stack(self, rows: list[dict[str, object]]) -> dict[str, np.ndarray]:
        """One likelihood array per answered variable: ``(card,)`` when every row gives the
        same answer (shared, multiplied in once), else ``(rows, card)`` with ones where a row
        leaves the variable unanswered."""
        out = {}
        for v in dict.fromkeys(v for row in rows for v in row):
            answers = [row.get(v) for row in rows]
            if all(a is not None and a == answers[0] for a in answers):
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
        variables by intervention for every row. On an engine over drawn tables (a leading draw
        axis) a single row is answered once per draw. Impossible rows come back with
        ``log_z = -inf`` and NaN marginals.
        """
        do = dict(do or {})
        if self.draws and len(rows) != 1:
            raise ValueError("an engine over parameter draws answers one evidence set at a time")
        marginals, log_z = self.run(targets, self._stack(rows), do, batch=len(rows))
        # soft answers enter scaled to a largest likelihood of 1 (see likelihood): their
        # scales come back here, so log_z stays log P(evidence) with the likelihoods as given
        scales = np.array([_log_scale(row) for row in rows])
        return marginals, log_z + (scales[0] if self.draws else scales)

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
        with one_blas_thread():  # absorption multiplies matrices too
            extra = structure.absorb(likelihoods)
            fixed = {  # one state for every row: slice it out of the tables, not multiply
                v: int(np.argmax(lik))
                for v, lik in likelihoods.items()
                if lik.ndim == 1 and np.count_nonzero(lik) == 1
            }
            free = {v: lik for v, lik in likelihoods.items() if v not in fixed}
            extra = [(scope, _slice(f, scope, fixed), home) for scope, f, home in extra]
            potentials = structure.potentials(fixed)
            marginals, log_z = propagate(
                structure.tree,
                potentials,
                free,
                [t for t in targets if t not in fixed],
                extra,
                projections=self.projections,
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


class OneBlasThread:
    """BLAS limited to one thread during the engine's own work, restored afterwards.

    Its matrix products are small (a batch of rows times a 0/1 projection); measured here on
    2 cores, a second BLAS thread made a refresh about ten times slower whenever the other
    core was busy, and never faster. BLAS threads are a setting of the whole process, so
    there is one of these per process: the first thread in limits, the last one out
    restores. The controller is made once, so a switch costs microseconds.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._controller = None  # threadpoolctl's, made on first use
        self._limiter = None  # the active limit, while anyone is inside
        self._inside = 0  # threads inside

    @contextmanager
    def __call__(self):
        with self._lock:
            if self._controller is None:
                from threadpoolctl import ThreadpoolController

                self._controller = ThreadpoolController()
            if self._inside == 0:
                self._limiter = self._controller.limit(limits=1, user_api="blas")
            self._inside += 1
        try:
            yield
        finally:
            with self._lock:
                self._inside -= 1
                if self._inside == 0:
                    self._limiter.restore_original_limits()
                    self._limiter = None


one_blas_thread = OneBlasThread()


def _log_scale(row: Mapping[str, object]) -> float:
    """The sum of the logs of each soft answer's largest likelihood in ``row``."""
    total = 0.0
    for answer in row.values():
        if isinstance(answer, Mapping):
            top = max(float(x) for x in answer.values())
            if top > 0:
                total += math.log(top)
    return total

"""The exact engine: the network as numpy arrays, answered one case at a time or in batches.

Four ways to answer, picked per query:

- the whole network's junction tree, calibrated once with no evidence
  (:mod:`model.inference.calibrated`), whose compiled loop (:mod:`model.inference.kernel`)
  recomputes only the messages the answers change: single queries that stay within their
  budget (see :meth:`Engine._single`), and batches of hard answers where
  :meth:`Engine.loop_faster` says so;
- a single query over that budget, or on a network too big to calibrate whole, on a tree of
  its own pattern (:meth:`Engine.pattern_tree`): the pruned, pre-summed network, flattened
  for the same compiled loop and kept for the pattern's next query (pigs and munin: the
  query needs a fifth of the network, its tree a few thousand entries);
- on networks whose junction tree holds more than ``lazy_entries`` entries in all (water,
  mildew, barley, diabetes, link), queries that need much of it by lazy propagation
  (:mod:`model.inference.lazy`): lists of small tables instead of clique tables, so the big
  cliques are never read; a batch goes row by row, its rows sharing messages;
- for each *structure* (which variables carry evidence, which are targets, which are set by
  intervention) a tree compiled for that pattern (:mod:`model.inference.compiler`), the
  relevant part of the network pre-summed where cheap, through which a batch of evidence
  sets runs in one compiled loop, a block of rows at a time
  (:mod:`model.inference.batch_tree`), and a batch of parameter draws (tables with a leading
  draw axis) passes its messages in numpy (:mod:`model.inference.junction`): everything
  else, interventions and draws included.

pgmpy stays the model's representation; this engine is checked against it and pyAgrum.
Thread safety: every cache belongs to one engine and sits behind its own lock (compiled
structures and pattern trees here, trees and folds in the compiler, each structure's clique
tables and batch layouts in the structure, projection matrices in
:class:`~model.inference.junction.Projections`); the calibrated, lazy and batch trees are
immutable once built.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from functools import cached_property

import numpy as np

from model.errors import EvidenceError, ImpossibleEvidenceError, NetworkTooLargeError
from model.inference import batch_tree
from model.inference.calibrated import CalibratedTree
from model.inference.compiler import MAX_CLIQUE_BYTES, Compiler, Structure, slice_fixed
from model.inference.evidence import (
    Posteriors,
    check_codes,
    check_evidence,
    check_row,
    check_variables,
)
from model.inference.junction import (
    JunctionTree,
    Projections,
    family_tree,
    propagate,
)
from model.inference.lazy import LazyTree

_UNBUILT = object()  # the calibrated tree before its first use
CALIBRATED_BUDGET = 2**20  # clique entries a single query may visit on the calibrated tree
# (about 5 ms in the kernel): a query over more is answered by a tree pruned to its pattern
VISITS_PER_VARIABLE = 5000  # ... or over this many per variable the query needs: building the
# pattern's tree costs about 35 us per such variable, a visit about 7 ns
LOOP_SAMPLE = 256  # rows that decide between the calibrated loop and the batch loop
LOOP_SHARE = 0.25  # the calibrated loop answers a batch that visits less of the pruned tree
LAZY_ENTRIES = 2**19  # a network tree with more entries than this: queries lazily (batches too),
LAZY_SHARE = 0.25  # ... those that need more than this share of its variables
LAZY_SURE = 0.5  # a single query needing more than this share goes lazily without its own tree
LAZY_TREE_ENTRIES = 2**19  # ... and one whose own tree would hold more entries than this
LAZY_BATCH_ENTRIES = 2**21  # a batch goes lazily only if its pruned tree holds more than this
KERNEL_BATCH = 2  # rows from which a batch runs in the compiled loop over rows
STRUCTURES_KEPT = 256  # compiled patterns kept per engine (least recently used dropped)
STRUCTURE_BYTES = 256 * 2**20  # ... and the clique tables and batch layouts they keep, in all
PATTERN_TREE_BYTES = 128 * 2**20  # flattened pattern trees for single queries, kept per engine
STRUCTURES_KEPT_DRAWN = 8  # fewer over parameter draws: each holds 1000-draw tables (24 peaked
# at 1.0 GB over 120 refreshes, 8 at 0.8 GB, at the same refresh time)


class Engine:
    """Exact posteriors, batched, over discrete tables.

    ``states`` lists each variable's states, ``parents`` its parents, and ``tables`` its
    table, shape ``(n_states, *parent cardinalities)``, optionally with one leading axis of
    parameter draws. Build it from tables, or with :meth:`from_network` from any pgmpy
    ``DiscreteBayesianNetwork``; the cramp model builds its own from the priors
    (:class:`model.diagnosis.crampmodel.CrampModel`). The engine knows variables, states and
    tables only, never what they mean. ``max_clique_bytes`` refuses trees that would not
    fit; ``structures_kept`` bounds the compiled answer patterns kept (by default
    :data:`STRUCTURES_KEPT`, or :data:`STRUCTURES_KEPT_DRAWN` over parameter draws).
    """

    def __init__(
        self,
        states: Mapping[str, list[str]],
        parents: Mapping[str, tuple[str, ...]],
        tables: Mapping[str, np.ndarray],
        *,
        max_clique_bytes: int = MAX_CLIQUE_BYTES,
        structures_kept: int | None = None,
        lazy_entries: int = LAZY_ENTRIES,
        lazy_share: float = LAZY_SHARE,
        lazy_tree_entries: int = LAZY_TREE_ENTRIES,
    ):
        # states are names: integer states (pgmpy's default) become '0', '1', ...
        self.states = {n: [str(x) for x in s] for n, s in states.items()}
        self.max_clique_bytes = max_clique_bytes
        self.lazy_entries = lazy_entries  # tree entries above which queries go lazily
        self.lazy_share = lazy_share  # ... when they need more than this share of the variables
        self.lazy_tree_entries = lazy_tree_entries  # ... or single ones a bigger tree of theirs
        self._kept = structures_kept  # compiled patterns kept (None: by the tables' kind)
        self.card = {n: len(s) for n, s in self.states.items()}
        self.parents = {n: tuple(parents[n]) for n in self.states}
        self.tables = dict(tables)
        extra = {n: t.ndim - 1 - len(self.parents[n]) for n, t in self.tables.items()}
        drawn = [self.tables[n].shape[0] for n, axes in extra.items() if axes == 1]
        self.draws: int | None = drawn[0] if drawn else None  # tables with a leading draw axis
        # What the engine keeps between queries, each bounded (least recently used dropped):
        # compiled structures by pattern (the compiler keeps trees and pre-summed tables) and
        # the projection matrices of propagation.
        self.compiler = Compiler(
            self.states, self.card, self.parents, self.tables, max_clique_bytes, self.draws
        )
        self._structures: OrderedDict[tuple, Structure] = OrderedDict()
        self._pattern_trees: OrderedDict[tuple, CalibratedTree | None] = OrderedDict()
        self._pattern_bytes = 0
        self.projections = Projections()
        self._lock = threading.RLock()  # batch scoring runs groups on several threads
        self._calibrated: CalibratedTree | None | object = _UNBUILT
        self._lazy: LazyTree | None | object = _UNBUILT
        self._network_tree: JunctionTree | None = None

    @classmethod
    def from_network(
        cls,
        network,
        *,
        max_clique_bytes: int = MAX_CLIQUE_BYTES,
        lazy_entries: int = LAZY_ENTRIES,
        lazy_share: float = LAZY_SHARE,
        lazy_tree_entries: int = LAZY_TREE_ENTRIES,
    ) -> Engine:
        """The engine of a pgmpy ``DiscreteBayesianNetwork`` (its CPDs as they stand)."""
        states, parents, tables = {}, {}, {}
        for cpd in network.get_cpds():
            v = cpd.variable
            states[v] = list(cpd.state_names[v])
            parents[v] = tuple(cpd.variables[1:])
            tables[v] = np.asarray(cpd.values, dtype=float)
        return cls(
            states,
            parents,
            tables,
            max_clique_bytes=max_clique_bytes,
            lazy_entries=lazy_entries,
            lazy_share=lazy_share,
            lazy_tree_entries=lazy_tree_entries,
        )

    # --- structure --------------------------------------------------------------------------

    def ancestors(self, variable: str) -> set[str]:
        """Every ancestor of ``variable`` (not itself)."""
        return self.compiler.ancestors(variable)

    def needed(self, variables: Iterable[str]) -> int:
        """How many variables a query on ``variables`` (its targets and answers) needs:
        they and their ancestors. Asked before every single query, so counted on bit sets
        (one per variable, made once) rather than by walking the parents each time (56
        microseconds a query on a twin network, 2.4 ms of each explorer refresh)."""
        bits = self._ancestor_bits
        found = 0
        for v in variables:
            found |= bits[v]
        return found.bit_count()

    @cached_property
    def _ancestor_bits(self) -> dict[str, int]:
        """Each variable and its ancestors as the bits of an integer (immutable once made)."""
        number = {v: k for k, v in enumerate(self.states)}
        bits: dict[str, int] = {}
        for start in self.states:  # parents first, without recursion (chains may be long)
            stack = [start]
            while stack:
                v = stack[-1]
                waiting = [p for p in self.parents[v] if p not in bits]
                if waiting:
                    stack.extend(waiting)
                    continue
                stack.pop()
                if v not in bits:
                    found = 1 << number[v]
                    for p in self.parents[v]:
                        found |= bits[p]
                    bits[v] = found
        return bits

    def structure(
        self, observed: Iterable[str], targets: Iterable[str], do: Iterable[str] = ()
    ) -> Structure:
        """The compiled structure for this pattern, cached: least recently used dropped past
        :data:`STRUCTURES_KEPT` structures (or the engine's ``structures_kept``) or past
        :data:`STRUCTURE_BYTES` of the clique tables and batch layouts they keep (on munin1,
        whose cliques run to hundreds of MB, forty queries kept 3.5 GB before this bound)."""
        key = (frozenset(observed), frozenset(targets), frozenset(do))
        with self._lock:
            found = self._structures.get(key)
            if found is None:
                found = self._structures[key] = self.compiler.compile(*key)
            else:
                self._structures.move_to_end(key)
            kept = self._kept or (STRUCTURES_KEPT_DRAWN if self.draws else STRUCTURES_KEPT)
            held = sum(s.nbytes for s in self._structures.values())
            while len(self._structures) > 1 and (
                len(self._structures) > kept or held > STRUCTURE_BYTES
            ):
                held -= self._structures.popitem(last=False)[1].nbytes
        return found

    def pattern_tree(
        self,
        observed: Iterable[str],
        targets: Iterable[str],
        build: bool = True,
        limit: int | None = None,
    ) -> CalibratedTree | None:
        """The tree of one pattern (answered and asked variables) for single queries: the
        pruned, pre-summed factors of :meth:`Compiler.pruned
        <model.inference.compiler.Compiler.pruned>` on a junction tree of their own,
        flattened for the compiled loop and not calibrated (a query sends every message that
        leads to a target). None over parameter draws, or if too big to flatten (the
        compiled structures answer, or refuse), or over ``limit`` entries (lazy propagation
        answers: see :meth:`_single`), or not built yet and ``build`` is false. Kept per
        pattern (a None too), up to :data:`PATTERN_TREE_BYTES`, least recently used
        dropped."""
        if self.draws:
            return None
        key = (frozenset(observed), frozenset(targets))
        with self._lock:
            if key in self._pattern_trees:
                self._pattern_trees.move_to_end(key)
                return self._pattern_trees[key]
        if not build:
            return None
        factors = self.compiler.pruned(*key)
        scopes = [scope for _, scope, _ in factors]
        card = {v: self.card[v] for v in {v for s in scopes for v in s} | key[0] | key[1]}
        try:
            tree = self.compiler.tree(card, scopes)
        except NetworkTooLargeError:
            tree = None
        if tree is None or (limit is not None and tree.size > limit):
            found = None
        else:
            tables = [table for *_, table in factors]
            found = CalibratedTree.from_factors(
                tree, scopes, tables, self.max_clique_bytes, calibrate=False
            )
        with self._lock:
            if key not in self._pattern_trees:
                self._pattern_trees[key] = found
                self._pattern_bytes += found.nbytes if found else 0
                while self._pattern_bytes > PATTERN_TREE_BYTES and len(self._pattern_trees) > 1:
                    _, dropped = self._pattern_trees.popitem(last=False)
                    self._pattern_bytes -= dropped.nbytes if dropped else 0
        return found

    @property
    def pattern_bytes(self) -> int:
        """What the kept pattern trees hold (at most :data:`PATTERN_TREE_BYTES`, unless one
        tree alone is bigger)."""
        with self._lock:
            return self._pattern_bytes

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
        axis) a single row is answered once per draw. A batch keeps its good rows: an
        impossible row comes back with ``log_z = -inf`` and NaN marginals (:meth:`posteriors`
        raises instead). Unknown variables or states raise an :class:`EvidenceError`.
        """
        targets = check_variables(self.states, targets)
        rows = [check_row(self.states, row) for row in rows]
        do, _ = check_evidence(self.states, do)
        return self._query(targets, rows, do)

    def _query(self, targets: list[str], rows: list[dict], do: dict[str, str]) -> tuple:
        if self.draws and len(rows) != 1:
            raise ValueError("an engine over parameter draws answers one evidence set at a time")
        likelihoods = self._stack(rows)
        found = None
        if len(rows) == 1 and not do:
            found = self._single(targets, likelihoods)
        elif rows and not do and not self.draws:
            found = self._looped(targets, rows, likelihoods)
        if found is not None:
            marginals, log_z = found
        else:
            try:
                marginals, log_z = self._run(targets, likelihoods, do, batch=len(rows))
            except NetworkTooLargeError:
                lazy = self.lazy() if len(rows) == 1 and not do else None
                if lazy is None:
                    raise
                # the pattern's own tree would not fit; lazy propagation's products do
                marginals, log_z = _one_row(lazy.query(targets, likelihoods))
        # soft answers enter scaled to a largest likelihood of 1 (see likelihood): their
        # scales come back here, so log_z stays log P(evidence) with the likelihoods as given
        scales = np.array([_log_scale(row) for row in rows])
        return marginals, log_z + (scales[0] if self.draws else scales)

    def _single(self, targets: list[str], likelihoods: dict) -> tuple | None:
        """One evidence set, the cheapest way this engine has (None: the compiled structures
        answer, cached for next time):

        - on a big network (one with a lazy tree, :meth:`lazy`), by lazy propagation where
          the query needs more than :data:`LAZY_SURE` of the variables (answers, targets and
          their ancestors), or where its own tree holds more than :attr:`lazy_tree_entries`;
        - on the pattern's own flattened tree (:meth:`pattern_tree`) if one was built;
        - on the calibrated whole-network tree if the entries it would visit cost less than
          building the pattern's tree: :data:`VISITS_PER_VARIABLE` per variable the query
          needs, at most :data:`CALIBRATED_BUDGET` (not on a big network where the query
          needs more than :attr:`lazy_share` of it);
        - else on the pattern's tree, built now and kept.

        On water, diabetes, mildew and barley a query needs 90% of the variables: lazy wins
        on new and seen patterns alike. On pigs and the munins it needs about a fifth; a
        query on the calibrated tree visits most of pigs' tree (about a million entries)
        where the pattern's tree holds a few thousand, so the pattern's tree wins even on its
        first query. Between the two (link, and munin's patterns that need a quarter or
        more), the size of the pattern's tree decides (measured per pattern on munin and
        link: a tree of up to about half a million entries was faster than lazy propagation,
        5 to 90 ms against 13 to 106; a bigger one slower, 17 to 480 ms against 12 to 63)."""
        variables = [*targets, *likelihoods]
        lazy = self.lazy()
        needed = self.needed(variables)
        if lazy is not None and needed > LAZY_SURE * len(self.card):
            return _one_row(lazy.query(targets, likelihoods))
        pattern = self.pattern_tree(likelihoods, targets, build=False)
        found = pattern and pattern.query(targets, likelihoods)
        calibrated = self.calibrated() if found is None else None
        if calibrated is not None and (lazy is None or needed <= self.lazy_share * len(self.card)):
            budget = min(CALIBRATED_BUDGET, VISITS_PER_VARIABLE * needed)
            found = calibrated.query(targets, likelihoods, budget)
        if found is None and pattern is None:
            limit = self.lazy_tree_entries if lazy is not None else None
            pattern = self.pattern_tree(likelihoods, targets, limit=limit)
            found = pattern and pattern.query(targets, likelihoods)
        if found is None and lazy is not None:  # its own tree is too big, or refused
            return _one_row(lazy.query(targets, likelihoods))
        if found is None:
            return None
        marginals, log_z = found
        return {v: m[None, :] for v, m in marginals.items()}, np.array([log_z])

    def _looped(self, targets: list[str], rows: list[dict], likelihoods: dict) -> tuple | None:
        """Rows one at a time: by lazy propagation where :meth:`lazy_for` says so, else
        through the calibrated tree's compiled loop where :meth:`loop_faster` says it beats
        batched numpy (judged on their hard answers); else None. Rows with a soft answer go
        through either on their own."""
        columns = list(likelihoods)
        codes = encode(self, columns, rows)
        tree = self.row_by_row(targets, columns, codes[:LOOP_SAMPLE])
        if tree is None:
            return None
        marginals, log_z = tree.rows(targets, columns, codes)
        for r, row in enumerate(rows):
            if any(isinstance(a, Mapping) for a in row.values()):
                one = {v: self.likelihood(v, a) for v, a in row.items()}
                got, log_z[r] = tree.query(targets, one)
                for v in targets:
                    marginals[v][r] = got[v]
        return marginals, log_z

    def row_by_row(
        self,
        targets: list[str],
        columns: list[str],
        sample: np.ndarray,
    ) -> LazyTree | CalibratedTree | None:
        """The tree that answers a batch one row at a time, if one should: the lazy tree
        where :meth:`lazy_for` says so and the tree pruned to the batch's columns would hold
        more than :data:`LAZY_BATCH_ENTRIES` (or is refused), else the calibrated tree where
        :meth:`loop_faster` says its loop beats the batch loop on rows like ``sample``; None:
        the batch loop over trees pruned to the rows' answers. Measured on the benchmark's
        batches (3,000 rows, 8 columns, 10 targets): water's pruned tree holds 0.8 million
        entries, and the batch loop ran 3,658 rows/s against lazy propagation's 608; on
        mildew (5.9 million), barley (8.7 million) and diabetes (13 million) lazy
        propagation was the faster, 1.2x to 2.1x.
        Both trees have the same ``rows`` and ``query``; :attr:`RELEASES_GIL
        <model.inference.calibrated.CalibratedTree.RELEASES_GIL>` says whether threads help."""
        lazy = self.lazy_for([*targets, *columns])
        if lazy is not None:
            try:
                tree = self.structure(set(columns), targets).tree
            except NetworkTooLargeError:
                return lazy
            if tree.size > LAZY_BATCH_ENTRIES:
                return lazy
        if self.loop_faster(columns, sample, targets):
            return self.calibrated()
        return None

    def loop_faster(
        self,
        columns: list[str],
        sample: np.ndarray,
        targets: list[str],
    ) -> bool:
        """Whether the calibrated tree's compiled loop should beat the batch loop on rows of
        hard answers like ``sample`` (codes of ``columns``, -1 for none), in a batch of any
        size.

        The batch loop (:mod:`model.inference.batch_kernel`) runs a tree pruned to the
        pattern, every entry once per row but across a block of rows at once (1 to 5 ns per
        entry and row); the calibrated loop visits only the entries its answers leave, one
        row at a time (7 to 13 ns each). Measured on ten networks (asia, child, insurance,
        alarm, hailfinder, hepar2, win95pts, pathfinder, andes, munin2; batches of 1,000 to
        2,000 rows and of 48), the calibrated loop won only where it visits under
        :data:`LOOP_SHARE` of the pruned tree's entries per row (child: 0.12 of them, 2x
        faster; at 0.35 to 0.42 the batch loop was 1.1x to 1.8x faster; at 15 to 200 times
        them, andes and pathfinder, 20x to 115x).
        """
        calibrated = self.calibrated()
        if calibrated is None or not len(sample):
            return False
        visits = float(calibrated.visits(targets, columns, sample).mean())
        pruned = self.structure(set(columns), targets).tree
        return visits <= LOOP_SHARE * pruned.size

    def network_tree(self) -> JunctionTree:
        """The whole network's junction tree (:func:`family_tree`), compiled on first use:
        the calibrated and the lazy tree are both built on it."""
        with self._lock:
            if self._network_tree is None:
                self._network_tree = family_tree(self.card, self.parents)
            return self._network_tree

    def lazy_for(self, variables: Iterable[str]) -> LazyTree | None:
        """The lazy tree (:meth:`lazy`), if this network has one and a query on
        ``variables`` (its targets and answered variables) needs more than
        :attr:`lazy_share` of the network (they and their ancestors); else None."""
        lazy = self.lazy()
        if lazy is None or self.needed(variables) <= self.lazy_share * len(self.card):
            return None
        return lazy

    def lazy(self) -> LazyTree | None:
        """The network's lazy tree (:mod:`model.inference.lazy`), built on first use, when
        its junction tree holds more than :attr:`lazy_entries` entries in all; else None
        (and None over parameter draws, which batch along an axis the lazy tree lacks).

        The compiled loop reads the entries of the cliques a query's messages cross, about 7
        ns each; lazy propagation costs about the same on any network of this kind (4 to 9
        ms a query), so the size of the tree decides (and, per query, :meth:`_single`'s
        share). Measured one run each, pyAgrum's time over crampnet's: lazy on water 1.5x
        (the loop 0.7x), diabetes 2.2x (0.14x), link 1.3x (0.25x), mildew 2.2x, barley 1.5x;
        the loop kept on andes (0.39 million entries: the loop 2.5x, lazy 1.0x), insurance
        and smaller."""
        if self.draws:
            return None
        with self._lock:
            if self._lazy is _UNBUILT:
                lazy = LazyTree.build(self.card, self.parents, self.tables, self.network_tree())
                big = lazy.tree.size > self.lazy_entries
                # its products stay within one clique's variables: bounded like the others
                fits = 8 * lazy.tree.largest <= self.max_clique_bytes
                self._lazy = lazy if big and fits else None
            return self._lazy

    def calibrated(self) -> CalibratedTree | None:
        """The whole network's calibrated tree (:mod:`model.inference.calibrated`), built on
        first use; None over parameter draws or when the tree is too big to keep."""
        if self.draws:
            return None
        with self._lock:
            if self._calibrated is _UNBUILT:
                self._calibrated = CalibratedTree.build(
                    self.card, self.parents, self.tables, self.max_clique_bytes, self.network_tree()
                )
            return self._calibrated

    def given(
        self, row: Mapping[str, object], do: Mapping[str, str] | None = None
    ) -> CalibratedTree | None:
        """The calibrated whole-network tree with ``row``'s answers taken in
        (:meth:`CalibratedTree.given <model.inference.calibrated.CalibratedTree.given>`), for
        many queries that add a few answers each to the same ones; its ``rows`` answer them
        in one compiled loop. None where single queries would not use the calibrated tree
        either (parameter draws, interventions, a tree too big to keep, or a network where
        lazy propagation answers these variables), and the caller queries the engine."""
        row = check_row(self.states, row)
        do, _ = check_evidence(self.states, do)
        if do or self.draws or self.lazy_for(list(row)) is not None:
            return None
        tree = self.calibrated()
        if tree is None:
            return None
        return tree.given({v: self.likelihood(v, answer) for v, answer in row.items()})

    def run(
        self,
        targets: list[str],
        likelihoods: dict[str, np.ndarray],
        do: Mapping[str, str] | None = None,
        batch: int = 1,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """:meth:`query` on likelihood arrays already built: ``(card,)`` shared by every row
        or ``(batch, card)``, for callers that encode evidence in bulk (batch scoring)."""
        targets = check_variables(self.states, targets)
        do, _ = check_evidence(self.states, do)
        return self._run(targets, self._checked(likelihoods, batch), do, batch)

    def run_codes(
        self, targets: list[str], columns: list[str], codes: np.ndarray
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """:meth:`run` for rows of hard answers given as state indices (``codes[r, j]``: row
        ``r``'s state of ``columns[j]``, -1 for none), as batch scoring holds them: a column
        answered alike in every row is one vector for the batch, and rows with equal codes
        share the work of absorbing them (see :meth:`Structure.absorb
        <model.inference.compiler.Structure.absorb>`). Raises an :class:`EvidenceError`
        naming a code that is not a state."""
        targets = check_variables(self.states, targets)
        columns = check_variables(self.states, columns)
        codes = check_codes(self.states, columns, codes)
        if not len(codes):
            return {t: np.empty((0, self.card[t])) for t in targets}, np.empty(0)
        likelihoods, keys = {}, {}
        for j, c in enumerate(columns):
            column = codes[:, j]
            first = column[0]
            if (column == first).all():
                if first >= 0:
                    likelihoods[c] = self._one_hot[c][first]
                continue
            likelihoods[c] = self._one_hot[c][column]
            keys[c] = column
        return self._run(targets, likelihoods, {}, len(codes), keys)

    @cached_property
    def _one_hot(self) -> dict[str, np.ndarray]:
        """Per variable, row ``k`` the likelihood of state ``k`` (one-hot) and the last row
        (index -1) all ones: codes index it straight into likelihoods (immutable once
        made)."""
        return {v: np.vstack([np.eye(n), np.ones(n)]) for v, n in self.card.items()}

    def _checked(self, likelihoods: Mapping[str, np.ndarray], batch: int) -> dict:
        """Likelihood arrays of known variables, of a valid shape, finite and >= 0."""
        out = {}
        for v in check_variables(self.states, likelihoods):
            lik = np.asarray(likelihoods[v], dtype=float)
            card = self.card[v]
            if lik.shape not in ((card,), (batch, card)):
                raise EvidenceError(
                    f"likelihoods of {v!r} must have shape ({card},) or ({batch}, {card}) "
                    f"(states {', '.join(self.states[v])}); got {lik.shape}"
                )
            if not np.isfinite(lik).all() or (lik < 0).any():
                raise EvidenceError(f"likelihoods of {v!r} must be finite numbers >= 0")
            out[v] = lik
        return out

    def _run(
        self,
        targets: list[str],
        likelihoods: dict,
        do: dict[str, str],
        batch: int,
        keys: Mapping[str, np.ndarray] | None = None,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        structure = self.structure(set(likelihoods), targets, do)
        rows = max(1, self.max_clique_bytes // (8 * max(structure.tree.largest, 1)))
        if batch > rows and not self.draws:  # a batch's clique tables stay within the limit
            parts = [
                self._propagate(
                    structure,
                    targets,
                    {
                        v: lik if lik.ndim == 1 else lik[k : k + rows]
                        for v, lik in likelihoods.items()
                    },
                    do,
                    min(rows, batch - k),
                    keys and {v: key[k : k + rows] for v, key in keys.items()},
                )
                for k in range(0, batch, rows)
            ]
            marginals = {v: np.concatenate([m[v] for m, _ in parts]) for v in targets}
            return marginals, np.concatenate([z for _, z in parts])
        return self._propagate(structure, targets, likelihoods, do, batch, keys)

    def _propagate(
        self,
        structure: Structure,
        targets: list[str],
        likelihoods: dict,
        do: dict[str, str],
        batch: int,
        keys: Mapping[str, np.ndarray] | None = None,
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """One batch through one compiled structure. ``keys[v]``, where given, numbers row
        ``r``'s likelihood of ``v`` (rows with equal numbers have equal likelihoods)."""
        likelihoods = dict(likelihoods)
        for v, state in do.items():
            likelihoods[v] = self.likelihood(v, state)
        with one_blas_thread():  # absorption multiplies matrices too
            extra = structure.absorb(likelihoods, keys)
            fixed = {  # one state for every row: slice it out of the tables, not multiply
                v: int(np.argmax(lik))
                for v, lik in likelihoods.items()
                if lik.ndim == 1 and np.count_nonzero(lik) == 1
            }
            free = {v: lik for v, lik in likelihoods.items() if v not in fixed}
            extra = [(scope, slice_fixed(f, scope, fixed), home) for scope, f, home in extra]
            potentials = structure.potentials(fixed)
            asked = [t for t in targets if t not in fixed]
            if self.draws or batch < KERNEL_BATCH or not structure.tree.cliques:
                marginals, log_z = propagate(
                    structure.tree, potentials, free, asked, extra, projections=self.projections
                )
            else:
                marginals, log_z = batch_tree.propagate(
                    structure.tree, potentials, free, asked, extra, batch, structure.layout
                )
        # a sliced-out answer counts at its likelihood (1 for a hard answer), as given
        log_z = log_z + sum(math.log(likelihoods[v][s]) for v, s in fixed.items())
        for v in targets:
            if v in fixed:
                marginals[v] = np.where(
                    np.isfinite(log_z)[..., None], likelihoods[v] / likelihoods[v].sum(), np.nan
                )
        shape = (self.draws if self.draws else batch,)
        for v in targets:
            if v in do:  # set by intervention: the set state, certainly
                marginals[v] = self.likelihood(v, do[v])
            marginals[v] = np.broadcast_to(marginals[v], shape + (self.card[v],))
        return marginals, np.broadcast_to(log_z, shape)

    def posteriors(
        self,
        targets: list[str],
        evidence: Mapping[str, str],
        soft: Mapping[str, Mapping[str, float]] | None = None,
        do: Mapping[str, str] | None = None,
    ) -> Posteriors:
        """Exact marginal of each target for one case; raise an :class:`EvidenceError` for
        unknown variables or states, :class:`ImpossibleEvidenceError` if impossible."""
        targets = check_variables(self.states, targets)
        hard, soft = check_evidence(self.states, evidence, soft)
        do, _ = check_evidence(self.states, do)
        row = {**hard, **soft}
        marginals, log_z = self._query(targets, [row], do)
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
        do = dict(do or {})
        for v in list(keep):
            trial = {k: a for k, a in keep.items() if k != v}
            if trial:
                _, log_z = self._query([], [trial], do)
                if not np.isfinite(log_z).all():
                    keep = trial
        return keep


def encode(engine: Engine, columns: list[str], rows: Iterable[Mapping[str, object]]) -> np.ndarray:
    """Cases as state indices, one column per variable of ``columns``: ``-1`` where a row
    gives no hard answer (unanswered, or a soft answer). States must already be valid."""
    index = {c: {s: k for k, s in enumerate(engine.states[c])} for c in columns}

    def code(c: str, answer: object) -> int:
        return index[c][answer] if isinstance(answer, str) else -1

    rows = list(rows)
    return np.array(
        [[code(c, row.get(c)) for c in columns] for row in rows], dtype=np.int16
    ).reshape(len(rows), len(columns))


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


def _one_row(found: tuple[dict[str, np.ndarray], float]) -> tuple[dict, np.ndarray]:
    """A lazy query's marginals and log_z as a batch of one row."""
    marginals, log_z = found
    return {v: m[None, :] for v, m in marginals.items()}, np.array([log_z])


def _log_scale(row: Mapping[str, object]) -> float:
    """The sum of the logs of each soft answer's largest likelihood in ``row``."""
    total = 0.0
    for answer in row.values():
        if isinstance(answer, Mapping):
            top = max(float(x) for x in answer.values())
            if top > 0:
                total += math.log(top)
    return total

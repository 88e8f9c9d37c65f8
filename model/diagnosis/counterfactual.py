"""What putting one cause right would stop: counterfactual measures on twin networks.

Ranking causes by posterior answers "what is likely present". A person with cramps asks "if I
fixed this, would my cramps stop?". Richens, Lee and Johri ("Improving the accuracy of medical
diagnosis with causal machine learning", Nature Communications 2020) answer with
counterfactuals; for every abnormal cause state ``D = a`` (normal state ``n``), given the
answers ``e`` and the *features* answered present ``S+`` (findings such as night cramps, in
any state but their off state; a soft answer counts with its weight):

- **expected disablement**: the expected number of present features that would be gone had
  ``D`` been ``n``: ``sum over s in S+ of P(D = a, s present, s' off | e)`` under ``do(D = n)``
  in the counterfactual world;
- **p_all_stop**: ``P(D = a, every s' off | e)`` under the same intervention: the chance that
  putting ``D`` right alone would have stopped everything this person reports;
- **expected sufficiency**: the expected number of present features that would remain had
  every *other* cause been switched off, the leaks (causes outside the model) included, as in
  the paper: ``sum over s of P(D = a, s present, s' present | e)`` where in the other world
  only the activations that come from ``D`` (directly or through nodes downstream of it) act.
  There, a noisy-OR node outside ``D``'s lineage is off, another cause normal, and context
  answers and definitions follow their parents.

Each is joint with ``D = a`` in fact, so for a yes/no cause it is exactly Richens et al.'s
measure, and a three-state cause's measures add up over its abnormal states.

How: the counterfactual world is a second copy of every node the intervention can change (the
descendants of the intervened causes that lead to a feature), each coupled to its factual self
through shared noise (:mod:`model.knowledge.twin`): noisy-OR nodes (nearly all of ``priors/``)
through their links' activation variables, exactly as in the paper; deterministic nodes (the
leg's side) with no noise; full tables through one shared uniform draw. The twin network is an
ordinary Bayesian network, so the exact engine answers it; one is compiled per intervention
and kept. Trials (findings with a "not tried" state) are responses to a trial, not features.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from graphlib import TopologicalSorter

import numpy as np

from model.errors import ImpossibleEvidenceError
from model.inference.engine import Engine
from model.inference.evidence import Evidence, SoftEvidence
from model.knowledge.cpt import expand
from model.knowledge.schema import DeterministicCPD, Node, NoisyOrCPD
from model.knowledge.twin import twin_table

YES_NO = ["yes", "no"]
TWIN_STRUCTURES_KEPT = 8  # compiled patterns kept per twin network (about 1 MB each)
ONE_BY_ONE = 64  # twin queries up to this many rows go one at a time (see _collect)


def other_world(node: str) -> str:
    """A node's counterfactual copy in a twin network."""
    return f"{node}'"


def gone(feature: str) -> str:
    """The twin network's yes/no node: the feature present in fact, off in the other world."""
    return f"gone({feature})"


def kept(feature: str) -> str:
    """The twin network's yes/no node: the feature present in both worlds."""
    return f"kept({feature})"


@dataclass(frozen=True)
class IfFixed:
    """What putting one abnormal cause state right would do to the features present.

    ``expected_disablement``: how many of them would be expected to stop; ``p_all_stop``: the
    probability that all of them would; ``expected_sufficiency``: how many would be expected
    to remain were this cause the only one left. ``features``: how many are present (soft
    answers by their probability), what the first and last are counted out of.
    """

    expected_disablement: float
    p_all_stop: float
    expected_sufficiency: float
    features: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


class Counterfactuals:
    """Counterfactual measures over a network of priors ``nodes`` (any order).

    Causes are the nodes of kind ``cause`` (each with its ``normal_state``); features are the
    findings with an off state and no uninformative ("not tried") state. The twin networks
    are compiled on first use, one per intervention, and kept (thread-safe).
    """

    def __init__(self, nodes: Mapping[str, Node], engine: Engine | None = None):
        self.nodes = dict(nodes)
        self.states = {n: list(spec.states) for n, spec in self.nodes.items()}
        self.order = list(
            TopologicalSorter({n: spec.parents for n, spec in self.nodes.items()}).static_order()
        )
        self.children: dict[str, list[str]] = {n: [] for n in self.nodes}
        for n, spec in self.nodes.items():
            for p in spec.parents:
                self.children[p].append(n)
        if engine is None:  # the priors' point tables (a given engine's are those already)
            tables = {n: expand(spec, self.states) for n, spec in self.nodes.items()}
            engine = Engine(
                self.states, {n: tuple(s.parents) for n, s in self.nodes.items()}, tables
            )
        self.engine = engine
        self.tables = engine.tables
        self.causes = [n for n, spec in self.nodes.items() if spec.kind == "cause"]
        self.features = [
            n
            for n, spec in self.nodes.items()
            if spec.kind == "finding"
            and self.off_state(n) is not None
            and not (isinstance(spec.cpd, NoisyOrCPD) and spec.cpd.uninformative is not None)
        ]
        self._downstream = {c: self._lineage(c) for c in self.causes}
        self._needed = self._leads_to_feature()  # what a twin network copies at most
        self._twins: dict[tuple, Engine] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Counterfactuals({len(self.causes)} causes, {len(self.features)} features)"

    def off_state(self, node: str) -> str | None:
        """The state a node takes when nothing pushes it: a noisy-OR's ``off_state``, a
        cause's normal state, a definition's value when its parents are all off; else None."""
        spec = self.nodes[node]
        if spec.normal_state is not None:
            return spec.normal_state
        if isinstance(spec.cpd, NoisyOrCPD):
            return spec.cpd.off_state
        if isinstance(spec.cpd, DeterministicCPD):
            off = {p: self.off_state(p) for p in spec.parents}
            for case in spec.cpd.cases:
                if all(case.when[p] == off[p] for p in spec.parents):
                    return case.state
        return None

    # --- twin networks ----------------------------------------------------------------------

    def twin(self, do: Mapping[str, str] | None = None, alone: str | None = None) -> Engine:
        """The engine over a twin network: ``do`` sets causes in the counterfactual world;
        ``alone`` names a cause whose activations are the only ones left there (every leak
        and every link from anything not downstream of it switched off)."""
        do = dict(do or {})
        key = (frozenset(do.items()), alone)
        with self._lock:
            found = self._twins.get(key)
        if found is None:
            found = self._build_twin(do, alone)
            with self._lock:
                found = self._twins.setdefault(key, found)
        return found

    def warm(self) -> Counterfactuals:
        """Build every twin network :meth:`if_fixed` can use, with its calibrated tree, now
        rather than on the first case that needs it: the explorer calls this once at start,
        so no answer later waits for a twin's first build (up to 0.2 s mid-session)."""
        for cause in self.causes:
            for twin in self.twins_of(cause):
                twin.calibrated()
        return self

    def twins_of(self, cause: str) -> tuple[Engine, Engine]:
        """The two twin networks :meth:`if_fixed` asks about ``cause``: the one where it is
        put right (for disablement) and the one where it acts alone (for sufficiency)."""
        return self.twin({cause: self.nodes[cause].normal_state}), self.twin(alone=cause)

    def _leads_to_feature(self) -> set[str]:
        out: set[str] = set()
        for n in reversed(self.order):
            if n in self.features or any(c in out for c in self.children[n]):
                out.add(n)
        return out

    def _lineage(self, cause: str) -> set[str]:
        """Every node downstream of ``cause``."""
        out: set[str] = set()
        for n in self.order:
            if any(p == cause or p in out for p in self.nodes[n].parents):
                out.add(n)
        return out

    def _silenced(self, alone: str) -> dict[str, str]:
        """With ``alone`` the only cause acting, what every node outside its lineage is in
        the other world: a noisy-OR node off (nothing that acts reaches it), another cause
        normal; context answers and definitions keep following their parents."""
        out = {}
        for n in self._needed - self._downstream[alone] - {alone}:
            spec = self.nodes[n]
            if isinstance(spec.cpd, NoisyOrCPD):
                out[n] = self.off_state(n)
            elif spec.kind == "cause":
                out[n] = spec.normal_state
        return out

    def _build_twin(self, do: dict[str, str], alone: str | None) -> Engine:
        if alone is not None:
            do = {**self._silenced(alone), **do}
        sources = set(do) | ({alone} if alone else set())
        changed: set[str] = set()  # nodes whose value may differ in the other world
        for n in self.order:
            parents = self.nodes[n].parents
            if n in do or n == alone or n not in self._needed:  # set, or kept as in fact
                continue
            if any(p in sources or p in changed for p in parents):
                changed.add(n)
        states = dict(self.states)
        parents = {n: tuple(spec.parents) for n, spec in self.nodes.items()}
        tables = dict(self.tables)
        for n in (n for n in self.order if n in changed):
            spec = self.nodes[n]
            moved = [p for p in spec.parents if p in changed]
            acting = None if alone is None else {alone} | (changed & set(spec.parents))
            fixed = {p: do[p] for p in spec.parents if p in do}
            table = twin_table(spec, self.states, moved, acting, fixed)  # (x', x, *pa, *moved)
            states[other_world(n)] = self.states[n]
            parents[other_world(n)] = (
                n,
                *spec.parents,
                *(other_world(p) for p in moved),
            )
            tables[other_world(n)] = table
        for f in self.features:
            off = self.states[f].index(self.off_state(f))
            present = np.arange(len(self.states[f])) != off
            if f in changed:
                pair = np.logical_and.outer(present, np.arange(len(self.states[f])) == off)
                both = np.logical_and.outer(present, np.arange(len(self.states[f])) != off)
                source: tuple[str, ...] = (f, other_world(f))
            elif alone is None:  # nothing the intervention changes reaches it: the same
                pair, both, source = np.zeros_like(present), present, (f,)
            else:  # the cause left alone cannot reach it: off in the other world
                pair, both, source = present, np.zeros_like(present), (f,)
            for name, truth in ((gone(f), pair), (kept(f), both)):
                states[name] = YES_NO
                parents[name] = source
                tables[name] = np.stack([truth, ~truth]).astype(float)
        return Engine(states, parents, tables, structures_kept=TWIN_STRUCTURES_KEPT)

    # --- measures ---------------------------------------------------------------------------

    def if_fixed(
        self,
        evidence: Evidence,
        soft: SoftEvidence | None = None,
        do: Evidence | None = None,
    ) -> dict[tuple[str, str], IfFixed]:
        """Every abnormal cause state's :class:`IfFixed` given the answers and, with ``do``,
        variables set by intervention in both worlds (checked: unknown variables or states
        raise an ``EvidenceError``, impossible answers an ``ImpossibleEvidenceError``)."""
        return self.if_fixed_many([(evidence, soft or {})], do)[0]

    def if_fixed_many(
        self, cases: list[tuple[Evidence, SoftEvidence]], do: Evidence | None = None
    ) -> list[dict[tuple[str, str], IfFixed]]:
        """:meth:`if_fixed` for many cases, each twin network queried once for all of them."""
        do = dict(do or {})
        rows = [{**hard, **soft} for hard, soft in cases]
        _, log_z = self.engine.query([], rows, do) if rows else ({}, np.zeros(0))
        for row, z in zip(rows, log_z, strict=True):
            if not np.isfinite(z):
                raise ImpossibleEvidenceError(self.engine.conflict(row, do))
        present = [self._present(row) for row in rows]
        shown = [f for f in self.features if any(f in p for p in present)]
        weights, _ = self.engine.query(shown, rows, do) if shown else ({}, None)
        counts = [
            sum(
                1.0 if isinstance(row[f], str) else float(weights[f][r][self._on(f)].sum())
                for f in present[r]
            )
            for r, row in enumerate(rows)
        ]
        out: list[dict[tuple[str, str], IfFixed]] = [{} for _ in rows]
        for cause in self.causes:
            normal = self.nodes[cause].normal_state
            abnormal = [s for s in self.states[cause] if s != normal]
            # a cause no present feature lies downstream of changes nothing: all three are 0
            # (unless a soft answer leaves a feature off in fact, and so "stopped")
            cases_as = [
                row
                if self._downstream[cause] & set(p) or any(not isinstance(row[f], str) for f in p)
                else None
                for row, p in zip(rows, present, strict=True)
            ]
            if cause in do:  # set by intervention: what it was set to, certainly
                rows_as = {a: [r if do[cause] == a else None for r in cases_as] for a in abnormal}
            else:
                rows_as = {a: [_and(r, cause, a) for r in cases_as] for a in abnormal}
            fixed, alone = self.twins_of(cause)
            stop = self._disable(fixed, rows_as, present, log_z, do)
            stay = self._suffice(alone, rows_as, present, log_z, do)
            for r in range(len(rows)):
                for a in abnormal:
                    expected, all_stop = stop[r][a]
                    out[r][(cause, a)] = IfFixed(expected, all_stop, stay[r][a], counts[r])
        return out

    def _on(self, feature: str) -> np.ndarray:
        return np.arange(len(self.states[feature])) != self.states[feature].index(
            self.off_state(feature)
        )

    def _present(self, row: Mapping[str, object]) -> list[str]:
        return [
            f
            for f in self.features
            if f in row and (not isinstance(row[f], str) or row[f] != self.off_state(f))
        ]

    def _disable(self, twin: Engine, rows_as, present, log_z, do) -> list[dict]:
        queries, where = [], []
        for a, rows in rows_as.items():
            for r, row in enumerate(rows):
                all_off = row
                for f in present[r]:
                    name = other_world(f) if other_world(f) in twin.states else f
                    all_off = _and(all_off, name, self.off_state(f))
                where.append((r, a, len(queries)))
                queries += [row, all_off]
        return self._collect(twin, gone, queries, where, present, log_z, do, both=True)

    def _suffice(self, twin: Engine, rows_as, present, log_z, do) -> list[dict]:
        queries, where = [], []
        for a, rows in rows_as.items():
            for r, row in enumerate(rows):
                where.append((r, a, len(queries)))
                queries.append(row)
        return self._collect(twin, kept, queries, where, present, log_z, do, both=False)

    def _collect(self, twin, helper, queries, where, present, log_z, do, both) -> list[dict]:
        """Run one batch on ``twin``; per case and state, the expected count of ``helper``
        nodes at yes (and, with ``both``, the probability of the row after it). A variable
        set by intervention is set in both worlds."""
        out: list[dict] = [{} for _ in present]
        usable = [q for q in queries if q is not None]
        targets = sorted({helper(f) for p in present for f in p})
        both_worlds = {
            name: state
            for v, state in do.items()
            for name in (v, other_world(v))
            if name in twin.states
        }
        if not usable:
            marginals, z = {}, np.zeros(0)
        elif len(usable) <= ONE_BY_ONE and not both_worlds:
            # a few rows: each on the calibrated whole-network tree, which compiles nothing
            # per answer pattern (a batch would compile, and keep, a tree per pattern: about
            # 1 MB each, on every twin network, for every new case)
            each = [twin.query(targets, [q]) for q in usable]
            marginals = {t: np.concatenate([m[t] for m, _ in each]) for t in targets}
            z = np.concatenate([lz for _, lz in each])
        else:
            marginals, z = twin.query(targets, usable, both_worlds)
        index, k = {}, 0
        for i, q in enumerate(queries):
            if q is not None:
                index[i] = k
                k += 1

        def share(i: int, r: int) -> tuple[float, int | None]:  # P(query i) / P(case r)
            if i not in index or not np.isfinite(z[index[i]]):
                return 0.0, None
            return math.exp(float(z[index[i]] - log_z[r])), index[i]

        for r, a, i in where:
            p, row = share(i, r)
            count = 0.0
            if row is not None and present[r]:
                # a probability times a sum of marginals: never below 0 but by rounding
                count = max(0.0, p * sum(float(marginals[helper(f)][row][0]) for f in present[r]))
            all_stop = min(1.0, share(i + 1, r)[0]) if both and present[r] else 0.0
            out[r][a] = (count, all_stop) if both else count
        return out


def _and(row: Mapping[str, object] | None, variable: str, state: str) -> dict | None:
    """``row`` with ``variable = state`` added to what it says of ``variable``; None when the
    two cannot both hold."""
    if row is None:
        return None
    given = row.get(variable)
    out = dict(row)
    if given is None:
        out[variable] = state
    elif isinstance(given, str):
        if given != state:
            return None
    else:
        out[variable] = {s: (float(v) if s == state else 0.0) for s, v in given.items()}
        if not out[variable][state]:
            return None
    return out

"""A brute-force oracle for counterfactual diagnosis (Richens, Lee & Johri, Nature
Communications 2020), written straight from the structural causal model, sharing no code with
``model/`` (it reads only the schema objects of :mod:`model.knowledge.schema`).

The structural model: every node has its own independent exogenous uniforms, shared by the
factual world and the counterfactual one.

- table CPD: one ``U``; the node takes the first state ``i`` with ``U < P(states 0..i | parents)``;
- deterministic CPD: a function of the parents, no noise;
- noisy-OR CPD: per active state ``t`` a leak uniform (fires iff ``U < leak_t``), per parent and
  ``t`` one uniform shared across that parent's states (fires iff ``U`` is below the strength of
  the link from the parent's current state to ``t``), per interaction and ``t`` one uniform
  (fires iff all its parent states hold and ``U`` is below its strength); nothing fired leaves the
  off state, else a choice uniform picks among the fired states in state order; with an
  uninformative state of probability ``c`` one more uniform takes it whenever ``U < c``.

Every uniform is cut at every threshold it is ever compared with (over all parent
configurations) into intervals: one point of an interval behaves like all of it, so the
intervals, weighted by their lengths, enumerate the exogenous world exactly. Each node's
(factual, counterfactual) value pair is enumerated from its own intervals given its parents'
pairs, and the network is swept in topological order keeping only the pairs still needed
(a node is forgotten once its last child is done): exact forward enumeration, no inference
algorithm.

Expected sufficiency silences activations rather than setting values: in the other world only
the activations of the cause itself (which keeps its factual value) and of nodes downstream of
it fire; every leak and every other link stays silent, and every other cause not downstream of
it is normal.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from hypothesis import strategies as st

from model.knowledge.schema import (
    Case,
    DeterministicCPD,
    Interaction,
    Node,
    NoisyOrCPD,
    Param,
    Row,
    TableCPD,
    Uninformative,
)

Cell = tuple[float, float]  # a point inside an interval of a uniform, and the interval's length
Pair = tuple[str, str]  # a node's (factual, counterfactual) value
Soft = Mapping[str, Mapping[str, float]]


def cells(thresholds: Iterable[float]) -> tuple[Cell, ...]:
    """The intervals [a, b) of [0, 1] between the thresholds (0 and 1 included), as (a point
    inside, length); empty intervals dropped. The point is the midpoint, or ``a`` itself when
    the midpoint rounds up to ``b`` (a sliver below 1): every point of [a, b) compares alike
    with every threshold, as ``U < t``."""
    points = sorted({0.0, 1.0, *(t for t in thresholds if 0.0 < t < 1.0)})
    return tuple(
        ((a + b) / 2 if (a + b) / 2 < b else a, b - a)
        for a, b in itertools.pairwise(points)
        if b > a
    )


class Mechanism:
    """A node's structural equation: ``value(parent values, one point per uniform)``."""

    exogenous: tuple[tuple[Cell, ...], ...] = ()

    def value(
        self, parents: tuple[str, ...], u: tuple[float, ...], acting: frozenset[int] | None = None
    ) -> str | None:
        """``acting``: the parents (by index) whose activations may fire; None: all, and the
        leak. Only noisy-OR nodes have activations to silence."""
        raise NotImplementedError


class TableMechanism(Mechanism):
    """One uniform against the cumulative probabilities of the row of the parents' states."""

    def __init__(self, node: Node, cpd: TableCPD):
        self.states = node.states
        self.cumulative: dict[tuple[str, ...], list[float]] = {}
        for row in cpd.rows:
            probs = [row.probs[s] for s in node.states]
            cumulative = list(itertools.accumulate(probs))
            last = max(i for i, p in enumerate(probs) if p > 0)
            cumulative[last:] = [1.0] * (len(probs) - last)  # no gap of rounding before 1
            self.cumulative[tuple(row.when[p] for p in node.parents)] = cumulative
        self.exogenous = (cells(t for c in self.cumulative.values() for t in c),)

    def value(self, parents, u, acting=None) -> str | None:
        row = self.cumulative.get(parents)
        if row is None:
            return None
        return next(s for s, c in zip(self.states, row, strict=True) if u[0] < c)


class DeterministicMechanism(Mechanism):
    """The state of the case that matches the parents (None: no case, impossible)."""

    def __init__(self, node: Node, cpd: DeterministicCPD):
        self.cases = {tuple(c.when[p] for p in node.parents): c.state for c in cpd.cases}

    def value(self, parents, u, acting=None) -> str | None:
        return self.cases.get(parents)


@dataclass(frozen=True)
class Trigger:
    """One noisy-OR uniform that may fire towards ``state``: ``strength(parents)`` is the
    threshold it must fall below (0 when it cannot fire under these parents)."""

    state: str
    strength: Callable[[tuple[str, ...]], float]
    sources: tuple[int, ...] = ()  # the parents it comes from (none: the leak)


class NoisyOrMechanism(Mechanism):
    """Leak, link and interaction uniforms fire; a choice uniform picks among what fired."""

    def __init__(self, node: Node, cpd: NoisyOrCPD):
        pushed = set(cpd.leak)
        pushed |= {t for by_state in cpd.links.values() for ts in by_state.values() for t in ts}
        pushed |= {t for inter in cpd.interactions for t in inter.towards}
        self.states = node.states
        self.active = [s for s in node.states if s in pushed]
        self.off = cpd.off_state
        self.triggers: list[Trigger] = []
        exogenous: list[tuple[Cell, ...]] = []
        for t in self.active:
            if t in cpd.leak:
                p = cpd.leak[t].p
                self.triggers.append(Trigger(t, lambda _, p=p: p))
                exogenous.append(cells([p]))
        for i, parent in enumerate(node.parents):
            by_state = cpd.links.get(parent, {})
            for t in self.active:
                strengths = {ps: ts[t].p for ps, ts in by_state.items() if t in ts}
                if strengths:
                    self.triggers.append(
                        Trigger(t, lambda pa, i=i, s=strengths: s.get(pa[i], 0.0), (i,))
                    )
                    exogenous.append(cells(strengths.values()))
        for inter in cpd.interactions:
            when = [(node.parents.index(p), s) for p, s in inter.when.items()]
            for t, param in inter.towards.items():
                self.triggers.append(
                    Trigger(
                        t,
                        lambda pa, w=when, p=param.p: p if all(pa[i] == s for i, s in w) else 0.0,
                        tuple(i for i, _ in when),
                    )
                )
                exogenous.append(cells([param.p]))
        n = len(self.active)
        self.choice = n > 1
        if self.choice:
            exogenous.append(cells(k / m for m in range(1, n + 1) for k in range(m + 1)))
        self.uninformative = cpd.uninformative
        if self.uninformative is not None:
            exogenous.append(cells([self.uninformative.p]))
        self.exogenous = tuple(exogenous)

    def value(self, parents, u, acting=None) -> str | None:
        n = len(self.triggers)
        fired = {
            t.state
            for t, x in zip(self.triggers, u[:n], strict=True)
            if x < t.strength(parents)
            and (acting is None or (t.sources and set(t.sources) <= acting))
        }
        rest = u[n:]
        if self.uninformative is not None and rest[-1] < self.uninformative.p:
            return self.uninformative.state
        if not fired:
            return self.off
        ordered = [s for s in self.states if s in fired]
        return ordered[math.floor(rest[0] * len(ordered))] if self.choice else ordered[0]


def mechanism(node: Node) -> Mechanism:
    cpd = node.cpd
    if isinstance(cpd, TableCPD):
        return TableMechanism(node, cpd)
    if isinstance(cpd, NoisyOrCPD):
        return NoisyOrMechanism(node, cpd)
    return DeterministicMechanism(node, cpd)


@dataclass(frozen=True)
class Measures:
    """The three counterfactual measures of one abnormal cause state."""

    expected_disablement: float
    p_all_stop: float
    expected_sufficiency: float


class Oracle:
    """Exact factual marginals and twin-world measures by enumeration, for small networks."""

    def __init__(self, nodes: Mapping[str, Node]):
        self.nodes = dict(nodes)
        self.order = list(self.nodes)
        for k, n in enumerate(self.order):
            missing = [p for p in self.nodes[n].parents if p not in self.order[:k]]
            if missing:
                raise ValueError(f"{n}: parents {missing} do not come before it")
        self.mechanisms = {n: mechanism(spec) for n, spec in self.nodes.items()}
        self._local: dict[tuple, tuple[tuple[str, str, float], ...]] = {}

    # --- off states and features -------------------------------------------------------------

    def off_state(self, node_id: str) -> str | None:
        """Noisy-OR: its off state; deterministic: its value with every parent off; a cause's
        table: its normal state; else None."""
        spec = self.nodes[node_id]
        cpd = spec.cpd
        if isinstance(cpd, NoisyOrCPD):
            return cpd.off_state
        if isinstance(cpd, DeterministicCPD):
            offs = tuple(self.off_state(p) for p in spec.parents)
            if any(s is None for s in offs):
                return None
            return self.mechanisms[node_id].value(offs, ())  # type: ignore[arg-type]
        return spec.normal_state if spec.kind == "cause" else None

    @property
    def features(self) -> list[str]:
        """Findings with an off state and no uninformative state, in node order."""
        return [
            n
            for n, spec in self.nodes.items()
            if spec.kind == "finding"
            and self.off_state(n) is not None
            and not (isinstance(spec.cpd, NoisyOrCPD) and spec.cpd.uninformative is not None)
        ]

    @property
    def causes(self) -> list[str]:
        return [n for n, spec in self.nodes.items() if spec.kind == "cause"]

    # --- enumeration -------------------------------------------------------------------------

    def local(
        self,
        node_id: str,
        parents: tuple[str, ...],
        parents_cf: tuple[str, ...],
        forced: str | None,
        acting: frozenset[int] | None = None,
        keep: bool = False,
    ) -> tuple[tuple[str, str, float], ...]:
        """The (factual, counterfactual, probability) of one node given both worlds' parent
        values, by enumerating the cells of its own uniforms; ``forced`` is a state set by
        intervention in the counterfactual world, ``acting`` the parents whose activations
        fire there (None: all, and the leak), ``keep`` its factual value kept there."""
        key = (node_id, parents, parents_cf, forced, acting, keep)
        found = self._local.get(key)
        if found is not None:
            return found
        mech = self.mechanisms[node_id]
        weights: dict[tuple[str, str], float] = defaultdict(float)
        for combo in itertools.product(*mech.exogenous):
            u = tuple(point for point, _ in combo)
            x = mech.value(parents, u)
            if keep:
                x_cf = x
            else:
                x_cf = forced if forced is not None else mech.value(parents_cf, u, acting)
            if x is None or x_cf is None:
                continue
            weights[(x, x_cf)] += math.prod(length for _, length in combo)
        found = self._local[key] = tuple((x, y, w) for (x, y), w in weights.items() if w > 0)
        return found

    def joint(
        self,
        evidence: Mapping[str, str],
        soft: Soft | None,
        do: Mapping[str, str],
        outputs: Sequence[str],
        alone: str | None = None,
    ) -> dict[tuple[Pair, ...], float]:
        """P(outputs' (factual, counterfactual) pairs, evidence) under ``do`` in the
        counterfactual world: unnormalised, the weights sum to P(evidence) (factual world).
        With ``alone``, only that node's activations act in the counterfactual world (it keeps
        its factual value; a node downstream of it fires only through links from it or from
        others downstream of it; every leak and every other link is silent)."""
        soft = soft or {}
        lineage: set[str] = set()
        if alone is not None:
            for n in self.order:
                if any(p == alone or p in lineage for p in self.nodes[n].parents):
                    lineage.add(n)
        last_use = {n: k for k, n in enumerate(self.order)}  # a node is kept till its last child
        for k, n in enumerate(self.order):
            for p in self.nodes[n].parents:
                last_use[p] = max(last_use[p], k)
        live: list[str] = []
        frontier: dict[tuple[Pair, ...], float] = {(): 1.0}
        for k, n in enumerate(self.order):
            where = [live.index(p) for p in self.nodes[n].parents]
            grown: dict[tuple[Pair, ...], float] = defaultdict(float)
            for key, w in frontier.items():
                pa = tuple(key[i][0] for i in where)
                pa_cf = tuple(key[i][1] for i in where)
                acting = None
                if alone is not None and n != alone:
                    acting = frozenset(
                        i for i, p in enumerate(self.nodes[n].parents) if p == alone or p in lineage
                    )
                for x, x_cf, lw in self.local(n, pa, pa_cf, do.get(n), acting, n == alone):
                    if n in evidence and evidence[n] != x:
                        continue
                    factor = soft[n][x] if n in soft else 1.0
                    if factor * lw > 0:
                        grown[(*key, (x, x_cf))] += w * lw * factor
            live.append(n)
            keep = [i for i, m in enumerate(live) if m in outputs or last_use[m] > k]
            frontier = defaultdict(float)
            for key, w in grown.items():
                frontier[tuple(key[i] for i in keep)] += w
            live = [live[i] for i in keep]
        at = [live.index(n) for n in outputs]
        out: dict[tuple[Pair, ...], float] = defaultdict(float)
        for key, w in frontier.items():
            out[tuple(key[i] for i in at)] += w
        return dict(out)

    def evidence_probability(self, evidence: Mapping[str, str], soft: Soft | None = None) -> float:
        """P(hard answers) times the likelihood-weighted sum of the soft ones."""
        return sum(self.joint(evidence, soft, {}, []).values())

    def marginals(
        self, evidence: Mapping[str, str], soft: Soft | None = None
    ) -> dict[str, dict[str, float]]:
        """Factual posterior marginal of every node."""
        joint = self.joint(evidence, soft, {}, self.order)
        z = sum(joint.values())
        if z <= 0:
            raise ValueError("impossible evidence")
        out = {n: dict.fromkeys(spec.states, 0.0) for n, spec in self.nodes.items()}
        for key, w in joint.items():
            for n, (x, _) in zip(self.order, key, strict=True):
                out[n][x] += w / z
        return out

    # --- the measures ------------------------------------------------------------------------

    def present(self, evidence: Mapping[str, str], soft: Soft | None = None) -> list[str]:
        """S+: features answered in a state other than off, and features answered softly."""
        soft = soft or {}
        return [
            s
            for s in self.features
            if s in soft or (s in evidence and evidence[s] != self.off_state(s))
        ]

    def _others_off(self, cause: str) -> dict[str, str]:
        """Every other cause not downstream of ``cause``, normal."""
        downstream: set[str] = set()
        for n in self.order:
            if any(p == cause or p in downstream for p in self.nodes[n].parents):
                downstream.add(n)
        return {
            c: self.nodes[c].normal_state  # type: ignore[misc]
            for c in self.causes
            if c != cause and c not in downstream
        }

    def if_fixed(
        self, evidence: Mapping[str, str], soft: Soft | None = None
    ) -> dict[tuple[str, str], Measures]:
        """Expected disablement and P(all stop) under do(cause = normal); expected sufficiency
        with only the cause's own activations acting in the other world (every other cause
        off, the leaks included: Richens et al.'s "switch off every other cause"), per
        abnormal cause state, in node/state order."""
        present = self.present(evidence, soft)
        off = {s: self.off_state(s) for s in present}
        out: dict[tuple[str, str], Measures] = {}
        for cause in self.causes:
            normal = self.nodes[cause].normal_state
            abnormal = [s for s in self.nodes[cause].states if s != normal]
            if not present:
                out.update({(cause, a): Measures(0.0, 0.0, 0.0) for a in abnormal})
                continue
            outputs = [cause, *present]
            fixed = self.joint(evidence, soft, {cause: normal}, outputs)  # type: ignore[dict-item]
            alone = self.joint(evidence, soft, self._others_off(cause), outputs, alone=cause)
            z = sum(fixed.values())
            if z <= 0:
                raise ValueError("impossible evidence")
            disable = dict.fromkeys(abnormal, 0.0)
            stop = dict.fromkeys(abnormal, 0.0)
            suffice = dict.fromkeys(abnormal, 0.0)
            for (d, *features), w in fixed.items():
                if d[0] in disable:
                    disable[d[0]] += w * sum(
                        x != off[s] and x_cf == off[s]
                        for s, (x, x_cf) in zip(present, features, strict=True)
                    )
                    if all(x_cf == off[s] for s, (_, x_cf) in zip(present, features, strict=True)):
                        stop[d[0]] += w
            for (d, *features), w in alone.items():
                if d[0] in suffice:
                    suffice[d[0]] += w * sum(
                        x != off[s] and x_cf != off[s]
                        for s, (x, x_cf) in zip(present, features, strict=True)
                    )
            for a in abnormal:
                out[(cause, a)] = Measures(disable[a] / z, stop[a] / z, suffice[a] / z)
        return out


# --- small networks for the tests ------------------------------------------------------------

YES_NO = ["yes", "no"]
LEVELS = ["low", "normal", "high"]
SIDES = ["none", "left", "right", "both"]


def param(p: float) -> Param:
    return Param(p=p, elicited="test value", confidence=1)


def table_node(
    kind: str,
    states: list[str],
    parents: list[str],
    rows: Mapping[tuple[str, ...], Sequence[float]],
    normal: str | None = None,
) -> Node:
    """A table CPD: ``rows`` maps each parent configuration to probabilities in state order."""
    return Node(
        kind=kind,
        label="test",
        question="?",
        states=states,
        normal_state=normal,
        parents=parents,
        cpd=TableCPD(
            type="table",
            rows=[
                Row(
                    when=dict(zip(parents, when, strict=True)),
                    probs=dict(zip(states, probs, strict=True)),
                    elicited="test value",
                    confidence=1,
                )
                for when, probs in rows.items()
            ],
        ),
    )


def noisy_or_node(
    kind: str,
    states: list[str],
    parents: list[str],
    off: str,
    leak: Mapping[str, float],
    links: Mapping[str, Mapping[str, Mapping[str, float]]],
    interactions: Sequence[tuple[Mapping[str, str], Mapping[str, float]]] = (),
    uninformative: tuple[str, float] | None = None,
    normal: str | None = None,
) -> Node:
    """A noisy-OR: ``links[parent][parent state][child state]`` strengths, ``interactions`` as
    (when, towards) pairs, ``uninformative`` as (state, probability)."""
    return Node(
        kind=kind,
        label="test",
        question="?",
        states=states,
        normal_state=normal,
        parents=parents,
        cpd=NoisyOrCPD(
            type="noisy_or",
            off_state=off,
            leak={s: param(p) for s, p in leak.items()},
            links={
                parent: {ps: {t: param(q) for t, q in ts.items()} for ps, ts in by.items()}
                for parent, by in links.items()
            },
            interactions=[
                Interaction(when=dict(when), towards={t: param(q) for t, q in towards.items()})
                for when, towards in interactions
            ],
            uninformative=(
                None
                if uninformative is None
                else Uninformative(
                    state=uninformative[0], p=uninformative[1], elicited="t", confidence=1
                )
            ),
        ),
    )


def deterministic_node(
    kind: str, states: list[str], parents: list[str], cases: Mapping[tuple[str, ...], str]
) -> Node:
    return Node(
        kind=kind,
        label="test",
        question="?",
        states=states,
        parents=parents,
        cpd=DeterministicCPD(
            type="deterministic",
            cases=[
                Case(when=dict(zip(parents, when, strict=True)), state=state)
                for when, state in cases.items()
            ],
            elicited="a definition",
        ),
    )


def side_node() -> Node:
    """Like ``leg_cramp_side``: a finding defined by two hidden yes/no nodes ``left``, ``right``."""
    return deterministic_node(
        "finding",
        SIDES,
        ["left", "right"],
        {
            ("no", "no"): "none",
            ("yes", "no"): "left",
            ("no", "yes"): "right",
            ("yes", "yes"): "both",
        },
    )


def _clipped(low: float, high: float) -> st.SearchStrategy[float]:
    """Floats in [0, 1] that are exactly 0 or 1 now and then (those beyond the ends, clipped)."""
    return st.floats(low, high).map(lambda x: min(1.0, max(0.0, x)))


probability = st.floats(0.02, 0.98)
strength = _clipped(-0.1, 1.1)
leak_strength = _clipped(-0.05, 0.6)


@st.composite
def distributions(draw: st.DrawFn, n: int) -> list[float]:
    weights = [draw(_clipped(-0.2, 1.0)) for _ in range(n)]
    if sum(weights) == 0:
        weights[0] = 1.0
    return [w / sum(weights) for w in weights]


@st.composite
def networks(draw: st.DrawFn) -> dict[str, Node]:
    """A small random network in topological order: one or two context roots; a noisy-OR cause
    (binary or low/normal/high), a table-CPD cause, sometimes a noisy-OR cause under the first
    (a chain); two hidden noisy-OR intermediates under a deterministic "side" finding; a
    noisy-OR finding (sometimes with an interaction), sometimes a second one (sometimes with
    two active states) and sometimes a trial with an uninformative state."""
    nodes: dict[str, Node] = {"ctx": table_node("context", YES_NO, [], {(): _pair(draw)})}
    roots = ["ctx"]
    if draw(st.booleans()):
        nodes["ctx2"] = table_node("context", YES_NO, [], {(): _pair(draw)})
        roots.append("ctx2")
    if draw(st.booleans()):
        nodes["c1"] = noisy_or_node(
            "cause",
            LEVELS,
            ["ctx"],
            "normal",
            {"low": draw(leak_strength), "high": draw(leak_strength)},
            {"ctx": {"yes": {"low": draw(strength), "high": draw(strength)}}},
            normal="normal",
        )
    else:
        nodes["c1"] = noisy_or_node(
            "cause",
            YES_NO,
            ["ctx"],
            "no",
            {"yes": draw(leak_strength)},
            {"ctx": {"yes": {"yes": draw(strength)}}},
            normal="no",
        )
    c2_states = draw(st.sampled_from([YES_NO, LEVELS]))
    c2_parent = roots[-1]
    nodes["c2"] = table_node(
        "cause",
        c2_states,
        [c2_parent],
        {(s,): draw(distributions(len(c2_states))) for s in YES_NO},
        normal="no" if c2_states == YES_NO else "normal",
    )
    if draw(st.booleans()):
        nodes["c3"] = noisy_or_node(
            "cause",
            YES_NO,
            ["c1"],
            "no",
            {"yes": draw(leak_strength)},
            {"c1": {s: {"yes": draw(strength)} for s in _abnormal(nodes["c1"])}},
            normal="no",
        )
    causes = [n for n, spec in nodes.items() if spec.kind == "cause"]
    abnormal = {c: _abnormal(nodes[c]) for c in causes}

    def binary(kind: str, parents: list[str]) -> Node:
        interactions = []
        if len(parents) >= 2 and draw(st.booleans()):
            a, b = parents[:2]
            when = {a: draw(st.sampled_from(abnormal[a])), b: draw(st.sampled_from(abnormal[b]))}
            interactions.append((when, {"yes": draw(strength)}))
        return noisy_or_node(
            kind,
            YES_NO,
            parents,
            "no",
            {"yes": draw(leak_strength)},
            {p: {s: {"yes": draw(strength)} for s in abnormal[p]} for p in parents},
            interactions,
        )

    for side in ("left", "right"):
        nodes[side] = binary("intermediate", draw(subsets_of(causes, 1, 2)))
    nodes["side"] = side_node()
    nodes["f1"] = binary("finding", draw(subsets_of(causes, 1, 3)))
    if draw(st.booleans()):
        parents = draw(subsets_of(causes, 1, 2))
        if draw(st.booleans()):  # two active states, fired together now and then
            nodes["f2"] = noisy_or_node(
                "finding",
                LEVELS,
                parents,
                "normal",
                {"low": draw(leak_strength), "high": draw(leak_strength)},
                {
                    p: {
                        s: {t: draw(strength) for t in draw(subsets_of(["low", "high"], 1, 2))}
                        for s in abnormal[p]
                    }
                    for p in parents
                },
            )
        else:
            nodes["f2"] = binary("finding", parents)
    if draw(st.booleans()):
        parent = draw(st.sampled_from(causes))
        nodes["trial"] = noisy_or_node(
            "finding",
            ["not_tried", "improved", "no_change"],
            [parent],
            "no_change",
            {"improved": draw(leak_strength)},
            {parent: {s: {"improved": draw(strength)} for s in abnormal[parent]}},
            uninformative=("not_tried", draw(probability)),
        )
    return nodes


def _pair(draw: st.DrawFn) -> list[float]:
    p = draw(probability)
    return [p, 1.0 - p]


def _abnormal(node: Node) -> list[str]:
    return [s for s in node.states if s != node.normal_state]


@st.composite
def subsets_of(draw: st.DrawFn, items: Sequence[str], low: int, high: int) -> list[str]:
    """Between ``low`` and ``high`` distinct items, in their order."""
    size = draw(st.integers(low, min(high, len(items))))
    chosen = set(draw(st.permutations(list(items)))[:size])
    return [x for x in items if x in chosen]


@st.composite
def answers(draw: st.DrawFn, nodes: Mapping[str, Node]) -> tuple[dict[str, str], dict]:
    """Random hard and soft answers: findings often, causes and contexts now and then, hidden
    intermediates never. Soft likelihoods are >= 0, not all 0, and need not sum to 1."""
    hard: dict[str, str] = {}
    soft: dict[str, dict[str, float]] = {}
    for n, spec in nodes.items():
        if spec.kind == "intermediate":
            continue
        kinds = ["none", "hard", "soft", "hard"] if spec.kind == "finding" else ["none"] * 4
        kind = draw(st.sampled_from([*kinds, "hard"]))
        if kind == "hard":
            hard[n] = draw(st.sampled_from(spec.states))
        elif kind == "soft":
            lik = {s: draw(_clipped(-0.3, 2.0)) for s in spec.states}
            if max(lik.values()) == 0:
                lik[spec.states[0]] = 1.0
            soft[n] = lik
    return hard, soft

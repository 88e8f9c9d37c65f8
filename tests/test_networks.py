"""The engine on real networks: pgmpy's bundled bnlearn networks against pyAgrum.

The issue: a general exact engine, answering any discrete network within bounded memory,
exactly. Each network of :data:`NETWORKS` is loaded offline once per module, its CPD columns
renormalised (alarm's and hepar2's sum to 1 +- 1e-7), and compared with pyAgrum's
``LazyPropagation`` on an independent copy (``tests.oracles.reference.to_pyagrum``) to 1e-9:
hard and soft evidence, batches and their ``log P(evidence)``, interventions (against the
mutilated network), batch scoring, and evidence of probability zero.

Evidence is drawn from forward samples of the network (:func:`forward_sample`, numpy, seeded),
so every drawn evidence set has positive probability by construction; impossible evidence is
built on purpose from a zero entry of a table. Then the input checks of the public functions,
the memory bound (a clique over ``max_clique_bytes`` is refused with a named error; 1,000
varied queries in a subprocess grow by at most :data:`GROWTH_MB` and stay under
:data:`PEAK_RSS_MB`), and engines queried from many threads at once.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import networkx as nx
import numpy as np
import pyagrum as gum
import pytest
from conftest import examples, subsets
from hypothesis import given, settings
from hypothesis import strategies as st

from model.errors import (
    EvidenceError,
    ImpossibleEvidenceError,
    NetworkTooLargeError,
    UnknownStateError,
    UnknownVariableError,
)
from model.inference.engine import PATTERN_TREE_BYTES, Engine, encode
from model.inference.scoring import score_array
from tests.oracles.reference import load_network, mutilated, to_pyagrum

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.models import DiscreteBayesianNetwork
    from pgmpy.utils import get_example_model

NETWORKS = ["asia", "child", "insurance", "alarm", "water", "hailfinder", "hepar2"]
TOL = 1e-9
SAMPLES = 300  # forward samples kept per network: the pool evidence is drawn from
MAX_TARGETS = 20
EVIDENCE_SIZES = [0, 1, 2, 4, 8, 16, 32]  # capped by the network's size
HARD_CASES, SOFT_CASES, DO_CASES = 20, 5, 4  # per network, under the default profile
BATCH_ROWS = 50
SCORED_ROWS = 300
ROOT = Path(__file__).resolve().parent.parent

Hard = dict[str, str]
Soft = dict[str, dict[str, float]]
Posteriors = dict[str, dict[str, float]]


def cases(n: int) -> settings:
    """Hypothesis settings for ``n`` cases per network; no example database (the tests write
    nothing outside temporary folders)."""
    return settings(max_examples=examples(n), database=None)


# --- the networks ------------------------------------------------------------------------------


def forward_sample(
    network: DiscreteBayesianNetwork,
    n: int,
    rng: np.random.Generator,
    do: Mapping[str, str] | None = None,
) -> list[Hard]:
    """``n`` full assignments drawn from the network (or, with ``do``, from the mutilated
    network: each intervened variable fixed, its parents ignored), states as strings.

    Each state is the first whose cumulative probability reaches ``u`` in ``(0, total]``, so a
    state of probability zero is never drawn: every sample, and so every part of one, has
    positive probability.
    """
    do = dict(do or {})
    index: dict[str, np.ndarray] = {}
    out: list[Hard] = [{} for _ in range(n)]
    for var in nx.topological_sort(network):
        cpd = network.get_cpds(var)
        names = [str(s) for s in cpd.state_names[var]]
        if var in do:
            index[var] = np.full(n, names.index(do[var]))
        else:
            table = np.asarray(cpd.values, dtype=float).reshape(cpd.cardinality)
            columns = table[(slice(None), *(index[p] for p in cpd.variables[1:]))]
            p = np.broadcast_to(columns.reshape(len(names), -1), (len(names), n)).T
            cum = np.cumsum(p, axis=1)
            u = (1.0 - rng.random(n)) * cum[:, -1]
            index[var] = (cum < u[:, None]).sum(axis=1)
        for row, k in zip(out, index[var], strict=True):
            row[var] = names[k]
    return out


class Loaded:
    """A network, its pyAgrum copy, its states (as strings) and its forward samples.

    (Plain classes, not dataclasses: hypothesis prints a dataclass field by field.)
    """

    def __init__(
        self,
        name: str,
        network: DiscreteBayesianNetwork,
        bn: gum.BayesNet,
        states: dict[str, list[str]],
        samples: list[Hard],
    ):
        self.name, self.network, self.bn = name, network, bn
        self.states, self.samples = states, samples

    def __repr__(self) -> str:  # short, for hypothesis's failure reports
        return f"Loaded({self.name!r})"

    @property
    def names(self) -> list[str]:
        return sorted(self.states)


class Library:
    """Each network loaded (pgmpy parses its BIF file), copied and sampled once."""

    def __init__(self) -> None:
        self._loaded: dict[str, Loaded] = {}

    def __call__(self, name: str) -> Loaded:
        if name not in self._loaded:
            network = load_network(name)
            states = {
                cpd.variable: [str(s) for s in cpd.state_names[cpd.variable]]
                for cpd in network.get_cpds()
            }
            rng = np.random.default_rng([2026, NETWORKS.index(name)])
            samples = forward_sample(network, SAMPLES, rng)
            self._loaded[name] = Loaded(name, network, to_pyagrum(network), states, samples)
        return self._loaded[name]


class Case:
    """A loaded network and an engine built from it (shared by that network's tests)."""

    def __init__(self, net: Loaded, engine: Engine):
        self.net, self.engine = net, engine

    def __repr__(self) -> str:
        return f"Case({self.net.name!r})"


@pytest.fixture(scope="module")
def library() -> Library:
    return Library()


@pytest.fixture(scope="module", params=NETWORKS)
def case(request: pytest.FixtureRequest, library: Library) -> Case:
    net = library(request.param)
    return Case(net, Engine.from_network(net.network))


# --- oracles and helpers ---------------------------------------------------------------------


def pyagrum_query(
    bn: gum.BayesNet, targets: list[str], hard: Mapping[str, str], soft: Soft | None = None
) -> tuple[Posteriors | None, float]:
    """pyAgrum's marginals and P(evidence) (likelihoods included); marginals None when
    pyAgrum finds the evidence impossible.

    A likelihood with a single non-zero entry is passed as the hard answer it amounts to,
    its value multiplied into P(evidence) here: pyAgrum 3.3.1 takes such a likelihood as
    hard evidence itself, but then counts its value twice in ``evidenceProbability`` when
    other evidence is set (and gives it, unscaled, as the variable's posterior).
    """
    evidence: dict[str, object] = dict(hard)
    scale = 1.0
    for var, lik in (soft or {}).items():
        values = [float(lik[label]) for label in bn.variable(var).labels()]
        nonzero = [k for k, x in enumerate(values) if x != 0.0]
        if len(nonzero) == 1:
            evidence[var] = bn.variable(var).label(nonzero[0])
            scale *= values[nonzero[0]]
        else:
            evidence[var] = values
    ie = gum.LazyPropagation(bn)
    if targets:  # pyAgrum prunes what the targets do not need: 3x faster on water
        ie.setTargets(set(targets))
    try:
        ie.setEvidence(evidence)
        ie.makeInference()
        p_evidence = ie.evidenceProbability() * scale
    except gum.IncompatibleEvidence:
        return None, 0.0
    if p_evidence <= 0.0:
        return None, 0.0
    posts = {t: {s: ie.posterior(t)[{t: s}] for s in bn.variable(t).labels()} for t in targets}
    return posts, p_evidence


def possible(bn: gum.BayesNet, hard: Mapping[str, str]) -> bool:
    return pyagrum_query(bn, [], hard)[0] is not None


def assert_matches(got: Posteriors, expected: Posteriors, context: object = "") -> None:
    """Same targets, same states, every probability within :data:`TOL`."""
    assert set(got) == set(expected), context
    for var, dist in expected.items():
        assert set(got[var]) == set(dist), (var, context)
        worst = max(abs(got[var][s] - p) for s, p in dist.items())
        assert worst <= TOL, f"{var}: off by {worst:.3g} ({context})"


def as_posteriors(
    states: Mapping[str, list[str]], marginals: Mapping[str, np.ndarray], row: int
) -> Posteriors:
    return {v: dict(zip(states[v], map(float, m[row]), strict=True)) for v, m in marginals.items()}


def split_row(row: Mapping[str, object]) -> tuple[Hard, Soft]:
    hard = {v: a for v, a in row.items() if isinstance(a, str)}
    soft = {v: dict(a) for v, a in row.items() if not isinstance(a, str)}
    return hard, soft


def random_soft(rng: np.random.Generator, states: list[str], sampled: str) -> dict[str, float]:
    """Likelihoods for one variable: positive on the sampled state (so the evidence stays
    possible), sometimes zero elsewhere, spanning five orders of magnitude."""
    lik = {s: float(10 ** rng.uniform(-3, 2)) for s in states}
    for s in states:
        if s != sampled and rng.random() < 0.25:
            lik[s] = 0.0
    return lik


def sampled_row(
    rng: np.random.Generator, net: Loaded, sample: Hard, n_hard: int, n_soft: int
) -> dict[str, object]:
    """Part of one sample as an evidence row: ``n_hard`` hard answers, ``n_soft`` soft ones."""
    chosen = rng.permutation(net.names)[: n_hard + n_soft]
    row: dict[str, object] = {str(v): sample[v] for v in chosen[:n_hard]}
    for v in map(str, chosen[n_hard:]):
        row[v] = random_soft(rng, net.states[v], sample[v])
    return row


# --- exactness against pyAgrum ----------------------------------------------------------------


@cases(HARD_CASES)
@given(data=st.data())
def test_hard_evidence_matches_pyagrum(case: Case, data: st.DataObject) -> None:
    net = case.net
    sample = net.samples[data.draw(st.integers(0, SAMPLES - 1), label="sample")]
    size = min(data.draw(st.sampled_from(EVIDENCE_SIZES), label="size"), len(net.names) - 1)
    hard = {v: sample[v] for v in data.draw(subsets(net.names, size), label="observed")}
    free = [v for v in net.names if v not in hard]
    n_targets = data.draw(st.integers(1, min(MAX_TARGETS, len(free))), label="n_targets")
    targets = data.draw(subsets(free, n_targets), label="targets")

    expected, _ = pyagrum_query(net.bn, targets, hard)
    assert expected is not None, "a part of a forward sample must be possible"
    assert_matches(case.engine.posteriors(targets, hard), expected, hard)


@cases(SOFT_CASES)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_soft_evidence_matches_pyagrum(case: Case, data: st.DataObject, seed: int) -> None:
    net, rng = case.net, np.random.default_rng(seed)
    sample = net.samples[data.draw(st.integers(0, SAMPLES - 1), label="sample")]
    n_hard = min(data.draw(st.sampled_from([0, 2, 5, 10]), label="n_hard"), len(net.names) - 4)
    n_soft = data.draw(st.integers(1, 3), label="n_soft")
    hard, soft = split_row(sampled_row(rng, net, sample, n_hard, n_soft))
    free = [v for v in net.names if v not in hard]  # soft-answered variables are targets too
    targets = [str(v) for v in rng.permutation(free)[: rng.integers(1, MAX_TARGETS + 1)]]

    expected, p_evidence = pyagrum_query(net.bn, targets, hard, soft)
    assert expected is not None
    assert_matches(case.engine.posteriors(targets, hard, soft), expected, (hard, soft))
    _, log_z = case.engine.query([], [{**hard, **soft}])
    assert log_z[0] == pytest.approx(math.log(p_evidence), abs=TOL)


def test_batch_matches_pyagrum_row_by_row(case: Case) -> None:
    """One batch of varied rows (hard, soft, empty, a repeat; targets observed in some rows
    and not others): every row's marginals and ``log_z`` as pyAgrum answers it alone."""
    net, engine = case.net, case.engine
    rng = np.random.default_rng([7, NETWORKS.index(net.name)])
    rows: list[dict[str, object]] = [{}]
    while len(rows) < BATCH_ROWS - 1:
        sample = net.samples[rng.integers(SAMPLES)]
        n_hard = int(rng.integers(0, min(12, len(net.names) - 2) + 1))
        n_soft = int(rng.integers(0, 3)) if rng.random() < 0.3 else 0
        rows.append(sampled_row(rng, net, sample, n_hard, n_soft))
    rows.append(dict(rows[1]))
    targets = [str(v) for v in rng.permutation(net.names)[:MAX_TARGETS]]

    marginals, log_z = engine.query(targets, rows)
    assert log_z.shape == (len(rows),)
    assert set(marginals) == set(targets)
    for v in targets:
        assert marginals[v].shape == (len(rows), len(net.states[v]))
    for r, row in enumerate(rows):
        hard, soft = split_row(row)
        expected, p_evidence = pyagrum_query(net.bn, targets, hard, soft)
        assert expected is not None
        assert_matches(as_posteriors(net.states, marginals, r), expected, (r, row))
        assert log_z[r] == pytest.approx(math.log(p_evidence), abs=TOL), (r, row)


@cases(DO_CASES)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_interventions_match_the_mutilated_network(
    case: Case, data: st.DataObject, seed: int
) -> None:
    net = case.net
    var = data.draw(st.sampled_from(net.names), label="do")
    do = {var: data.draw(st.sampled_from(net.states[var]), label="state")}
    # evidence drawn from the mutilated network: possible under the intervention
    (sample,) = forward_sample(net.network, 1, np.random.default_rng(seed), do)
    others = [v for v in net.names if v != var]
    size = min(data.draw(st.sampled_from([0, 2, 5, 10]), label="size"), len(others) - 1)
    hard = {v: sample[v] for v in data.draw(subsets(others, size), label="observed")}
    free = [v for v in others if v not in hard]
    targets = data.draw(subsets(free, min(len(free), MAX_TARGETS)), label="targets")

    expected, _ = pyagrum_query(mutilated(net.bn, do), targets, {**hard, **do})
    assert expected is not None
    got = case.engine.posteriors([*targets, var], hard, do=do)
    assert got.pop(var) == {s: float(s == do[var]) for s in net.states[var]}
    assert_matches(got, expected, (do, hard))


def test_score_array_matches_pyagrum_row_by_row(case: Case) -> None:
    """A few hundred coded rows (answers from samples, about half unanswered, one row all
    unanswered), scored in chunks on two threads; each distinct row checked with pyAgrum."""
    net, engine = case.net, case.engine
    rng = np.random.default_rng([11, NETWORKS.index(net.name)])
    order = [str(v) for v in rng.permutation(net.names)]
    columns, targets = order[:5], order[5 : 5 + 8]
    rows = [
        {c: net.samples[k][c] for c in columns if rng.random() < 0.5}
        for k in rng.integers(0, SAMPLES, SCORED_ROWS - 1)
    ] + [{}]
    codes = encode(engine, columns, rows)
    assert codes.shape == (SCORED_ROWS, len(columns))

    marginals = {t: np.full((SCORED_ROWS, len(net.states[t])), np.nan) for t in targets}
    for chunk in score_array(engine, columns, codes, targets, chunk_size=128, jobs=2):
        assert chunk.possible.all()
        for t in targets:
            marginals[t][chunk.start : chunk.start + len(chunk.possible)] = chunk.marginals[t]
    distinct, first = np.unique(codes, axis=0, return_index=True)
    oracle = {}
    for k in first:
        expected, _ = pyagrum_query(net.bn, targets, rows[k])
        assert expected is not None
        oracle[codes[k].tobytes()] = expected
    for r in range(SCORED_ROWS):
        expected = oracle[codes[r].tobytes()]
        assert_matches(as_posteriors(net.states, marginals, r), expected, (r, rows[r]))
    assert len(distinct) > 10


# --- impossible evidence ------------------------------------------------------------------------


def impossible_evidence(net: Loaded) -> Hard | None:
    """Evidence of probability zero: a sample's parents of some variable, that variable at a
    state its table gives probability zero in that column, and a few more answers from the
    same sample. Preferably a state possible by itself, so that the conflict is a real
    combination. None when no table column the samples reach holds a zero."""
    rng = np.random.default_rng([13, NETWORKS.index(net.name)])
    found: list[tuple[Hard, str]] = []
    for k in rng.permutation(SAMPLES)[:60]:
        sample = net.samples[k]
        for var in net.names:
            cpd = net.network.get_cpds(var)
            parents = cpd.variables[1:]
            if not parents:
                continue
            table = np.asarray(cpd.values, dtype=float).reshape(cpd.cardinality)
            column = table[(slice(None), *(net.states[p].index(sample[p]) for p in parents))]
            for z in np.flatnonzero(column == 0.0):
                core = {p: sample[p] for p in parents}
                core[var] = net.states[var][z]
                found.append((core, var))
        if len(found) > 200:
            break
    if not found:
        return None
    ordered = [found[k] for k in rng.permutation(len(found))]
    core, var = next(
        (item for item in ordered if possible(net.bn, {item[1]: item[0][item[1]]})), ordered[0]
    )
    sample = net.samples[int(rng.integers(SAMPLES))]
    extra = [v for v in rng.permutation(net.names) if v not in core][:3]
    return {**{str(v): sample[v] for v in extra}, **core}


def test_impossible_evidence_is_named_and_isolated(case: Case) -> None:
    """Evidence of probability zero: ``posteriors`` raises ImpossibleEvidenceError naming a
    smallest impossible part of it; in a batch the row gets ``log_z = -inf`` and NaN marginals
    while the other rows stay right; batch scoring marks the row impossible."""
    net, engine = case.net, case.engine
    evidence = impossible_evidence(net)
    if evidence is None:
        zeros = sum(int((cpd.values == 0).sum()) for cpd in net.network.get_cpds())
        pytest.skip(
            f"{net.name}: no zero entry in any table column the samples reach ({zeros} zero "
            "entries in all): no hard evidence of probability zero to build"
        )
    assert not possible(net.bn, evidence), "pyAgrum must find the evidence impossible"
    targets = [v for v in net.names if v not in evidence][:MAX_TARGETS]

    with pytest.raises(ImpossibleEvidenceError) as info:
        engine.posteriors(targets, evidence)
    conflict = info.value.conflict
    assert conflict, "the error must name the conflicting answers"
    assert all(evidence.get(v) == a for v, a in conflict.items()), (conflict, evidence)
    assert not possible(net.bn, conflict), f"pyAgrum finds the conflict possible: {conflict}"
    for v in conflict:
        smaller = {k: a for k, a in conflict.items() if k != v}
        assert possible(net.bn, smaller), f"conflict {conflict} is not minimal: drop {v}"

    rng = np.random.default_rng([17, NETWORKS.index(net.name)])
    rows: list[dict[str, object]] = [
        sampled_row(rng, net, net.samples[k], 4, 1) for k in rng.integers(0, SAMPLES, 4)
    ]
    rows.insert(2, dict(evidence))
    marginals, log_z = engine.query(targets, rows)
    assert log_z[2] == -np.inf
    assert all(np.isnan(marginals[v][2]).all() for v in targets)
    for r in (0, 1, 3, 4):
        hard, soft = split_row(rows[r])
        expected, p_evidence = pyagrum_query(net.bn, targets, hard, soft)
        assert expected is not None
        assert_matches(as_posteriors(net.states, marginals, r), expected, (r, rows[r]))
        assert log_z[r] == pytest.approx(math.log(p_evidence), abs=TOL)

    columns = sorted(evidence)
    scored = [dict(evidence), {}, {c: net.samples[0][c] for c in columns}]
    (chunk,) = score_array(engine, columns, encode(engine, columns, scored), targets[:3])
    assert chunk.possible.tolist() == [False, True, True]


# --- input checks ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def asia(library: Library) -> Engine:
    return Engine.from_network(library("asia").network)


def words(message: str) -> list[str]:
    """The words and numbers of an error message (``-2`` one word, quotes dropped)."""
    return re.findall(r"-?\w+", message)


BAD_VARIABLE: dict[str, Callable[[Engine], object]] = {
    "posteriors target": lambda e: e.posteriors(["smok"], {}),
    "posteriors evidence": lambda e: e.posteriors(["lung"], {"smok": "yes"}),
    "posteriors soft": lambda e: e.posteriors(["lung"], {}, {"smok": {"yes": 1.0, "no": 0.5}}),
    "posteriors do": lambda e: e.posteriors(["lung"], {}, do={"smok": "yes"}),
    "query target": lambda e: e.query(["smok"], [{}]),
    "query row": lambda e: e.query(["lung"], [{}, {"smok": "yes"}]),
    "query do": lambda e: e.query(["lung"], [{}], do={"smok": "yes"}),
    "score_array column": lambda e: list(score_array(e, ["smok"], np.zeros((2, 1), int), [])),
    "score_array target": lambda e: list(score_array(e, ["lung"], np.zeros((2, 1), int), ["smok"])),
}


@pytest.mark.parametrize("call", BAD_VARIABLE.values(), ids=BAD_VARIABLE.keys())
def test_unknown_variable_is_named_with_a_suggestion(asia: Engine, call) -> None:
    with pytest.raises(UnknownVariableError) as info:
        call(asia)
    assert info.value.variable == "smok"
    assert "smok" in str(info.value) and "smoke" in words(str(info.value))


BAD_STATE: dict[str, Callable[[Engine], object]] = {
    "posteriors evidence": lambda e: e.posteriors(["lung"], {"smoke": "maybe"}),
    "posteriors soft": lambda e: e.posteriors(
        ["lung"], {}, {"smoke": {"yes": 1.0, "no": 0.5, "maybe": 0.1}}
    ),
    "posteriors do": lambda e: e.posteriors(["lung"], {}, do={"smoke": "maybe"}),
    "query row": lambda e: e.query(["lung"], [{"smoke": "yes"}, {"smoke": "maybe"}]),
    "query do": lambda e: e.query(["lung"], [{}], do={"smoke": "maybe"}),
}


@pytest.mark.parametrize("call", BAD_STATE.values(), ids=BAD_STATE.keys())
def test_unknown_state_names_the_valid_states(asia: Engine, call) -> None:
    with pytest.raises(UnknownStateError) as info:
        call(asia)
    assert info.value.variable == "smoke" and info.value.state == "maybe"
    assert {"smoke", "maybe", "yes", "no"} <= set(words(str(info.value)))


MISSING_STATE: dict[str, Callable[[Engine], object]] = {
    "posteriors": lambda e: e.posteriors(["lung"], {}, {"smoke": {"yes": 0.7}}),
    "query": lambda e: e.query(["lung"], [{"smoke": {"yes": 0.7}}]),
}


@pytest.mark.parametrize("call", MISSING_STATE.values(), ids=MISSING_STATE.keys())
def test_soft_evidence_missing_a_state_names_it(asia: Engine, call) -> None:
    with pytest.raises(EvidenceError) as info:
        call(asia)
    assert {"smoke", "no"} <= set(words(str(info.value)))


@pytest.mark.parametrize(
    "codes, column, value",
    [
        ([[0, 1], [-2, 0]], "smoke", "-2"),  # below -1 (unanswered)
        ([[0, 1], [1, 2]], "lung", "2"),  # one past the last state
        ([[0, 1], [1, 300]], "lung", "300"),
    ],
)
def test_score_array_rejects_codes_that_are_not_states(
    asia: Engine, codes: list, column: str, value: str
) -> None:
    with pytest.raises(EvidenceError) as info:
        list(score_array(asia, ["smoke", "lung"], np.array(codes, dtype=np.int16), ["either"]))
    assert {column, value} <= set(words(str(info.value)))


def test_asia_lung_and_smoke_without_targets() -> None:
    """Regression: this once raised StopIteration; nothing asked is an empty answer, and the
    batch gives log P(lung=yes, smoke=yes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        network = get_example_model("asia")
    engine = Engine.from_network(network)
    evidence = {"lung": "yes", "smoke": "yes"}
    assert engine.posteriors([], evidence) == {}
    marginals, log_z = engine.query([], [evidence])
    assert marginals == {}
    _, p_evidence = pyagrum_query(to_pyagrum(network), [], evidence)
    assert log_z[0] == pytest.approx(math.log(p_evidence), abs=TOL)


def test_integer_state_names() -> None:
    """A pgmpy network built without state names has states 0..k-1: its states become
    '0', '1', ... and evidence may name them by the integer or the string."""
    net = DiscreteBayesianNetwork([("a", "b"), ("b", "c")])
    pa = np.array([0.3, 0.7])
    pb = np.array([[0.2, 0.6], [0.3, 0.3], [0.5, 0.1]])  # P(b | a), axes (b, a)
    pc = np.array([[0.9, 0.4, 0.05], [0.1, 0.6, 0.95]])  # P(c | b), axes (c, b)
    net.add_cpds(
        TabularCPD("a", 2, pa.reshape(2, 1)),
        TabularCPD("b", 3, pb, evidence=["a"], evidence_card=[2]),
        TabularCPD("c", 2, pc, evidence=["b"], evidence_card=[3]),
    )
    assert net.get_cpds("b").state_names["b"] == [0, 1, 2]
    engine = Engine.from_network(net)
    assert engine.states == {"a": ["0", "1"], "b": ["0", "1", "2"], "c": ["0", "1"]}

    joint = np.einsum("a,ba,cb->abc", pa, pb, pc)  # P(a, b, c) by hand
    given_b1 = joint[:, 1, :] / joint[:, 1, :].sum()
    expected = {
        "a": dict(zip(["0", "1"], given_b1.sum(axis=1), strict=True)),
        "c": dict(zip(["0", "1"], given_b1.sum(axis=0), strict=True)),
    }
    by_int = engine.posteriors(["a", "c"], {"b": 1})
    by_str = engine.posteriors(["a", "c"], {"b": "1"})
    assert by_int == by_str
    assert_matches(by_int, expected)

    marginals, log_z = engine.query(["a", "c"], [{"b": 1}, {"b": "1"}, {}])
    assert_matches(as_posteriors(engine.states, marginals, 0), expected)
    assert_matches(as_posteriors(engine.states, marginals, 1), expected)
    assert log_z[:2] == pytest.approx([math.log(joint[:, 1, :].sum())] * 2, abs=1e-12)

    lik = np.array([1.0, 0.5, 0.2])
    weighted = joint * lik[None, :, None]
    posterior_a = weighted.sum(axis=(1, 2)) / weighted.sum()
    soft_expected = {"a": dict(zip(["0", "1"], posterior_a, strict=True))}
    for soft in ({"b": {"0": 1.0, "1": 0.5, "2": 0.2}}, {"b": {0: 1.0, 1: 0.5, 2: 0.2}}):
        assert_matches(engine.posteriors(["a"], {}, soft), soft_expected, soft)

    # do(b=2): a keeps its prior, c follows P(c | b=2)
    for state in (2, "2"):
        got = engine.posteriors(["a", "c"], {}, do={"b": state})
        expected_do = {"a": {"0": 0.3, "1": 0.7}, "c": {"0": 0.05, "1": 0.95}}
        assert_matches(got, expected_do, state)


# --- bounded memory ----------------------------------------------------------------------------

SMALL_LIMIT = 10_000  # bytes: 1,250 doubles


def fits(network: DiscreteBayesianNetwork, entries: int) -> bool:
    """Whether some elimination order of the moral graph keeps every clique within
    ``entries`` table entries, i.e. whether any junction tree of the whole network fits.

    Simplicial variables are eliminated first (safe: their family is a clique of every
    triangulation); the rest is a depth-first search over sets of eliminated variables
    (the graph left depends on the set, not the order), each dead end remembered.
    """
    card = {cpd.variable: int(cpd.variable_card) for cpd in network.get_cpds()}
    adj: dict[str, set[str]] = {v: set() for v in card}
    for cpd in network.get_cpds():
        for a, b in itertools.combinations(cpd.variables, 2):
            adj[a].add(b)
            adj[b].add(a)

    def size(adj: dict[str, set[str]], v: str) -> int:
        return math.prod(card[u] for u in adj[v] | {v})

    def eliminate(adj: dict[str, set[str]], v: str) -> dict[str, set[str]]:
        out = {u: set(n) for u, n in adj.items() if u != v}
        for a in adj[v]:
            out[a] |= adj[v] - {a}
            out[a].discard(v)
        return out

    while True:
        simplicial = next(
            (v for v in adj if all(b in adj[a] for a, b in itertools.combinations(adj[v], 2))),
            None,
        )
        if simplicial is None:
            break
        if size(adj, simplicial) > entries:
            return False
        adj = eliminate(adj, simplicial)

    dead: set[frozenset[str]] = set()

    def search(adj: dict[str, set[str]], done: frozenset[str]) -> bool:
        if not adj:
            return True
        if done in dead:
            return False
        for v in adj:
            if size(adj, v) <= entries and search(eliminate(adj, v), done | {v}):
                return True
        dead.add(done)
        return False

    return search(adj, frozenset())


def test_fits_is_a_sound_oracle(library: Library) -> None:
    """The oracle of the next test on known cases: asia's largest family has 8 entries, and
    insurance fits within pyAgrum's own largest clique (28,800 entries)."""
    assert fits(library("asia").network, 8) and not fits(library("asia").network, 7)
    assert fits(library("insurance").network, 28_800)


def test_a_clique_over_the_limit_is_refused_with_a_named_error(library: Library) -> None:
    net = library("insurance")
    # no junction tree of insurance keeps its cliques within 10 kB: asking for every variable
    # with no evidence needs the whole network, so a bigger clique
    assert not fits(net.network, SMALL_LIMIT // 8)
    engine = Engine.from_network(net.network, max_clique_bytes=SMALL_LIMIT)

    small = [(["Age"], {}), (["SocioEcon"], {"Age": "Adult"}), (["Age", "Mileage"], {})]
    for targets, hard in small:  # queries within the limit are answered, exactly
        expected, _ = pyagrum_query(net.bn, targets, hard)
        assert expected is not None
        assert_matches(engine.posteriors(targets, hard), expected, targets)

    every = list(net.states)
    calls = {  # no evidence: the whole network is needed
        "posteriors": lambda: engine.posteriors(every, {}),
        "query": lambda: engine.query(every, [{}, {}]),
        "score_array": lambda: list(
            score_array(engine, ["Age"], np.array([[-1], [-1]], dtype=np.int16), every)
        ),
    }
    for name, call in calls.items():
        try:
            call()
        except NetworkTooLargeError as exc:
            error = exc
        else:
            pytest.fail(f"{name} answered, yet no junction tree of insurance fits in 10 kB")
        assert error.limit == SMALL_LIMIT and error.needed > SMALL_LIMIT, name
        shown = {  # the sizes the message gives, in bytes
            float(number) * {"bytes": 1, "kB": 2**10, "MB": 2**20, "GB": 2**30}[unit]
            for number, unit in re.findall(r"(\d+(?:\.\d+)?) (bytes|kB|MB|GB)\b", str(error))
        }
        assert any(abs(s - SMALL_LIMIT) <= 0.01 * SMALL_LIMIT for s in shown), str(error)
        assert any(abs(s - error.needed) <= 0.01 * error.needed for s in shown), str(error)
    # and the engine still answers afterwards
    assert_matches(engine.posteriors(["Age"], {}), pyagrum_query(net.bn, ["Age"], {})[0])


# Measured in the subprocess (VmRSS after set-up, VmHWM at the end), insurance, 1,000 varied
# queries: set-up 456 MB, peak 596 MB with numba's kernel cached on disk; 549 and 714 MB on a
# fresh checkout, where the first query compiles the kernel (the set-up includes that query).
# The engine before issue 15, which kept 256 MB of projection matrices, reached 4.5 GB. The
# engine's own growth is its bounded caches (projection matrices alone may keep 64 MB).
PEAK_RSS_MB = 800
GROWTH_MB = 200
MEMORY_QUERIES = 1_000

MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, sys, warnings
    warnings.simplefilter("ignore")
    from model.errors import ImpossibleEvidenceError
    from model.inference.engine import Engine
    from tests.oracles.reference import load_network

    def status_mb(field):
        # VmHWM (the peak) rather than ru_maxrss: Linux carries the parent's peak into
        # ru_maxrss across fork and exec (a pytest process of 2.9 GB made every child
        # report 2.9 GB); VmRSS is the memory now
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024

    engine = Engine.from_network(load_network("insurance"))
    # one query first: it builds the calibrated tree and loads (on a fresh checkout, compiles)
    # the numba kernel, whose compiler's memory is not the engine's
    engine.posteriors([next(iter(engine.states))], {})
    setup = status_mb("VmRSS")
    answered = 0
    for q in json.load(sys.stdin):
        if q["rows"] is None:
            hard = {v: a for v, a in q["row"].items() if isinstance(a, str)}
            soft = {v: a for v, a in q["row"].items() if not isinstance(a, str)}
            try:
                engine.posteriors(q["targets"], hard, soft, do=q["do"])
            except ImpossibleEvidenceError:
                pass
        else:
            engine.query(q["targets"], q["rows"], do=q["do"])
        answered += 1
    print(json.dumps({
        "setup_mb": setup,
        "peak_mb": status_mb("VmHWM"),
        "answered": answered,
        "projection_bytes": engine.projections.nbytes,
        "projection_max_bytes": engine.projections.max_bytes,
        "pattern_bytes": engine.pattern_bytes,
    }))
    """
)


def test_a_pattern_too_big_to_compile_is_answered_lazily() -> None:
    """On link (held apart from the seven), some answer patterns have a pruned tree whose
    clique would need 4 GB, over the 1 GB limit, while the whole network's tree fits: a single
    query on such a pattern is answered by lazy propagation (forced here to be the second
    choice, ``lazy_share=1``), exactly, instead of being refused."""
    network = load_network("link")
    bn = to_pyagrum(network)
    engine = Engine.from_network(network, lazy_share=1.0)
    assert engine.lazy() is not None
    rng = np.random.default_rng(7)
    names = sorted(engine.states)
    sample = forward_sample(network, 40, rng)
    asked = 0
    for row in sample:
        observed = [names[k] for k in rng.choice(len(names), 5, replace=False)]
        others = [v for v in names if v not in observed]
        targets = [others[k] for k in rng.choice(len(others), 20, replace=False)]
        try:
            engine.structure(set(observed), targets)
            continue  # this pattern compiles: not the case under test
        except NetworkTooLargeError:
            pass
        hard = {v: row[v] for v in observed}
        expected, _ = pyagrum_query(bn, targets, hard)
        assert_matches(engine.posteriors(targets, hard), expected, hard)
        asked += 1
        if asked == 3:
            break
    assert asked, "no pattern of link was too big to compile: the test checks nothing"


def test_pigs_single_queries_go_to_pattern_trees() -> None:
    """On pigs (held apart from the seven: 441 variables, a whole tree of 0.7 million
    entries), a query on 5 answers and 20 targets needs about a fifth of the network and the
    calibrated tree would visit most of its entries, where the pattern's own tree holds a few
    thousand: single queries go to pattern trees, new patterns and seen ones (the same
    variables, other answers), and answer exactly as pyAgrum does."""
    network = load_network("pigs")
    bn = to_pyagrum(network)
    engine = Engine.from_network(network)
    rng = np.random.default_rng(11)
    names = sorted(engine.states)
    sample = forward_sample(network, 8, rng)
    for k in range(4):
        observed = [names[i] for i in rng.choice(len(names), 5, replace=False)]
        others = [v for v in names if v not in observed]
        targets = [others[i] for i in rng.choice(len(others), 20, replace=False)]
        for row in (sample[2 * k], sample[2 * k + 1]):  # new, then seen
            hard = {v: row[v] for v in observed}
            expected, _ = pyagrum_query(bn, targets, hard)
            assert_matches(engine.posteriors(targets, hard), expected, hard)
        assert engine.pattern_tree(observed, targets, build=False) is not None


def memory_queries(net: Loaded, n: int) -> list[dict]:
    """``n`` queries, nearly every one a pattern of its own: 0-15 hard answers, sometimes
    soft ones, 1-27 targets, one row or a batch of up to 30, sometimes an intervention."""
    rng = np.random.default_rng(23)
    out = []
    for _ in range(n):
        do = {}
        if rng.random() < 0.1:
            var = str(rng.choice(net.names))
            do = {var: str(rng.choice(net.states[var]))}
        batch = 1 if rng.random() < 0.6 else int(rng.integers(2, 31))
        n_hard = int(rng.integers(0, 16))
        n_soft = int(rng.integers(1, 3)) if rng.random() < 0.2 else 0
        rows = [
            {
                v: a
                for v, a in sampled_row(rng, net, net.samples[k], n_hard, n_soft).items()
                if v not in do
            }
            for k in rng.integers(0, SAMPLES, batch)
        ]
        targets = [str(v) for v in rng.permutation(net.names)[: rng.integers(1, 28)]]
        single = batch == 1 and rng.random() < 0.5
        out.append(
            {
                "targets": targets,
                "rows": None if single else rows,
                "row": rows[0] if single else None,
                "do": do,
            }
        )
    return out


def test_memory_stays_bounded_over_many_varied_queries(library: Library, tmp_path: Path) -> None:
    queries = memory_queries(library("insurance"), MEMORY_QUERIES)
    path = os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p)
    env = {**os.environ, "PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT],
        input=json.dumps(queries),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["answered"] == MEMORY_QUERIES
    growth = report["peak_mb"] - report["setup_mb"]
    assert growth <= GROWTH_MB, (
        f"memory grew {growth:.0f} MB over {MEMORY_QUERIES} queries "
        f"(from {report['setup_mb']:.0f} MB after set-up; limit {GROWTH_MB} MB)"
    )
    assert report["peak_mb"] <= PEAK_RSS_MB, (
        f"peak {report['peak_mb']:.0f} MB over {MEMORY_QUERIES} queries "
        f"(after set-up {report['setup_mb']:.0f} MB; limit {PEAK_RSS_MB} MB)"
    )
    assert report["projection_bytes"] <= report["projection_max_bytes"]
    assert report["pattern_bytes"] <= PATTERN_TREE_BYTES


# --- threads -----------------------------------------------------------------------------------

THREADED = ["asia", "child", "alarm", "insurance"]


def thread_jobs(net: Loaded, n: int) -> list[tuple]:
    """Varied calls for one network: posteriors (hard, soft, do) and batches."""
    rng = np.random.default_rng([29, NETWORKS.index(net.name)])
    jobs = []
    for k in range(n):
        sample = net.samples[int(rng.integers(SAMPLES))]
        n_hard = int(rng.integers(0, min(10, len(net.names) - 3)))
        row = sampled_row(rng, net, sample, n_hard, int(rng.integers(0, 2)))
        free = [v for v in net.names if v not in row]
        targets = [str(v) for v in rng.permutation(free)[: rng.integers(1, 10)]]
        kind = ["posteriors", "do", "query"][k % 3]
        if kind == "posteriors":
            jobs.append(("posteriors", targets, *split_row(row), None))
        elif kind == "do":
            var = str(rng.choice(free))
            do = {var: str(rng.choice(net.states[var]))}
            hard = {v: a for v, a in row.items() if isinstance(a, str)}
            jobs.append(("posteriors", [t for t in targets if t != var], hard, {}, do))
        else:
            rows = [
                sampled_row(rng, net, net.samples[int(i)], n_hard, 1)
                for i in rng.integers(0, SAMPLES, 5)
            ]
            jobs.append(("query", targets, rows, None, None))
    return jobs


def run_job(engine: Engine, job: tuple) -> dict[str, np.ndarray]:
    kind, targets, a, b, do = job
    if kind == "query":
        marginals, log_z = engine.query(targets, a)
        return {**{v: np.asarray(m) for v, m in marginals.items()}, "log_z": np.asarray(log_z)}
    try:
        got = engine.posteriors(targets, a, b, do=do)
    except ImpossibleEvidenceError as exc:  # possible for do jobs: same answer either way
        return {"impossible": np.array(sorted(exc.conflict), dtype=object)}
    return {v: np.array(list(dist.values())) for v, dist in got.items()}


def test_engines_queried_from_many_threads_agree_with_one_thread(library: Library) -> None:
    """Fresh engines (cold caches) of four networks, queried at once from eight threads, each
    call twice: every answer equal (to 1e-12) to the same call on one thread."""
    jobs = [(name, job) for name in THREADED for job in thread_jobs(library(name), 24)]
    single = {name: Engine.from_network(library(name).network) for name in THREADED}
    expected = [run_job(single[name], job) for name, job in jobs]

    shared = {name: Engine.from_network(library(name).network) for name in THREADED}
    order = np.random.default_rng(31).permutation(2 * len(jobs)) % len(jobs)
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda k: (k, run_job(shared[jobs[k][0]], jobs[k][1])), order))
    for k, answer in got:
        assert answer.keys() == expected[k].keys(), jobs[k]
        for key, value in answer.items():
            if value.dtype == object:
                assert value.tolist() == expected[k][key].tolist(), jobs[k]
            else:
                np.testing.assert_allclose(value, expected[k][key], rtol=0, atol=1e-12)

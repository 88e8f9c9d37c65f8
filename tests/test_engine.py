"""The compiled engine against independent oracles, on random networks and on the real model.

Oracles: pyAgrum's ``LazyPropagation`` (on a copy built by ``conftest.to_pyagrum``), pgmpy's
variable elimination (``tests.oracles.reference.PgmpyEngine``), pgmpy's ``CausalInference`` for
interventions, and a brute-force joint table for small networks.

pgmpy's ``CausalInference.query(variables, do, evidence)`` computes
``sum_z P(variables | do, z) P(z | evidence)`` over the parents ``z`` of the intervened
variable: it drops the evidence from the first factor and takes ``P(z | evidence)`` before the
intervention. That is ``P(variables | do, evidence)`` only when the evidence is empty, lies
among those parents, or the intervened variable has no parents, so it is used as an oracle
only there. Elsewhere the oracle is the textbook definition: the *mutilated* network (incoming
links of the intervened variable cut, the variable fixed to its state) queried by pyAgrum.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping
from unittest.mock import patch

import numpy as np
import pyagrum as gum
import pytest
from conftest import examples, subsets, to_pyagrum
from hypothesis import event, given, settings
from hypothesis import strategies as st

from model import CrampModel, ImpossibleEvidenceError
from model.errors import NetworkTooLargeError
from model.inference import batch_tree as batch_tree_module
from model.inference import compiler as compiler_module
from model.inference import engine as engine_module
from model.inference import lazy as lazy_module
from model.inference.engine import LAZY_ENTRIES, Engine
from model.inference.evidence import Posteriors
from model.inference.junction import ancestral, onto_index
from model.inference.kept import Kept
from model.inference.lazy import LazyTree
from model.inference.scoring import score_array
from model.inference.triangulation import eliminate
from tests.oracles.reference import PgmpyEngine, min_fill_cliques, mutilated

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pgmpy
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.inference import CausalInference
    from pgmpy.models import DiscreteBayesianNetwork

pgmpy.config.set_show_progress(False)

Hard = dict[str, str]
Soft = dict[str, dict[str, float]]

MAX_PARENTS = 4
WINDOW = 7  # parents come from the previous WINDOW nodes: any DAG up to 8 nodes, bounded width
LEG_CLUSTER = ["leg_cramp_side", "left_leg_cramps", "right_leg_cramps"]


# --- random networks -----------------------------------------------------------------------


def random_column(rng: np.random.Generator, card: int, zero_rate: float) -> np.ndarray:
    """A random probability vector; with ``zero_rate`` > 0 some entries are exactly zero."""
    column = rng.dirichlet(np.full(card, rng.choice([0.3, 1.0, 3.0])))
    if zero_rate > 0:
        zero = rng.random(card) < zero_rate
        zero[rng.integers(card)] = False  # keep at least one state possible
        column = np.where(zero, 0.0, column)
        if column.sum() == 0:  # every kept entry underflowed: put the mass on one state
            column[np.flatnonzero(~zero)[0]] = 1.0
        column = column / column.sum()
    return column


@st.composite
def networks(
    draw: st.DrawFn,
    min_nodes: int = 2,
    max_nodes: int = 30,
    zeros: bool | None = None,
) -> DiscreteBayesianNetwork:
    """A random discrete BN: edges from lower to higher index only, at most MAX_PARENTS
    parents, 2-4 states named ``s0``..., random CPT columns (sometimes with exact zeros)."""
    n = draw(st.integers(min_nodes, max_nodes))
    names = [f"n{i:02d}" for i in range(n)]
    cards = [draw(st.integers(2, 4)) for _ in range(n)]
    parents: list[list[int]] = []
    for i in range(n):
        pool = list(range(max(0, i - WINDOW), i))
        size = draw(st.integers(0, min(MAX_PARENTS, len(pool))))
        parents.append(sorted(draw(subsets(pool, size))))
    with_zeros = draw(st.booleans()) if zeros is None else zeros
    zero_rate = draw(st.sampled_from([0.2, 0.5])) if with_zeros else 0.0
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    states = {name: [f"s{k}" for k in range(card)] for name, card in zip(names, cards, strict=True)}

    net = DiscreteBayesianNetwork()
    net.add_nodes_from(names)
    net.add_edges_from((names[p], names[i]) for i in range(n) for p in parents[i])
    for i, name in enumerate(names):
        pnames = [names[p] for p in parents[i]]
        pcards = [cards[p] for p in parents[i]]
        columns = int(np.prod(pcards)) if pcards else 1
        values = np.stack([random_column(rng, cards[i], zero_rate) for _ in range(columns)], 1)
        net.add_cpds(
            TabularCPD(
                name,
                cards[i],
                values,
                evidence=pnames or None,
                evidence_card=pcards or None,
                state_names={v: states[v] for v in [name, *pnames]},
            )
        )
    net.check_model()
    return net


def net_states(net: DiscreteBayesianNetwork) -> dict[str, list[str]]:
    return {cpd.variable: list(cpd.state_names[cpd.variable]) for cpd in net.get_cpds()}


@st.composite
def evidence_for(
    draw: st.DrawFn,
    states: Mapping[str, list[str]],
    max_hard: int = 5,
    max_soft: int = 2,
    exclude: tuple[str, ...] = (),
) -> tuple[Hard, Soft]:
    """0-``max_hard`` hard answers and 0-``max_soft`` soft ones (positive likelihoods)."""
    pool = sorted(v for v in states if v not in exclude)
    hard_vars = draw(subsets(pool, draw(st.integers(0, min(max_hard, len(pool))))))
    hard = {v: draw(st.sampled_from(states[v])) for v in hard_vars}
    rest = [v for v in pool if v not in hard]
    soft_vars = draw(subsets(rest, draw(st.integers(0, min(max_soft, len(rest))))))
    likelihood = st.floats(min_value=1e-3, max_value=100.0, allow_nan=False)
    soft = {v: {s: draw(likelihood) for s in states[v]} for v in soft_vars}
    return hard, soft


@st.composite
def cases(draw: st.DrawFn, max_hard: int = 5):
    """A random network (up to 8 or 30 nodes), its states, one or more targets and the
    evidence of one query: ``(net, states, targets, hard, soft)``."""
    net = draw(networks(max_nodes=draw(st.sampled_from([8, 30]))))
    states = net_states(net)
    names = sorted(states)
    targets = draw(subsets(names, draw(st.integers(1, len(names)))))
    hard, soft = draw(evidence_for(states, max_hard=max_hard))
    return net, states, targets, hard, soft


# --- oracles ---------------------------------------------------------------------------------


def pyagrum_evidence(bn: gum.BayesNet, hard: Hard, soft: Mapping[str, Mapping[str, float]]):
    evidence: dict[str, object] = dict(hard)
    for var, lik in soft.items():
        evidence[var] = [float(lik[label]) for label in bn.variable(var).labels()]
    return evidence


def pyagrum_query(
    bn: gum.BayesNet, targets: list[str], hard: Hard, soft: Soft
) -> tuple[Posteriors | None, float]:
    """pyAgrum's marginals and P(evidence); marginals None when pyAgrum finds the evidence
    impossible (it raises ``IncompatibleEvidence``, or reports P(evidence) = 0)."""
    ie = gum.LazyPropagation(bn)
    try:
        ie.setEvidence(pyagrum_evidence(bn, hard, soft))
        ie.makeInference()
        p_evidence = ie.evidenceProbability()
    except gum.IncompatibleEvidence:
        return None, 0.0
    if p_evidence <= 0.0:
        return None, 0.0
    labels = {t: list(bn.variable(t).labels()) for t in targets}
    posts = {t: {s: ie.posterior(t)[{t: s}] for s in labels[t]} for t in targets}
    return posts, p_evidence


def pyagrum_possible(bn: gum.BayesNet, row: Mapping[str, object]) -> bool:
    hard = {v: a for v, a in row.items() if isinstance(a, str)}
    soft = {v: a for v, a in row.items() if not isinstance(a, str)}
    return pyagrum_query(bn, [], hard, soft)[0] is not None


def pgmpy_posteriors(
    reference: PgmpyEngine, targets: list[str], hard: Hard, soft: Soft
) -> Posteriors | None:
    """pgmpy's marginals one target at a time (its "greedy" elimination builds the joint of
    all targets at once), or None when it finds the evidence impossible."""
    try:
        if not targets:
            return reference.posteriors([], hard, soft)
        return {t: reference.posteriors([t], hard, soft)[t] for t in targets}
    except ImpossibleEvidenceError:
        return None


def check_batch_row(
    bn: gum.BayesNet,
    states: Mapping[str, list[str]],
    targets: list[str],
    hard: Hard,
    soft: Soft,
    batch: tuple[dict[str, np.ndarray], np.ndarray],
    r: int,
) -> None:
    """Row ``r`` of a batch's ``(marginals, log_z)`` as pyAgrum answers ``hard`` and ``soft``
    alone: to 1e-9, or ``-inf`` and NaN where pyAgrum finds them impossible."""
    marginals, log_z = batch
    expected, p_evidence = pyagrum_query(bn, targets, hard, soft)
    if expected is None:
        event("impossible row")
        assert log_z[r] == -np.inf, (r, hard, soft)
        assert all(np.isnan(marginals[t][r]).all() for t in targets), (r, hard, soft)
        return
    assert log_z[r] == pytest.approx(np.log(p_evidence), abs=1e-9), (r, hard, soft)
    got = {t: dict(zip(states[t], marginals[t][r], strict=True)) for t in targets}
    assert max_abs_diff(got, expected) <= 1e-9, (r, hard, soft)


def max_abs_diff(a: Posteriors, b: Posteriors) -> float:
    assert a.keys() == b.keys()
    diffs = [abs(a[v][s] - b[v][s]) for v in a for s in a[v]]
    return max(diffs, default=0.0)


def joint_table(net: DiscreteBayesianNetwork) -> tuple[list[str], np.ndarray]:
    """The full joint of a small network, one axis per node in ``net_states`` order."""
    states = net_states(net)
    names = list(states)
    letters = {v: chr(ord("a") + k) for k, v in enumerate(names)}
    operands: list = []
    for cpd in net.get_cpds():
        operands.append(np.asarray(cpd.values, dtype=float).reshape(cpd.cardinality))
        operands.append([names.index(v) for v in cpd.variables])
    assert len(letters) <= 26
    return names, np.einsum(*operands, list(range(len(names))))


def weighted_joint(
    net: DiscreteBayesianNetwork, hard: Hard, soft: Soft
) -> tuple[list[str], np.ndarray]:
    """The joint times the evidence's likelihoods (unnormalised: it sums to P(evidence))."""
    names, joint = joint_table(net)
    states = net_states(net)
    for var, answer in {**hard, **soft}.items():
        axis = names.index(var)
        if isinstance(answer, str):
            lik = np.array([float(s == answer) for s in states[var]])
        else:
            lik = np.array([answer[s] for s in states[var]])
        shape = [1] * joint.ndim
        shape[axis] = len(lik)
        joint = joint * lik.reshape(shape)
    return names, joint


def check_conflict(
    engine: Engine, bn: gum.BayesNet, row: Mapping[str, object], conflict: Mapping[str, object]
) -> None:
    """A conflict is a non-empty part of the evidence, impossible by itself (for crampnet and
    pyAgrum), and none of its answers can be dropped."""
    assert conflict, "an impossible-evidence error must name its conflict"
    for var, answer in conflict.items():
        assert var in row and row[var] == answer, (var, answer, row)
    _, log_z = engine.query([], [dict(conflict)])
    assert log_z[0] == -np.inf
    assert not pyagrum_possible(bn, conflict), f"pyAgrum finds the conflict possible: {conflict}"
    for var in conflict:
        smaller = {k: a for k, a in conflict.items() if k != var}
        assert pyagrum_possible(bn, smaller), f"conflict {conflict} is not minimal: drop {var}"


def check_one_query(
    engine: Engine, bn: gum.BayesNet, targets: list[str], hard: Hard, soft: Soft
) -> float | None:
    """The engine's posteriors for one case as pyAgrum's (to 1e-9), or, where pyAgrum finds
    the case impossible, an :class:`ImpossibleEvidenceError` naming a true conflict; returns
    pyAgrum's P(evidence), None when impossible."""
    expected, p_evidence = pyagrum_query(bn, targets, hard, soft)
    try:
        got = engine.posteriors(targets, hard, soft)
    except ImpossibleEvidenceError as exc:
        event("impossible evidence")
        assert expected is None, f"impossible here, possible for pyAgrum: {hard} {soft}"
        check_conflict(engine, bn, {**hard, **soft}, exc.conflict)
        return None
    event("possible evidence")
    assert expected is not None, f"pyAgrum: impossible, answered here: {hard} {soft}"
    assert max_abs_diff(got, expected) <= 1e-9
    return p_evidence


# --- exactness on random networks -------------------------------------------------------------


@settings(max_examples=examples(60))
@given(data=st.data())
def test_random_network_posteriors_match_pyagrum_and_pgmpy(data: st.DataObject) -> None:
    net = data.draw(networks())
    states = net_states(net)
    hard, soft = data.draw(evidence_for(states))
    targets = [v for v in states if v not in hard]
    bn = to_pyagrum(net)
    engine = Engine.from_network(net)

    expected, _ = pyagrum_query(bn, targets, hard, soft)
    reference = pgmpy_posteriors(PgmpyEngine(net), targets, hard, soft)
    try:
        got = engine.posteriors(targets, hard, soft)
    except ImpossibleEvidenceError as exc:
        event("impossible evidence")
        assert expected is None, f"crampnet: impossible, pyAgrum: possible: {hard} {soft}"
        assert reference is None, f"crampnet: impossible, pgmpy: possible: {hard} {soft}"
        check_conflict(engine, bn, {**hard, **soft}, exc.conflict)
        return
    event("possible evidence")
    assert expected is not None, f"pyAgrum: impossible, crampnet answered: {hard} {soft}"
    assert reference is not None, f"pgmpy: impossible, crampnet answered: {hard} {soft}"
    assert max_abs_diff(got, expected) <= 1e-9
    assert max_abs_diff(got, reference) <= 1e-9


@settings(max_examples=examples(30))
@given(data=st.data())
def test_log_z_is_log_evidence_probability_from_the_joint(data: st.DataObject) -> None:
    net = data.draw(networks(max_nodes=8))
    states = net_states(net)
    hard, soft = data.draw(evidence_for(states, max_hard=4))
    _, joint = weighted_joint(net, hard, soft)
    p_evidence = joint.sum()
    _, log_z = Engine.from_network(net).query([], [{**hard, **soft}])
    if p_evidence == 0.0:
        assert log_z[0] == -np.inf
    else:
        assert log_z[0] == pytest.approx(np.log(p_evidence), abs=1e-9)


def two_nodes(b_given_a: list[list[float]]) -> DiscreteBayesianNetwork:
    """a -> b, states s0 and s1, a uniform; ``b_given_a`` the table of b (rows: b's states)."""
    net = DiscreteBayesianNetwork([("a", "b")])
    net.add_cpds(
        TabularCPD("a", 2, [[0.5], [0.5]], state_names={"a": ["s0", "s1"]}),
        TabularCPD(
            "b",
            2,
            b_given_a,
            evidence=["a"],
            evidence_card=[2],
            state_names={"a": ["s0", "s1"], "b": ["s0", "s1"]},
        ),
    )
    return net


@given(data=st.data())
def test_lazy_propagation_matches_pyagrum_and_the_joint(data: st.DataObject) -> None:
    """Every single query through lazy propagation (forced: no size, no share): posteriors as
    pyAgrum's, ``log P(evidence)`` as the joint's (up to 8 nodes), impossible evidence an
    error naming its conflict, as on the other paths."""
    net = data.draw(networks(max_nodes=data.draw(st.sampled_from([8, 30]))))
    states = net_states(net)
    hard, soft = data.draw(evidence_for(states))
    targets = data.draw(subsets(list(states), data.draw(st.integers(0, len(states)))))
    bn = to_pyagrum(net)
    engine = Engine.from_network(net, lazy_entries=0, lazy_share=0.0, lazy_tree_entries=0)
    assert engine.lazy() is not None
    if check_one_query(engine, bn, targets, hard, soft) is None:
        return
    if len(states) <= 8:
        _, joint = weighted_joint(net, hard, soft)
        _, log_z = engine.query([], [{**hard, **soft}])
        assert log_z[0] == pytest.approx(np.log(joint.sum()), abs=1e-9)


@settings(max_examples=examples(80))
@given(data=st.data())
def test_a_pattern_tree_over_its_limit_goes_lazily_on_a_big_network(
    data: st.DataObject,
) -> None:
    """On a network with a lazy tree, a single query whose own tree would hold more than
    ``lazy_tree_entries`` is answered by lazy propagation (and the pattern remembered as
    such, so its next query does not compile it again); within the limit, by its own tree,
    kept. Both as pyAgrum answers."""
    net = data.draw(networks(max_nodes=16))
    states = net_states(net)
    hard, soft = data.draw(evidence_for(states, max_soft=0))
    names = sorted(states)
    targets = data.draw(subsets(names, data.draw(st.integers(1, min(3, len(names))))))
    bn = to_pyagrum(net)
    for limit, lazily in ((0, True), (2**40, False)):
        engine = Engine.from_network(net, lazy_entries=0, lazy_share=0.0, lazy_tree_entries=limit)
        if engine.needed([*targets, *hard]) > engine_module.LAZY_SURE * len(engine.card):
            event("needs over half the network: lazy at once")
            return
        calls: list[int] = []

        def counted(tree, *args, calls=calls, query=LazyTree.query, **kwargs):
            calls.append(1)
            return query(tree, *args, **kwargs)

        for _ in range(2):  # new, then seen
            calls.clear()
            with patch.object(lazy_module.LazyTree, "query", counted):
                if check_one_query(engine, bn, targets, hard, soft) is None:
                    return
            assert bool(calls) == lazily
        kept = engine.pattern_tree(hard, targets, build=False)
        assert (kept is None) == lazily


@settings(max_examples=examples(40))
@given(data=st.data())
def test_lazy_batches_match_pyagrum_row_by_row(data: st.DataObject) -> None:
    """A batch through lazy propagation (forced), its rows sharing the messages they agree
    on: each row as pyAgrum answers it alone, through ``query`` (hard and soft rows mixed)
    and ``score_array``; impossible rows ``-inf`` and NaN, the others kept. With no room
    to keep messages (``MEMO_BYTES = 0``) the answers are the same."""
    net = data.draw(networks(max_nodes=data.draw(st.sampled_from([8, 30]))))
    states = net_states(net)
    bn = to_pyagrum(net)
    engine = Engine.from_network(net, lazy_entries=0, lazy_share=0.0, lazy_tree_entries=0)
    names = sorted(states)
    columns = data.draw(subsets(names, data.draw(st.integers(1, min(4, len(names))))))
    others = [v for v in names if v not in columns]
    targets = data.draw(subsets(others, data.draw(st.integers(0, len(others)))))
    codes = np.array(  # few columns and states: the rows repeat and overlap
        [
            [data.draw(st.integers(-1, len(states[c]) - 1)) for c in columns]
            for _ in range(data.draw(st.integers(1, 12)))
        ]
    )
    rows: list[dict[str, object]] = [
        {c: states[c][k] for c, k in zip(columns, row, strict=True) if k >= 0} for row in codes
    ]
    if others and data.draw(st.booleans()):  # one row with a soft answer too
        soft = {s: data.draw(st.floats(1e-3, 100.0)) for s in states[others[0]]}
        rows[0] = {**rows[0], others[0]: soft}
    no_room = data.draw(st.booleans())
    with (
        patch.object(lazy_module, "MEMO_BYTES", 0 if no_room else lazy_module.MEMO_BYTES),
        patch.object(engine_module, "LAZY_BATCH_ENTRIES", -1),  # every pruned tree "too big"
    ):
        assert engine.lazy_for([*targets, *columns]) is not None
        assert engine.row_by_row(targets, columns, codes) is engine.lazy()
        marginals, log_z = engine.query(targets, rows)
        (chunk,) = score_array(engine, columns, codes, targets)
    # a small pruned tree: the batch loop (or the calibrated one), as lazily
    assert engine.row_by_row(targets, columns, codes) is not engine.lazy()
    (looped,) = score_array(engine, columns, codes, targets)
    # a group whose tree is refused after all: that group lazily, as before
    refused = NetworkTooLargeError(2**40, 2**30)
    with patch.object(Engine, "run_codes", side_effect=refused):
        (fallen_back,) = score_array(engine, columns, codes, targets)
    for other in (looped, fallen_back):
        np.testing.assert_array_equal(other.possible, chunk.possible)
        for t in targets:
            np.testing.assert_allclose(other.marginals[t], chunk.marginals[t], atol=1e-12)
    for r, row in enumerate(rows):
        hard, soft = split_row(row)
        check_batch_row(bn, states, targets, hard, soft, (marginals, log_z), r)
    for r, row in enumerate(codes):
        hard = {c: states[c][k] for c, k in zip(columns, row, strict=True) if k >= 0}
        expected, _ = pyagrum_query(bn, targets, hard, {})
        assert chunk.possible[r] == (expected is not None)
        if expected is not None:
            got = {t: dict(zip(states[t], chunk.marginals[t][r], strict=True)) for t in targets}
            assert max_abs_diff(got, expected) <= 1e-9


@settings(max_examples=examples(40))
@given(data=st.data())
def test_pattern_trees_match_pyagrum_and_the_joint(data: st.DataObject) -> None:
    """Single queries on a tree compiled for their pattern, flattened and run uncalibrated by
    the compiled loop (forced: the calibrated tree gets no budget, and the numpy structures
    are never reached): posteriors as pyAgrum's, ``log P(evidence)`` as the joint's (up to
    8 nodes), impossible evidence an error naming its conflict. The same pattern with
    other answers reuses its tree and is right too."""
    net, states, targets, hard, soft = data.draw(cases())
    bn = to_pyagrum(net)
    engine = Engine.from_network(net)
    no_structures = patch.object(Engine, "_run", side_effect=AssertionError("not a pattern tree"))
    with patch.object(engine_module, "VISITS_PER_VARIABLE", 0), no_structures:
        for attempt in ("new", "seen"):
            if attempt == "seen":  # the same variables answered, other states
                hard = {v: data.draw(st.sampled_from(states[v])) for v in hard}
                assert engine.pattern_tree([*hard, *soft], targets, build=False) is not None
            p_evidence = check_one_query(engine, bn, targets, hard, soft)
            if p_evidence is None:
                continue
            _, log_z = engine.query(targets, [{**hard, **soft}])
            assert log_z[0] == pytest.approx(np.log(p_evidence), abs=1e-9)
            if len(states) <= 8:
                _, joint = weighted_joint(net, hard, soft)
                assert log_z[0] == pytest.approx(np.log(joint.sum()), abs=1e-9)


@settings(max_examples=examples(40))
@given(data=st.data())
def test_a_tree_given_answers_answers_more_as_pyagrum(data: st.DataObject) -> None:
    """``Engine.given``: the calibrated tree with some answers (hard and soft) taken in; rows
    that each add hard answers give pyAgrum's posteriors for all the answers together (to
    1e-9) and ``log P(evidence)`` as the joint's (up to 8 nodes, no soft answer: their scale
    is the caller's); an impossible row comes back with -inf and NaN, as from ``query``."""
    net, states, targets, hard, soft = data.draw(cases(max_hard=3))
    bn = to_pyagrum(net)
    engine = Engine.from_network(net)
    names = sorted(states)
    tree = engine.given({**hard, **soft})
    assert tree is not None  # small networks keep a calibrated tree
    free = [v for v in names if v not in hard and v not in soft]
    columns = sorted(data.draw(subsets(free, min(2, len(free)))))
    rows = data.draw(
        st.lists(
            st.fixed_dictionaries({v: st.sampled_from([None, *states[v]]) for v in columns}),
            min_size=1,
            max_size=4,
        )
    )
    codes = np.array(
        [[-1 if r[v] is None else states[v].index(r[v]) for v in columns] for r in rows],
        dtype=np.int64,
    ).reshape(len(rows), len(columns))
    marginals, log_z = tree.rows(targets, columns, codes)
    for k, r in enumerate(rows):
        more = {**hard, **{v: s for v, s in r.items() if s is not None}}
        expected, p_evidence = pyagrum_query(bn, targets, more, soft)
        if expected is None:
            event("impossible row")
            assert log_z[k] == -np.inf and all(np.isnan(marginals[t][k]).all() for t in targets)
            continue
        got = {t: dict(zip(states[t], marginals[t][k], strict=True)) for t in targets}
        assert max_abs_diff(got, expected) <= 1e-9
        if not soft and len(states) <= 8:
            _, joint = weighted_joint(net, more, {})
            assert log_z[k] == pytest.approx(np.log(joint.sum()), abs=1e-9)


def test_given_is_none_where_single_queries_skip_the_calibrated_tree(model) -> None:
    """Interventions and parameter draws are answered elsewhere: no tree to take answers in."""
    assert model.engine.given({"nocturnal_cramps": "yes"}, do={"calcium": "low"}) is None
    assert model.drawn(4, 0).given({"nocturnal_cramps": "yes"}) is None
    tree = model.engine.given({"nocturnal_cramps": "yes"})
    assert tree is not None and tree is not model.engine.calibrated()


def test_pattern_trees_kept_within_their_bytes() -> None:
    """Pattern trees are kept per engine up to ``PATTERN_TREE_BYTES``, least recently used
    dropped, and a dropped pattern is built again when it comes back."""
    net = DiscreteBayesianNetwork([(f"n{i}", f"n{i + 1}") for i in range(6)])
    for i in range(7):
        evidence = {} if i == 0 else {"evidence": [f"n{i - 1}"], "evidence_card": [2]}
        values = [[0.3], [0.7]] if i == 0 else [[0.9, 0.2], [0.1, 0.8]]
        net.add_cpds(TabularCPD(f"n{i}", 2, values, **evidence))
    engine = Engine.from_network(net)
    one = engine.pattern_tree(["n0"], ["n6"])
    assert one is not None
    bound = 2 * one.nbytes
    with patch.object(engine_module, "PATTERN_TREE_BYTES", bound):
        for i in range(1, 6):
            assert engine.pattern_tree([f"n{i}"], ["n6"]) is not None
            assert 0 < engine.pattern_bytes <= bound
        assert engine.pattern_tree(["n0"], ["n6"], build=False) is None  # dropped
        again = engine.pattern_tree(["n0"], ["n6"])
    assert again is not None and again is not one
    answer = {"n0": np.array([0.0, 1.0])}
    got, expected = again.query(["n6"], answer), engine.calibrated().query(["n6"], answer)
    assert got is not None and expected is not None
    assert got[0]["n6"] == pytest.approx(expected[0]["n6"], abs=1e-12)
    assert got[1] == pytest.approx(expected[1], abs=1e-12)


def test_kept_values_bounded_by_items_and_bytes_least_recent_dropped() -> None:
    """``Kept``: built once per key while kept, the least recently used dropped past either
    bound, the newest kept even when it alone is over the bytes."""
    built: list[int] = []

    def build(k: int) -> bytes:
        built.append(k)
        return bytes(k)

    kept = Kept(max_items=3, max_bytes=10, size_of=len)
    for k in (1, 2, 3):
        assert kept.get(k, lambda k=k: build(k)) == bytes(k)
    kept.get(1, lambda: build(1))  # used again: 2 is now the least recent
    kept.get(4, lambda: build(4))  # over 3 items: 2 dropped; 3 + 1 + 4 bytes kept
    assert built == [1, 2, 3, 4]
    assert len(kept) == 3 and kept.nbytes == 8
    kept.get(2, lambda: build(2))  # built again
    assert built[-1] == 2 and kept.nbytes <= 10
    kept.get(50, lambda: build(50))  # alone over the bytes: kept, all others dropped
    assert len(kept) == 1 and kept.nbytes == 50


def test_compiled_structures_kept_within_their_bytes(model: CrampModel) -> None:
    """The clique tables and batch layouts the compiled structures keep stay within
    ``STRUCTURE_BYTES`` however many patterns come (least recently used dropped), a set of
    clique tables over ``POTENTIALS_MAX_BYTES`` is used and not kept, and the answers do
    not change."""
    columns = ["leg_cramp_side", "nocturnal_cramps", "toe_cramps", "female", "dialysis"]
    codes = np.array([[k % 4, k % 2, -1, (k // 2) % 2, -1] for k in range(40)])
    expected, _ = Engine(model.engine.states, model.engine.parents, model.engine.tables).run_codes(
        model.causes, columns, codes
    )
    engine = Engine(model.engine.states, model.engine.parents, model.engine.tables)
    engine.run_codes(model.causes, columns, codes)
    one = next(iter(engine._structures.values())).nbytes
    assert one > 0
    bound = 2 * one
    with patch.object(engine_module, "STRUCTURE_BYTES", bound):
        for mask in itertools.product([False, True], repeat=len(columns)):  # a new pattern
            part = np.where(mask, codes, -1)  # each time: a column all -1 is not answered
            engine.run_codes(model.causes, columns, part)
            held = [s.nbytes for s in engine._structures.values()]
            assert sum(held) <= bound + max(held), held  # the newest may pass it alone
    with patch.object(compiler_module, "POTENTIALS_MAX_BYTES", 0):
        fresh = Engine(model.engine.states, model.engine.parents, model.engine.tables)
        got, _ = fresh.run_codes(model.causes, columns, codes)
        assert all(not s.potentials_kept for s in fresh._structures.values())
    for v in model.causes:
        np.testing.assert_allclose(got[v], expected[v], atol=1e-15)


def test_lazy_propagation_only_where_cliques_are_big(model: CrampModel) -> None:
    """The cramp model's tree is small: its single queries stay on the calibrated tree."""
    assert model.engine.lazy() is None
    assert model.engine.lazy_entries == LAZY_ENTRIES
    net = two_nodes([[0.9, 0.3], [0.1, 0.7]])
    assert Engine.from_network(net).lazy() is None  # a tree of 4 entries
    assert Engine.from_network(net, lazy_entries=3).lazy() is not None


def test_no_targets_and_no_evidence_gives_log_z_zero(model: CrampModel) -> None:
    """Regression: an empty structure once crashed compile_tree ("max() arg is an empty
    sequence"); nothing asked and nothing answered has probability one."""
    _, log_z = model.engine.query([], [{}])
    assert log_z.tolist() == [0.0]
    _, log_z = model.engine.query([], [{}, {}, {}])
    assert log_z.tolist() == [0.0, 0.0, 0.0]
    assert model.engine.posteriors([], {}) == {}


def test_impossible_evidence_on_a_hand_built_network() -> None:
    """a -> b with P(b=s1 | a=s0) = 0: observing both is impossible, either alone is not."""
    engine = Engine.from_network(two_nodes([[1.0, 0.3], [0.0, 0.7]]))
    with pytest.raises(ImpossibleEvidenceError) as info:
        engine.posteriors(["a"], {"a": "s0", "b": "s1"})
    assert info.value.conflict == {"a": "s0", "b": "s1"}
    assert engine.posteriors(["a"], {"b": "s1"})["a"] == pytest.approx({"s0": 0.0, "s1": 1.0})
    # a soft answer can make evidence impossible too, with a zero likelihood
    with pytest.raises(ImpossibleEvidenceError):
        engine.posteriors([], {"a": "s0"}, {"b": {"s0": 0.0, "s1": 2.0}})


# --- batching --------------------------------------------------------------------------------


@st.composite
def batches(draw: st.DrawFn, states: Mapping[str, list[str]]) -> list[dict[str, object]]:
    """1-8 rows, each with its own answers; sometimes all rows share one more hard answer
    (the engine multiplies a shared answer in once) and sometimes a row repeats."""
    common: Hard = {}
    if draw(st.booleans()):
        var = draw(st.sampled_from(sorted(states)))
        common = {var: draw(st.sampled_from(states[var]))}
    rows: list[dict[str, object]] = []
    for _ in range(draw(st.integers(1, 8))):
        if rows and draw(st.integers(0, 4)) == 0:
            rows.append(dict(draw(st.sampled_from(rows))))
            continue
        hard, soft = draw(evidence_for(states, max_hard=4, exclude=tuple(common)))
        rows.append({**common, **hard, **soft})
    return rows


def split_row(row: Mapping[str, object]) -> tuple[Hard, Soft]:
    hard = {v: a for v, a in row.items() if isinstance(a, str)}
    soft = {v: dict(a) for v, a in row.items() if not isinstance(a, str)}
    return hard, soft


@settings(max_examples=examples(40))
@given(data=st.data())
def test_batched_query_equals_per_row_posteriors(data: st.DataObject) -> None:
    net = data.draw(networks(max_nodes=20))
    states = net_states(net)
    rows = data.draw(batches(states))
    targets = list(states)
    engine = Engine.from_network(net)
    bn = to_pyagrum(net)
    marginals, log_z = engine.query(targets, rows)
    assert log_z.shape == (len(rows),)
    for v in targets:
        assert marginals[v].shape == (len(rows), len(states[v]))
    for r, row in enumerate(rows):
        hard, soft = split_row(row)
        _, p_evidence = pyagrum_query(bn, [], hard, soft)
        try:
            single = engine.posteriors(targets, hard, soft)
        except ImpossibleEvidenceError:
            event("impossible row in a batch")
            assert log_z[r] == -np.inf, (r, row)
            assert all(np.isnan(marginals[v][r]).all() for v in targets), (r, row)
            assert p_evidence == 0.0
            continue
        assert np.isfinite(log_z[r])
        assert log_z[r] == pytest.approx(np.log(p_evidence), abs=1e-9)
        for v in targets:
            assert np.abs(marginals[v][r] - list(single[v].values())).max() <= 1e-12, (v, r)


@settings(max_examples=examples(40))
@given(data=st.data())
def test_batches_through_the_compiled_row_loop_match_pyagrum_row_by_row(
    data: st.DataObject,
) -> None:
    """``Engine.run`` on likelihood arrays (what batch scoring calls): some variables answered
    alike in every row (a shared vector, sliced out or multiplied in once), the others row by
    row, hard, soft or unanswered, impossible rows included; more rows than one block of the
    compiled loop. Each row against pyAgrum, and the loop against batched numpy."""
    net = data.draw(networks(max_nodes=20))
    states = net_states(net)
    names = sorted(states)
    targets = data.draw(subsets(names, data.draw(st.integers(1, len(names)))))
    rows = data.draw(st.integers(2, 70))
    answered = data.draw(subsets(names, data.draw(st.integers(1, min(6, len(names))))))
    shared = data.draw(subsets(answered, data.draw(st.integers(0, len(answered)))))
    likelihood = st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=10.0))
    seeds = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    likelihoods: dict[str, np.ndarray] = {}
    for v in answered:
        card = len(states[v])
        if v in shared:  # one answer for the whole batch: hard, or soft
            hard = data.draw(st.booleans())
            lik = np.eye(card)[data.draw(st.integers(0, card - 1))] if hard else None
            soft = np.array([data.draw(likelihood) for _ in states[v]])
            soft[data.draw(st.integers(0, card - 1))] = data.draw(likelihood.filter(bool))
            if np.count_nonzero(soft) == 1:  # pyAgrum reads it as hard, and drops its scale
                soft[soft > 0] = 1.0
            likelihoods[v] = lik if hard else soft
            continue
        codes = seeds.integers(-2, card, size=rows)  # -2: a soft answer, -1: unanswered
        lik = np.vstack([np.eye(card), np.ones(card)])[np.where(codes == -2, -1, codes)]
        soft = codes == -2
        lik[soft] = seeds.uniform(0.0, 3.0, size=(int(soft.sum()), card))
        likelihoods[v] = lik
    engine = Engine.from_network(net)
    marginals, log_z = engine.run(targets, likelihoods, batch=rows)
    bn = to_pyagrum(net)
    for r in range(rows):
        hard, soft = {}, {}
        for v, lik in likelihoods.items():
            row = lik if lik.ndim == 1 else lik[r]
            if np.count_nonzero(row) == 1 and row.max() == 1.0:
                hard[v] = states[v][int(np.argmax(row))]
            elif not (row == 1.0).all():
                soft[v] = dict(zip(states[v], map(float, row), strict=True))
        check_batch_row(bn, states, targets, hard, soft, (marginals, log_z), r)
    with patch.object(engine_module, "KERNEL_BATCH", rows + 1):  # batched numpy instead
        numpy_marginals, numpy_log_z = Engine.from_network(net).run(
            targets, likelihoods, batch=rows
        )
    np.testing.assert_allclose(numpy_log_z, log_z, atol=1e-9)
    for v in targets:
        np.testing.assert_allclose(numpy_marginals[v], marginals[v], atol=1e-12)
    # memory bounds: a block of one row, the factors staged a few rows at a time
    with (
        patch.object(batch_tree_module, "BLOCK_BYTES", 8),
        patch.object(batch_tree_module, "DATA_BYTES", 8 * 40),
    ):
        bounded, bounded_log_z = Engine.from_network(net).run(targets, likelihoods, batch=rows)
    np.testing.assert_allclose(bounded_log_z, log_z, atol=1e-12)
    for v in targets:
        np.testing.assert_allclose(bounded[v], marginals[v], atol=1e-12)


@pytest.mark.parametrize("batch", [1, 40])
def test_a_shared_answer_with_one_nonzero_likelihood_counts_its_scale(batch: int) -> None:
    """A likelihood vector with one nonzero entry, shared by every row, is sliced out of the
    tables like a hard answer; P(evidence) still counts it at the value given."""
    net = two_nodes([[0.9, 0.2], [0.1, 0.8]])
    engine = Engine.from_network(net)
    rows = np.tile([[0.3, 1.0]], (batch, 1))  # a per-row answer to "b" as well
    one, log_one = engine.run(["a"], {"a": np.array([1.0, 0.0]), "b": rows}, batch=batch)
    two, log_two = engine.run(["a"], {"a": np.array([2.0, 0.0]), "b": rows}, batch=batch)
    np.testing.assert_allclose(log_two - log_one, np.log(2.0), atol=1e-12)
    np.testing.assert_allclose(two["a"], one["a"], atol=1e-15)
    p_b_given_a = 0.9 * 0.3 + 0.1 * 1.0  # P(a = s0) = 0.5 in two_nodes
    np.testing.assert_allclose(log_one, np.log(0.5 * p_b_given_a), atol=1e-12)


@settings(max_examples=examples(40))
@given(data=st.data())
def test_rows_of_codes_match_pyagrum_with_absorption_shared_by_rows_alike(
    data: st.DataObject,
) -> None:
    """``Engine.run_codes`` (batch scoring's call) on rows that often repeat their answers to
    some columns, with every chain of absorbed answers run once per distinct combination
    (the table-size threshold patched to zero): each row against pyAgrum, and the shared
    runs against the same rows absorbed one by one."""
    net = data.draw(networks(max_nodes=16))
    states = net_states(net)
    names = sorted(states)
    targets = data.draw(subsets(names, data.draw(st.integers(1, len(names)))))
    columns = data.draw(subsets(names, data.draw(st.integers(1, min(8, len(names))))))
    rows = data.draw(st.integers(2, 80))
    seeds = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    codes = np.column_stack(
        [
            # answered in few ways (often unanswered), so that many rows are alike
            np.where(seeds.random(rows) < 0.5, -1, seeds.integers(0, len(states[c]), rows))
            for c in columns
        ]
    )
    if data.draw(st.booleans()):  # one column answered alike by every row
        codes[:, 0] = data.draw(st.integers(-1, len(states[columns[0]]) - 1))
    with patch.object(compiler_module, "SHARED_CHAIN_ENTRIES", 0):
        marginals, log_z = Engine.from_network(net).run_codes(targets, columns, codes)
    bn = to_pyagrum(net)
    for r in range(rows):
        hard = {c: states[c][k] for c, k in zip(columns, codes[r], strict=True) if k >= 0}
        check_batch_row(bn, states, targets, hard, {}, (marginals, log_z), r)
    with patch.object(compiler_module, "SHARED_CHAIN_ENTRIES", 2**62):
        one_by_one, log_z_one = Engine.from_network(net).run_codes(targets, columns, codes)
    np.testing.assert_allclose(log_z_one, log_z, atol=1e-12)
    for v in targets:
        np.testing.assert_allclose(one_by_one[v], marginals[v], atol=1e-12)


def test_absorbed_chains_run_once_per_distinct_answers_on_our_network(model: CrampModel) -> None:
    """Calcium's answered risk factors form one chain from its 3,072-entry table: with rows
    that answer them in two ways, the chain's first step sees two rows, not a hundred."""
    engine = model.engine
    columns = [*engine.parents["calcium"], "nocturnal_cramps"]  # every column in the pattern
    codes = np.array([[-1] * 10 + [0], [0] * 10 + [1]] * 50)
    structure = engine.structure(set(columns), model.causes)
    chain = next(c for c in structure.chains if structure.steps[c[0]][2][1].size >= 3072)
    seen = []
    step = compiler_module._absorb_step

    def spy(table, scope, v, weight):
        if v == structure.steps[chain[0]][0]:
            seen.append(weight.shape)
        return step(table, scope, v, weight)

    with patch.object(compiler_module, "_absorb_step", spy):
        shared, _ = engine.run_codes(model.causes, columns, codes)
    assert seen == [(2, 2)]
    alone, _ = engine.run_codes(model.causes, columns, codes[:2])
    for v in model.causes:
        np.testing.assert_allclose(shared[v][:2], alone[v], atol=1e-12)


def test_batch_with_an_impossible_row_keeps_the_others_right() -> None:
    net = DiscreteBayesianNetwork([("a", "b"), ("b", "c")])
    net.add_cpds(
        TabularCPD("a", 2, [[0.4], [0.6]], state_names={"a": ["s0", "s1"]}),
        TabularCPD(
            "b",
            3,
            [[1.0, 0.2], [0.0, 0.3], [0.0, 0.5]],
            evidence=["a"],
            evidence_card=[2],
            state_names={"a": ["s0", "s1"], "b": ["s0", "s1", "s2"]},
        ),
        TabularCPD(
            "c",
            2,
            [[0.9, 0.5, 0.1], [0.1, 0.5, 0.9]],
            evidence=["b"],
            evidence_card=[3],
            state_names={"b": ["s0", "s1", "s2"], "c": ["s0", "s1"]},
        ),
    )
    engine = Engine.from_network(net)
    rows: list[dict[str, object]] = [
        {"c": "s1"},
        {"a": "s0", "b": "s2"},  # impossible
        {"b": {"s0": 0.0, "s1": 1.0, "s2": 1.0}, "a": "s0"},  # impossible through soft evidence
        {"b": {"s0": 0.2, "s1": 1.0, "s2": 3.0}},
        {},
    ]
    marginals, log_z = engine.query(["a", "b", "c"], rows)
    assert np.isneginf(log_z[[1, 2]]).all()
    assert np.isfinite(log_z[[0, 3, 4]]).all()
    for r in (1, 2):
        assert all(np.isnan(marginals[v][r]).all() for v in "abc")
    for r in (0, 3, 4):
        hard, soft = split_row(rows[r])
        single = engine.posteriors(["a", "b", "c"], hard, soft)
        for v in "abc":
            assert np.abs(marginals[v][r] - list(single[v].values())).max() <= 1e-12
    assert log_z[4] == pytest.approx(0.0, abs=1e-12)


# --- interventions -----------------------------------------------------------------------------


def causal_query(net: DiscreteBayesianNetwork, targets: list[str], do: Hard, hard: Hard):
    """pgmpy's ``CausalInference.query``, one target at a time (it returns a joint)."""
    inference = CausalInference(net)
    out: Posteriors = {}
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")
        for t in targets:
            factor = inference.query([t], do=do, evidence=hard or None, show_progress=False)
            out[t] = {
                s: float(p) for s, p in zip(factor.state_names[t], factor.values, strict=True)
            }
    return out


@st.composite
def interventions(draw: st.DrawFn, states: Mapping[str, list[str]]) -> Hard:
    var = draw(st.sampled_from(sorted(states)))
    return {var: draw(st.sampled_from(states[var]))}


@settings(max_examples=examples(40))
@given(data=st.data())
def test_do_on_random_networks_matches_the_mutilated_network(data: st.DataObject) -> None:
    net = data.draw(networks(max_nodes=20))
    states = net_states(net)
    do = data.draw(interventions(states))
    hard, soft = data.draw(evidence_for(states, max_hard=4, exclude=tuple(do)))
    targets = [v for v in states if v not in hard and v not in do]
    engine = Engine.from_network(net)
    oracle = mutilated(to_pyagrum(net), do)
    expected, _ = pyagrum_query(oracle, targets, {**hard, **do}, soft)
    try:
        got = engine.posteriors([*targets, *do], hard, soft, do=do)
    except ImpossibleEvidenceError:
        event("impossible under do")
        assert expected is None, f"crampnet: impossible, pyAgrum: possible: {do} {hard} {soft}"
        return
    assert expected is not None, f"pyAgrum: impossible, crampnet answered: {do} {hard} {soft}"
    for var, state in do.items():  # the intervened variable takes its set state, certainly
        assert got.pop(var) == {s: float(s == state) for s in states[var]}
    assert max_abs_diff(got, expected) <= 1e-9


@settings(max_examples=examples(25))
@given(data=st.data())
def test_do_on_random_networks_matches_pgmpy_causal_inference(data: st.DataObject) -> None:
    net = data.draw(networks(max_nodes=10, zeros=False))
    states = net_states(net)
    do = data.draw(interventions(states))
    (var,) = do
    parents = sorted(net.get_parents(var))
    # where pgmpy's adjustment formula is P(. | do, evidence): see the module docstring
    pool = parents if parents else [v for v in states if v != var]
    hard, _ = data.draw(evidence_for({v: states[v] for v in pool}, max_hard=3, max_soft=0))
    ancestors = set(net.get_ancestral_graph([var]).nodes)
    candidates = [v for v in states if v not in ancestors and v not in hard]
    if not candidates:
        return
    targets = data.draw(subsets(candidates, min(len(candidates), data.draw(st.integers(1, 3)))))
    expected = causal_query(net, targets, do, hard)
    got = Engine.from_network(net).posteriors(targets, hard, do=do)
    assert max_abs_diff(got, expected) <= 1e-9


def test_pgmpy_causal_inference_differs_with_evidence_below_the_intervention() -> None:
    """Why the general case uses the mutilated network: z -> x -> y -> w, z -> y, observe w.

    pgmpy's formula gives sum_z P(y | x, z) P(z | w), the evidence w dropped from the first
    factor; the engine and the mutilated network agree with each other and not with it.
    """
    net = DiscreteBayesianNetwork([("z", "x"), ("x", "y"), ("z", "y"), ("y", "w")])
    two = ["s0", "s1"]
    net.add_cpds(
        TabularCPD("z", 2, [[0.3], [0.7]], state_names={"z": two}),
        TabularCPD("x", 2, [[0.9, 0.2], [0.1, 0.8]], ["z"], [2], state_names={"x": two, "z": two}),
        TabularCPD(
            "y",
            2,
            [[0.9, 0.6, 0.3, 0.2], [0.1, 0.4, 0.7, 0.8]],
            ["x", "z"],
            [2, 2],
            state_names={"y": two, "x": two, "z": two},
        ),
        TabularCPD(
            "w", 2, [[0.95, 0.1], [0.05, 0.9]], ["y"], [2], state_names={"w": two, "y": two}
        ),
    )
    do, hard = {"x": "s1"}, {"w": "s0"}
    got = Engine.from_network(net).posteriors(["y", "z"], hard, do=do)
    expected, _ = pyagrum_query(mutilated(to_pyagrum(net), do), ["y", "z"], {**hard, **do}, {})
    assert expected is not None
    assert max_abs_diff(got, expected) <= 1e-12
    pgmpy_y = causal_query(net, ["y"], do, hard)["y"]
    assert abs(pgmpy_y["s0"] - got["y"]["s0"]) > 1e-3
    # by hand: in the mutilated network z is independent of x, so P(y, z, w) sums over z
    pz, py = np.array([0.3, 0.7]), np.array([[0.3, 0.2], [0.7, 0.8]])  # P(y | x=s1, z)
    pw = np.array([0.95, 0.1])  # P(w=s0 | y)
    joint = py * pz[None, :] * pw[:, None]  # axes (y, z)
    assert got["y"]["s0"] == pytest.approx(joint[0].sum() / joint.sum(), abs=1e-15)


# --- the real model ----------------------------------------------------------------------------


@st.composite
def model_evidence(
    draw: st.DrawFn,
    model: CrampModel,
    max_hard: int = 8,
    max_soft: int = 3,
    exclude: tuple[str, ...] = (),
) -> tuple[Hard, Soft]:
    """Evidence over the model's own nodes and states; the deterministic leg cluster (where
    the zeros live) is drawn from often."""
    states = {n: spec.states for n, spec in model.priors.nodes.items() if n not in exclude}
    favoured = [n for n in LEG_CLUSTER if n in states]
    n_favoured = draw(st.integers(0, min(len(favoured), max_hard)))
    hard_vars = draw(subsets(favoured, n_favoured))
    rest = sorted(n for n in states if n not in hard_vars)
    hard_vars += draw(subsets(rest, draw(st.integers(0, max_hard - n_favoured))))
    hard = {v: draw(st.sampled_from(states[v])) for v in hard_vars}
    others = sorted(n for n in states if n not in hard)
    soft_vars = draw(subsets(others, draw(st.integers(0, max_soft))))
    likelihood = st.floats(min_value=1e-3, max_value=100.0, allow_nan=False)
    soft = {v: {s: draw(likelihood) for s in states[v]} for v in soft_vars}
    return hard, soft


@pytest.fixture(scope="module")
def reference(model: CrampModel) -> PgmpyEngine:
    return PgmpyEngine(model.network)


@settings(max_examples=examples(30))
@given(data=st.data())
def test_real_model_matches_pgmpy_reference(
    model: CrampModel, reference: PgmpyEngine, data: st.DataObject
) -> None:
    hard, soft = data.draw(model_evidence(model))
    # the causes and a few other hidden or unasked nodes (pgmpy answers with their joint)
    extra = ["left_leg_cramps", "right_leg_cramps", "calcium_supplements", "magnesium_trial"]
    targets = [n for n in [*model.causes, *extra] if n not in hard]
    try:
        expected: Posteriors | None = reference.posteriors(targets, hard, soft)
    except ImpossibleEvidenceError:
        expected = None
    try:
        got = model.engine.posteriors(targets, hard, soft)
    except ImpossibleEvidenceError as exc:
        event("impossible evidence")
        assert expected is None, f"crampnet: impossible, pgmpy: possible: {hard} {soft}"
        row = {**hard, **soft}
        assert all(row[k] == a for k, a in exc.conflict.items())
        _, log_z = model.engine.query([], [dict(exc.conflict)])
        assert log_z[0] == -np.inf
        return
    assert expected is not None, f"pgmpy: impossible, crampnet answered: {hard} {soft}"
    assert max_abs_diff(got, expected) <= 1e-9


@pytest.fixture(scope="module")
def causal(model: CrampModel) -> CausalInference:
    return CausalInference(model.network)


def causal_marginals(
    causal: CausalInference, targets: list[str], do: Hard, hard: Hard
) -> Posteriors:
    """Each target's marginal from pgmpy's joint answer over all targets at once."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")
        joint = causal.query(targets, do=do, evidence=hard or None, show_progress=False)
    out: Posteriors = {}
    for t in targets:
        factor = joint.marginalize([v for v in joint.variables if v != t], inplace=False)
        factor.normalize()
        out[t] = {s: float(p) for s, p in zip(factor.state_names[t], factor.values, strict=True)}
    return out


@settings(max_examples=examples(15))
@given(data=st.data())
def test_do_calcium_supplements_matches_pgmpy(
    model: CrampModel, causal: CausalInference, data: st.DataObject
) -> None:
    do = {"calcium_supplements": "yes"}
    # calcium_supplements is a root: pgmpy's answer is exact for any evidence
    hard, _ = data.draw(model_evidence(model, max_hard=5, max_soft=0, exclude=tuple(do)))
    targets = ["calcium", "magnesium", "sodium", "potassium"]
    targets = [t for t in targets if t not in hard]
    try:
        got = model.engine.posteriors(targets, hard, do=do)
    except ImpossibleEvidenceError:
        return
    if targets:
        assert max_abs_diff(got, causal_marginals(causal, targets, do, hard)) <= 1e-9


MAGNESIUM_PARENTS = ["silica_supplement", "calcium_supplements"]


@pytest.mark.parametrize(
    "hard",
    [{}, {"calcium_supplements": "yes"}, {"silica_supplement": "yes", "calcium_supplements": "no"}],
)
def test_do_magnesium_high_matches_pgmpy(
    model: CrampModel, causal: CausalInference, hard: Hard
) -> None:
    do = {"magnesium": "high"}
    targets = ["calcium", "sodium", "potassium", "dehydration", "nocturnal_cramps"]
    got = model.engine.posteriors(targets, hard, do=do)
    assert max_abs_diff(got, causal_marginals(causal, targets, do, hard)) <= 1e-9


@settings(max_examples=examples(15))
@given(data=st.data())
def test_do_magnesium_high_matches_the_mutilated_network(
    model: CrampModel, pyagrum_net: gum.BayesNet, data: st.DataObject
) -> None:
    do = {"magnesium": "high"}
    hard, soft = data.draw(model_evidence(model, max_hard=5, max_soft=2, exclude=tuple(do)))
    targets = [t for t in [*model.causes, *MAGNESIUM_PARENTS] if t not in hard and t not in do]
    expected, _ = pyagrum_query(mutilated(pyagrum_net, do), targets, {**hard, **do}, soft)
    try:
        got = model.engine.posteriors(targets, hard, soft, do=do)
    except ImpossibleEvidenceError:
        assert expected is None
        return
    assert expected is not None
    assert max_abs_diff(got, expected) <= 1e-9


def test_do_cuts_the_links_into_the_intervened_cause(model: CrampModel) -> None:
    engine = model.engine
    prior = engine.posteriors(MAGNESIUM_PARENTS, {})
    under_do = engine.posteriors([*MAGNESIUM_PARENTS, "magnesium"], {}, do={"magnesium": "high"})
    assert under_do.pop("magnesium") == {"low": 0.0, "normal": 0.0, "high": 1.0}
    assert max_abs_diff(under_do, prior) <= 1e-12
    # evidence that reaches the parents only through magnesium moves nothing under do
    trial = {"magnesium_trial": "improved"}
    assert (
        max_abs_diff(engine.posteriors(MAGNESIUM_PARENTS, trial, do={"magnesium": "high"}), prior)
        <= 1e-12
    )
    # observing the same value does move them (explaining magnesium away)
    seen = engine.posteriors(MAGNESIUM_PARENTS, {"magnesium": "high"})
    assert max(abs(seen[p]["yes"] - prior[p]["yes"]) for p in MAGNESIUM_PARENTS) > 1e-3
    # and the intervention still reaches magnesium's children
    child_prior = engine.posteriors(["sodium", "magnesium_trial"], {})
    child_do = engine.posteriors(["sodium", "magnesium_trial"], {}, do={"magnesium": "high"})
    assert max_abs_diff(child_do, child_prior) > 1e-3


def test_do_on_a_root_equals_observing_it(model: CrampModel) -> None:
    evidence = {"leg_cramp_side": "left", "nocturnal_cramps": "yes"}
    do = {"calcium_supplements": "yes"}
    by_do = model.engine.posteriors(model.causes, evidence, do=do)
    by_seeing = model.engine.posteriors(model.causes, {**evidence, **do})
    assert max_abs_diff(by_do, by_seeing) <= 1e-12


def test_query_batches_rows_under_one_intervention(model: CrampModel) -> None:
    do = {"magnesium": "high"}
    rows: list[dict[str, object]] = [
        {},
        {"leg_cramp_side": "right"},
        {"magnesium_trial": "improved", "calcium_supplements": "yes"},
        {"left_leg_cramps": "yes", "right_leg_cramps": "no", "leg_cramp_side": "both"},
    ]
    marginals, log_z = model.engine.query(model.causes, rows, do=do)
    assert log_z[3] == -np.inf
    for r, row in enumerate(rows[:3]):
        single = model.engine.posteriors(model.causes, row, do=do)
        for c in model.causes:
            assert np.abs(marginals[c][r] - list(single[c].values())).max() <= 1e-12


def test_every_parameter_combination_of_a_tiny_network_matches_the_joint() -> None:
    """Exhaustive: every hard evidence set of a 3-node collider against the joint table."""
    net = DiscreteBayesianNetwork([("a", "c"), ("b", "c")])
    two, three = ["s0", "s1"], ["s0", "s1", "s2"]
    net.add_cpds(
        TabularCPD("a", 2, [[0.25], [0.75]], state_names={"a": two}),
        TabularCPD("b", 3, [[0.5], [0.3], [0.2]], state_names={"b": three}),
        TabularCPD(
            "c",
            2,
            [[0.9, 0.6, 0.0, 0.3, 0.2, 1.0], [0.1, 0.4, 1.0, 0.7, 0.8, 0.0]],
            ["a", "b"],
            [2, 3],
            state_names={"c": two, "a": two, "b": three},
        ),
    )
    engine = Engine.from_network(net)
    states = net_states(net)
    names = list(states)
    for size in range(len(names) + 1):
        for observed in itertools.combinations(names, size):
            for answers in itertools.product(*(states[v] for v in observed)):
                hard = dict(zip(observed, answers, strict=True))
                _, joint = weighted_joint(net, hard, {})
                marginals, log_z = engine.query(names, [hard])
                if joint.sum() == 0:
                    assert log_z[0] == -np.inf
                    continue
                assert log_z[0] == pytest.approx(np.log(joint.sum()), abs=1e-12)
                for axis, v in enumerate(names):
                    others = tuple(k for k in range(len(names)) if k != axis)
                    expected = joint.sum(axis=others) / joint.sum()
                    assert np.abs(marginals[v][0] - expected).max() <= 1e-12


# --- the compiled helpers of compilation ------------------------------------------------------


@st.composite
def moral_graphs(draw: st.DrawFn) -> tuple[dict[str, int], list[tuple[str, ...]]]:
    """Random factor scopes over up to 150 variables (more than two 64-bit words of the
    compiled bit rows), with 1 to 5 states each."""
    n = draw(st.integers(1, 150))
    names = [f"v{k:03d}" for k in draw(st.permutations(range(n)))]
    card = {v: draw(st.integers(1, 5)) for v in names}
    scopes = [(v,) for v in names]
    for _ in range(draw(st.integers(0, 2 * n))):
        size = draw(st.integers(2, min(4, n))) if n > 1 else 1
        scopes.append(tuple(draw(subsets(names, size))))
    return card, scopes


@settings(max_examples=examples(60))
@given(graph=moral_graphs())
def test_compiled_min_fill_matches_the_python_oracle(
    graph: tuple[dict[str, int], list[tuple[str, ...]]],
) -> None:
    """The compiled elimination forms the same cliques, in the same order, as min-fill in
    plain Python sets (ties: smaller clique table, then name order), and every scope lies
    in one of them."""
    card, scopes = graph
    got = eliminate(sorted(card), card, scopes)
    assert got == min_fill_cliques(card, scopes)
    assert all(any(set(scope) <= c for c in got) for scope in scopes)


def test_min_fill_counts_table_sizes_up_to_two_to_the_53() -> None:
    """Beyond 2^53 entries (where float64 stops counting exactly) clique tables tie and the
    name decides, in the compiled elimination and in the oracle alike: two cliques of 2^60
    and 2^56 entries, each simplicial (no fill-in); the one named first goes first although
    its table is the bigger. (Hypothesis found 150-variable graphs where rounding had made
    the two disagree.)"""
    big = [f"a{i:02d}" for i in range(60)]
    small = [f"b{i:02d}" for i in range(56)]
    card = {v: 2 for v in big + small}
    scopes = [tuple(big), tuple(small)]
    got = eliminate(sorted(card), card, scopes)
    assert got == min_fill_cliques(card, scopes)
    assert got[0] == frozenset(big)


@settings(max_examples=examples(100))
@given(data=st.data())
def test_onto_index_matches_numpy(data: st.DataObject) -> None:
    """Each entry's index on some axes of a table, as numpy's ``ravel_multi_index`` of the
    entry's digits gives it."""
    dims = tuple(data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=6)))
    kept = data.draw(st.permutations(range(len(dims))))[: data.draw(st.integers(0, len(dims)))]
    digits = np.indices(dims).reshape(len(dims), -1)
    expected = (
        np.ravel_multi_index(digits[list(kept)], [dims[a] for a in kept])
        if kept
        else np.zeros(digits.shape[1], dtype=np.int64)
    )
    assert onto_index(dims, kept).tolist() == expected.tolist()


@settings(max_examples=examples(40))
@given(data=st.data())
def test_needed_counts_the_variables_and_their_ancestors(data: st.DataObject) -> None:
    """``Engine.needed`` (bit sets made once) counts what walking the parents finds."""
    net = data.draw(networks())
    engine = Engine.from_network(net)
    names = sorted(engine.states)
    asked = data.draw(subsets(names, data.draw(st.integers(0, len(names)))))
    assert engine.needed(asked) == len(ancestral(engine.parents, asked))


def test_needed_on_a_chain_longer_than_the_recursion_limit() -> None:
    n = 3000
    states = {f"v{i}": ["a", "b"] for i in range(n)}
    parents = {f"v{i}": (f"v{i - 1}",) if i else () for i in range(n)}
    flip = np.array([[0.9, 0.2], [0.1, 0.8]])
    tables = {f"v{i}": flip if i else np.array([0.5, 0.5]) for i in range(n)}
    engine = Engine(states, parents, tables)
    assert engine.needed([f"v{n - 1}"]) == n
    assert engine.needed(["v5", "v3"]) == 6

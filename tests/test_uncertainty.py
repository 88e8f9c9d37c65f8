"""Parameter uncertainty: the drawn tables, and the posterior intervals and "rank first" shares
built on the posteriors under every draw.

``rank_first`` is checked against independent computations: one plain engine per draw (the
draw's tables without the draw axis), pyAgrum on a few draws of the real model, and
hypothesis-generated small networks with drawn tables.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pyagrum as gum
import pytest
import yaml
from conftest import fill_pyagrum_cpt, to_pyagrum
from hypothesis import event, given
from hypothesis import strategies as st

from model import CrampModel, ImpossibleEvidenceError, diagnose, load_model
from model.diagnosis.crampmodel import diagnose_drawn
from model.inference.engine import Engine
from model.inference.uncertainty import (
    DrawnPosteriors,
    drawn_posteriors,
    intervals_of,
    posterior_intervals,
    rank_first,
)
from model.knowledge.draws import DRAWS, draw_tables
from model.knowledge.network import node_tables
from model.knowledge.schema import Param, Row, TableCPD

CASES = json.loads((Path(__file__).parent / "data" / "cases.json").read_text())["cases"]
K_MEANS = 5000  # draws for the mean tests (20000 takes ~1.4 GB for the whole model)
SIGMAS = 5.0


@pytest.fixture(scope="module")
def many_draws(model: CrampModel) -> dict[str, np.ndarray]:
    return draw_tables(model.priors, K_MEANS, seed=11)


# --- draw_tables ------------------------------------------------------------------------------


def test_same_seed_same_tables_other_seed_other_tables(model: CrampModel) -> None:
    a = draw_tables(model.priors, 50, seed=3)
    b = draw_tables(model.priors, 50, seed=3)
    c = draw_tables(model.priors, 50, seed=4)
    assert a.keys() == b.keys() == c.keys() == model.priors.nodes.keys()
    assert all(np.array_equal(a[n], b[n]) for n in a)
    differing = [n for n in a if not np.array_equal(a[n], c[n])]
    # every node with a drawn number differs; only deterministic definitions stay put
    deterministic = [n for n, s in model.priors.nodes.items() if s.cpd.type == "deterministic"]
    assert sorted(differing) == sorted(n for n in a if n not in deterministic)


def test_each_drawn_table_is_a_distribution(model: CrampModel) -> None:
    point = node_tables(model.priors)
    for node, tables in draw_tables(model.priors, 200, seed=5).items():
        assert tables.shape == (200, *point[node].shape), node
        assert np.all(tables >= 0.0) and np.all(tables <= 1.0), node
        assert np.allclose(tables.sum(axis=1), 1.0, atol=1e-12), node


def test_every_table_entry_averages_to_its_point_value(
    model: CrampModel, many_draws: dict[str, np.ndarray]
) -> None:
    """Each entry is multilinear in independent Beta/Dirichlet draws whose means are the stated
    numbers, so its mean over the draws is the point table's entry (within sampling error)."""
    point = node_tables(model.priors)
    for node, tables in many_draws.items():
        mean, sd = tables.mean(axis=0), tables.std(axis=0)
        tolerance = SIGMAS * sd / np.sqrt(K_MEANS) + 1e-12
        worst = np.abs(mean - point[node]) - tolerance
        assert worst.max() <= 0.0, (node, float(worst.max()))


def inactive_column(model: CrampModel, node: str) -> tuple[int, ...] | None:
    """Parent state indices where no link or interaction of a noisy-OR node fires (the
    column that holds the leak alone), or None if some parent has no such state."""
    spec = model.priors.nodes[node]
    cpd = spec.cpd
    index = []
    for parent in spec.parents:
        firing = set(cpd.links.get(parent, {}))
        firing |= {i.when[parent] for i in cpd.interactions if parent in i.when}
        quiet = [k for k, s in enumerate(model.priors.nodes[parent].states) if s not in firing]
        if not quiet:
            return None
        index.append(quiet[0])
    return tuple(index)


def beta_standard_error(p: float, confidence: float, k: int) -> float:
    """Standard error of the mean of k draws of Beta(n p, n (1 - p)) (also a Dirichlet
    component's marginal)."""
    return float(np.sqrt(p * (1.0 - p) / (confidence + 1.0) / k))


def test_stated_parameters_are_the_means_of_their_draws(
    model: CrampModel, many_draws: dict[str, np.ndarray]
) -> None:
    """Root tables (one Dirichlet row) and noisy-OR leaks (the column where no parent is
    active) read a stated number directly: check them against its Beta standard error."""
    checked = 0
    for node, spec in model.priors.nodes.items():
        cpd = spec.cpd
        drawn = many_draws[node]
        if isinstance(cpd, TableCPD) and not spec.parents:
            (row,) = cpd.rows
            assert isinstance(row, Row)
            for k, state in enumerate(spec.states):
                p = row.probs[state]
                mean = drawn[:, k].mean()
                se = beta_standard_error(p, row.confidence, K_MEANS)
                assert abs(mean - p) <= SIGMAS * se + 1e-12, (node, state, mean, p)
                checked += 1
        elif cpd.type == "noisy_or" and len(cpd.leak) == 1 and cpd.uninformative is None:
            ((state, leak),) = cpd.leak.items()
            assert isinstance(leak, Param)
            off = inactive_column(model, node)
            if off is None:
                continue
            column = drawn[(slice(None), spec.states.index(state), *off)]
            se = beta_standard_error(leak.p, leak.confidence, K_MEANS)
            assert abs(column.mean() - leak.p) <= SIGMAS * se + 1e-12, (node, column.mean())
            checked += 1
    assert checked >= 30


# --- posterior intervals ----------------------------------------------------------------------


def test_same_seed_same_intervals(model: CrampModel) -> None:
    evidence = CASES[0]["evidence"]
    a = posterior_intervals(model.drawn(300, 7), model.causes, evidence)
    b = posterior_intervals(model.drawn(300, 7), model.causes, evidence)
    c = posterior_intervals(model.drawn(300, 8), model.causes, evidence)
    assert a == b
    assert a != c


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_point_posterior_lies_inside_the_interval(model: CrampModel, case: dict) -> None:
    evidence = case["evidence"]
    intervals = posterior_intervals(model.drawn(), model.causes, evidence)
    point = model.engine.posteriors(model.causes, evidence)
    for cause, states in intervals.items():
        assert sum(i["mean"] for i in states.values()) == pytest.approx(1.0, abs=1e-9)
        for state, i in states.items():
            assert 0.0 <= i["low"] <= i["mean"] <= i["high"] <= 1.0, (cause, state, i)
            assert i["low"] <= point[cause][state] <= i["high"], (cause, state, i)


def test_a_wider_level_gives_a_wider_interval(model: CrampModel) -> None:
    evidence = CASES[1]["evidence"]
    narrow = posterior_intervals(model.drawn(), model.causes, evidence, level=0.5)
    wide = posterior_intervals(model.drawn(), model.causes, evidence, level=0.95)
    for cause, states in wide.items():
        for state, i in states.items():
            n = narrow[cause][state]
            assert i["low"] <= n["low"] and n["high"] <= i["high"]
            assert i["mean"] == n["mean"]


def scale_confidence(node: object, factor: float) -> object:
    """A copy of a YAML tree with every ``confidence`` multiplied by ``factor``."""
    if isinstance(node, dict):
        return {
            k: v * factor if k == "confidence" else scale_confidence(v, factor)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [scale_confidence(v, factor) for v in node]
    return node


@pytest.fixture(scope="module")
def firm_model(model: CrampModel, tmp_path_factory: pytest.TempPathFactory) -> CrampModel:
    """The model with every confidence multiplied by 100 (same point numbers)."""
    directory = tmp_path_factory.mktemp("firm") / "priors"
    shutil.copytree(model.priors.directory, directory)
    for name in model.priors.meta.node_files:
        path = directory / name
        data = yaml.safe_load(path.read_text())
        path.write_text(yaml.safe_dump(scale_confidence(data, 100.0), sort_keys=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_model(directory)


def test_firm_model_has_the_same_point_numbers(model: CrampModel, firm_model: CrampModel) -> None:
    point, firm = node_tables(model.priors), node_tables(firm_model.priors)
    assert point.keys() == firm.keys()
    assert all(np.array_equal(point[n], firm[n]) for n in point)
    calcium = firm_model.priors.nodes["calcium"].cpd
    assert (
        calcium.leak["low"].confidence
        == 100 * model.priors.nodes["calcium"].cpd.leak["low"].confidence
    )


@pytest.mark.parametrize("case", CASES[:5], ids=[c["id"] for c in CASES[:5]])
def test_more_confidence_narrows_the_interval_around_the_point(
    model: CrampModel, firm_model: CrampModel, case: dict
) -> None:
    evidence = case["evidence"]
    loose = posterior_intervals(model.drawn(seed=1), model.causes, evidence)
    firm = posterior_intervals(firm_model.drawn(seed=1), model.causes, evidence)
    point = firm_model.engine.posteriors(model.causes, evidence)
    loose_width = firm_width = 0.0
    for cause, states in firm.items():
        for state, i in states.items():
            wide = loose[cause][state]["high"] - loose[cause][state]["low"]
            narrow = i["high"] - i["low"]
            assert narrow <= wide + 1e-12, (cause, state, narrow, wide)
            assert abs(i["mean"] - point[cause][state]) <= 0.005, (cause, state, i)
            assert i["low"] <= point[cause][state] <= i["high"]
            loose_width += wide
            firm_width += narrow
    # confidence x100: the spread shrinks about tenfold (a Beta's sd goes as 1/sqrt(n))
    assert firm_width < 0.2 * loose_width


# --- rank first: how often each cause state is the most probable over the draws ----------------

RANK_DRAWS, RANK_SEED = 40, 5
NEAR = 1e-9  # two posteriors closer than this are a tie no independent computation can order


def draw_engines(drawn: Engine) -> list[Engine]:
    """One plain engine per draw of ``drawn``: the draw's tables, without the draw axis."""
    assert drawn.draws
    return [
        Engine(drawn.states, drawn.parents, {n: t[k] for n, t in drawn.tables.items()})
        for k in range(drawn.draws)
    ]


def winners(
    values: list[dict[tuple[str, str], float] | None], candidates: list[tuple[str, str]]
) -> list[set[tuple[str, str]]]:
    """Per draw, the candidates within :data:`NEAR` of the highest posterior (None: impossible)."""
    out = []
    for value in values:
        if value is None:
            out.append(set())
            continue
        top = max(value[c] for c in candidates)
        out.append({c for c in candidates if value[c] >= top - NEAR})
    return out


@pytest.mark.parametrize("case", CASES[:4], ids=[c["id"] for c in CASES[:4]])
def test_rank_first_counts_the_winner_of_each_draw_by_plain_queries(
    model: CrampModel, case: dict
) -> None:
    """diagnose's shares are the plain engine's per-draw winners, counted: exactly, since each
    share is a count over the number of possible draws."""
    evidence = case["evidence"]
    abnormal = model.abnormal_states()
    result = diagnose(evidence, model=model, draws=RANK_DRAWS, seed=RANK_SEED)
    assert list(result.rank_first) == abnormal
    per_draw = []
    for engine in draw_engines(model.drawn(RANK_DRAWS, RANK_SEED)):
        post = engine.posteriors(model.causes, evidence)
        per_draw.append({(c, s): post[c][s] for c, s in abnormal})
    won = winners(per_draw, abnormal)
    assert all(len(w) == 1 for w in won), "a near tie: pick another seed for this case"
    counts = {c: sum(c in w for w in won) for c in abnormal}
    assert result.rank_first == {c: n / RANK_DRAWS for c, n in counts.items()}
    assert sum(result.rank_first.values()) == pytest.approx(1.0, abs=1e-12)


def test_drawn_posteriors_match_pyagrum_draw_by_draw(model: CrampModel) -> None:
    """The (draws, states) marginals rank_first reads, against pyAgrum on a few draws: each
    draw's tables copied into the pyAgrum network, queried with LazyPropagation."""
    evidence = CASES[0]["evidence"]
    drawn = model.drawn(RANK_DRAWS, RANK_SEED)
    got = drawn_posteriors(drawn, model.causes, evidence)
    assert got.possible.all() and got.draws == RANK_DRAWS
    bn = to_pyagrum(model.network)
    cpds = {cpd.variable: cpd for cpd in model.network.get_cpds()}
    for k in (0, 1, RANK_DRAWS - 1):
        for node, cpd in cpds.items():
            assert tuple(cpd.variables[1:]) == drawn.parents[node]
            copy = cpd.copy()
            copy.values = np.asarray(drawn.tables[node][k], dtype=float)
            fill_pyagrum_cpt(bn.cpt(node), copy)
        ie = gum.LazyPropagation(bn)
        ie.setEvidence(dict(evidence))
        ie.makeInference()
        for cause in model.causes:
            expected = [ie.posterior(cause)[{cause: s}] for s in got.states[cause]]
            assert got.marginals[cause][k] == pytest.approx(expected, abs=1e-9), (k, cause)


def test_diagnose_reuses_the_models_cached_drawn_engine_and_its_draws(model: CrampModel) -> None:
    evidence = CASES[1]["evidence"]
    result, drawn = diagnose_drawn(evidence, model=model)
    assert model.drawn() is model.drawn(DRAWS, 0)  # the default: DRAWS draws, seed 0, cached
    assert drawn.draws == DRAWS
    again = drawn_posteriors(model.drawn(DRAWS, 0), model.causes, evidence)
    assert (
        result.rank_first == model.rank_first(again) == diagnose(evidence, model=model).rank_first
    )
    assert result.rank_first == rank_first(again, model.abnormal_states())
    assert intervals_of(drawn) == posterior_intervals(model.drawn(), model.causes, evidence)
    other = diagnose(evidence, model=model, draws=RANK_DRAWS, seed=RANK_SEED + 1)
    assert all(
        n * RANK_DRAWS == pytest.approx(round(n * RANK_DRAWS)) for n in other.rank_first.values()
    )
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="'draws' parameter"):
            diagnose(evidence, model=model, draws=bad)


def test_answers_that_settle_two_causes_rank_the_first_in_priors_order(model: CrampModel) -> None:
    """Two abnormal cause states answered as certain both have posterior 1 in every draw: the
    tie counts for the one listed first in the priors."""
    abnormal = model.abnormal_states()
    (c1, s1), (c2, s2) = abnormal[0], next(a for a in abnormal if a[0] != abnormal[0][0])
    shares = diagnose({c2: s2, c1: s1}, model=model, draws=RANK_DRAWS).rank_first
    assert shares[(c1, s1)] == 1.0
    assert all(v == 0.0 for k, v in shares.items() if k != (c1, s1))
    alone = diagnose({c2: s2}, model=model, draws=RANK_DRAWS).rank_first
    assert alone[(c2, s2)] == 1.0


def test_rank_first_on_hand_made_posteriors_breaks_ties_by_candidate_order() -> None:
    marginals = {
        "a": np.array([[0.5, 0.5], [0.2, 0.8], [np.nan, np.nan], [0.9, 0.1]]),
        "b": np.array([[0.5, 0.5], [0.8, 0.2], [np.nan, np.nan], [0.3, 0.7]]),
    }
    posteriors = DrawnPosteriors(
        {"a": ["x", "y"], "b": ["x", "y"]}, marginals, np.array([True, True, False, True])
    )
    shares = rank_first(posteriors, [("a", "x"), ("b", "x"), ("b", "y")])
    # draw 0: a=x, b=x, b=y all 0.5 -> a=x (listed first); draw 1: b=x; draw 2 impossible;
    # draw 3: a=x
    assert shares == {("a", "x"): 2 / 3, ("b", "x"): 1 / 3, ("b", "y"): 0.0}
    reordered = rank_first(posteriors, [("b", "y"), ("a", "x"), ("b", "x")])
    assert reordered == {("b", "y"): 1 / 3, ("a", "x"): 1 / 3, ("b", "x"): 1 / 3}
    assert rank_first(posteriors, []) == {}
    with pytest.raises(ValueError, match="'c'"):
        rank_first(posteriors, [("c", "x")])
    with pytest.raises(ValueError, match="valid states"):
        rank_first(posteriors, [("a", "z")])
    with pytest.raises(ValueError, match="more than once"):
        rank_first(posteriors, [("a", "x"), ("a", "x")])


@st.composite
def drawn_networks(
    draw: st.DrawFn, max_nodes: int = 6, max_draws: int = 6
) -> tuple[dict[str, list[str]], dict[str, tuple[str, ...]], dict[str, np.ndarray]]:
    """A small random network whose tables carry a leading axis of K draws: each draw's columns
    Dirichlet, sometimes with exact zeros (answers impossible under some draws only)."""
    n = draw(st.integers(2, max_nodes))
    k = draw(st.integers(min(2, max_draws), max_draws))
    names = [f"v{i}" for i in range(n)]
    states = {v: [f"s{j}" for j in range(draw(st.integers(2, 3)))] for v in names}
    parents = {
        v: tuple(sorted(draw(st.sets(st.sampled_from(names[:i]), max_size=2)) if i else ()))
        for i, v in enumerate(names)
    }
    zero_rate = draw(st.sampled_from([0.0, 0.7]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    tables = {}
    for v in names:
        shape = (k, len(states[v]), *(len(states[p]) for p in parents[v]))
        columns = rng.dirichlet(np.ones(len(states[v])), size=(k, *shape[2:]))  # (k, ..., card)
        if zero_rate:
            zero = rng.random(columns.shape) < zero_rate
            zero[..., 0] = False  # state 0 stays possible in every column
            columns = np.where(zero, 0.0, columns)
            columns /= columns.sum(axis=-1, keepdims=True)
        tables[v] = np.moveaxis(columns, -1, 1)
    return states, parents, tables


@st.composite
def queries(
    draw: st.DrawFn, states: dict[str, list[str]]
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """One to three hard answers, and a non-empty list of distinct candidate (variable, state)."""
    names = sorted(states)
    answered = draw(st.lists(st.sampled_from(names), unique=True, min_size=1, max_size=3))
    evidence = {v: draw(st.sampled_from(states[v])) for v in answered}
    pairs = [(v, s) for v in names for s in states[v]]
    candidates = draw(st.lists(st.sampled_from(pairs), unique=True, min_size=1, max_size=5))
    return evidence, candidates


def plain_posteriors(
    engine: Engine, candidates: list[tuple[str, str]], evidence: dict[str, str]
) -> dict[tuple[str, str], float] | None:
    targets = list(dict.fromkeys(v for v, _ in candidates))
    try:
        post = engine.posteriors(targets, evidence)
    except ImpossibleEvidenceError:
        return None
    return {(v, s): post[v][s] for v, s in candidates}


@given(data=st.data())
def test_rank_first_on_random_networks_counts_each_draws_winner(data: st.DataObject) -> None:
    states, parents, tables = data.draw(drawn_networks())
    evidence, candidates = data.draw(queries(states))
    drawn = Engine(states, parents, tables)
    targets = list(dict.fromkeys(v for v, _ in candidates))
    per_draw = [plain_posteriors(e, candidates, evidence) for e in draw_engines(drawn)]
    try:
        posteriors = drawn_posteriors(drawn, targets, evidence)
    except ImpossibleEvidenceError:
        assert all(p is None for p in per_draw)
        return
    assert list(posteriors.possible) == [p is not None for p in per_draw]
    event("some draws impossible" if not posteriors.possible.all() else "every draw possible")
    shares = rank_first(posteriors, candidates)
    assert list(shares) == candidates
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-12)
    possible = int(posteriors.possible.sum())
    counts = {c: share * possible for c, share in shares.items()}
    assert all(n == pytest.approx(round(n), abs=1e-9) for n in counts.values())
    # each draw's winner, by the plain engine; a near tie may go to either side of it
    won = winners(per_draw, candidates)
    sure = {c: sum(w == {c} for w in won) for c in candidates}
    maybe = {c: sum(c in w for w in won) for c in candidates}
    for c in candidates:
        assert sure[c] <= round(counts[c]) <= maybe[c], (c, sure[c], counts[c], maybe[c])


@given(data=st.data())
def test_rank_first_is_one_for_the_argmax_when_every_draw_has_the_same_tables(
    data: st.DataObject,
) -> None:
    states, parents, tables = data.draw(drawn_networks(max_draws=1))
    evidence, candidates = data.draw(queries(states))
    k = data.draw(st.integers(1, 5))
    same = {v: np.repeat(t, k, axis=0) for v, t in tables.items()}
    point = Engine(states, parents, {v: t[0] for v, t in tables.items()})
    expected = plain_posteriors(point, candidates, evidence)
    targets = list(dict.fromkeys(v for v, _ in candidates))
    if expected is None:
        with pytest.raises(ImpossibleEvidenceError):
            drawn_posteriors(Engine(states, parents, same), targets, evidence)
        return
    shares = rank_first(
        drawn_posteriors(Engine(states, parents, same), targets, evidence), candidates
    )
    (top,) = [c for c, share in shares.items() if share == 1.0]
    assert all(share == 0.0 for c, share in shares.items() if c != top)
    (tied,) = winners([expected], candidates)
    assert top in tied
    if len(tied) == 1:
        assert top == max(candidates, key=expected.get)

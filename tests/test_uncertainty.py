"""Parameter uncertainty: the drawn tables and the posterior intervals built on them."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from model import CrampModel, load_model
from model.inference.uncertainty import posterior_intervals
from model.knowledge.draws import draw_tables
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

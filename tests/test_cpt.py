"""Unit tests of ``model.knowledge.cpt.expand`` on small hand-made nodes, against independent
formulas."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from model.knowledge.cpt import expand
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

YES_NO = ["yes", "no"]
LEVELS = ["low", "normal", "high"]
probability = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


def param(p: float) -> Param:
    return Param(p=p, elicited="test value", confidence=1)


def node(states: list[str], parents: list[str], cpd) -> Node:
    return Node(kind="finding", label="test", question="?", states=states, parents=parents, cpd=cpd)


def binary_noisy_or(leak: float, strengths: list[float]) -> Node:
    parents = [f"p{i}" for i in range(len(strengths))]
    return node(
        YES_NO,
        parents,
        NoisyOrCPD(
            type="noisy_or",
            off_state="no",
            leak={"yes": param(leak)},
            links={p: {"yes": {"yes": param(q)}} for p, q in zip(parents, strengths, strict=True)},
        ),
    )


# --- binary leaky noisy-OR -------------------------------------------------------------------


@given(leak=probability, strengths=st.lists(probability, min_size=1, max_size=4))
def test_binary_noisy_or_matches_closed_form(leak: float, strengths: list[float]) -> None:
    spec = binary_noisy_or(leak, strengths)
    parent_states = {p: YES_NO for p in spec.parents}
    table = expand(spec, parent_states)
    assert table.shape == (2, *([2] * len(strengths)))
    for column in itertools.product(range(2), repeat=len(strengths)):
        on = [q for q, index in zip(strengths, column, strict=True) if YES_NO[index] == "yes"]
        expected = 1.0 - (1.0 - leak) * math.prod(1.0 - q for q in on)
        assert table[(0, *column)] == pytest.approx(expected, abs=1e-12)
        assert table[(1, *column)] == pytest.approx(1.0 - expected, abs=1e-12)


@given(
    leak=st.floats(1e-12, 1e-4),
    strengths=st.lists(st.floats(1e-12, 1e-4), min_size=1, max_size=4),
)
def test_tiny_noisy_or_probabilities_keep_their_digits(leak: float, strengths: list[float]) -> None:
    """A finding that fires rarely: the chance it fires is exact to 1e-13 relative, the
    sum over non-empty subsets of the inclusion-exclusion series (no ``1 - (1 - p)...``,
    which would leave a few digits)."""
    spec = binary_noisy_or(leak, strengths)
    table = expand(spec, {p: YES_NO for p in spec.parents})
    every = [leak, *strengths]  # every parent "yes" (index 0): the leak and each link
    expected = -sum(
        math.prod(-p for p in chosen)
        for k in range(1, len(every) + 1)
        for chosen in itertools.combinations(every, k)
    )
    assert table[(0,) * (1 + len(strengths))] == pytest.approx(expected, rel=1e-13, abs=0)


def test_noisy_or_root_node() -> None:
    table = expand(binary_noisy_or(0.2, []), {})
    np.testing.assert_allclose(table, [0.2, 0.8])


def test_binary_noisy_or_by_hand() -> None:
    table = expand(binary_noisy_or(0.1, [0.5, 0.2]), {"p0": YES_NO, "p1": YES_NO})
    assert table[0, 0, 0] == pytest.approx(1 - 0.9 * 0.5 * 0.8)
    assert table[0, 0, 1] == pytest.approx(1 - 0.9 * 0.5)
    assert table[0, 1, 0] == pytest.approx(1 - 0.9 * 0.8)
    assert table[0, 1, 1] == pytest.approx(0.1)


# --- multi-active (low / normal / high) ------------------------------------------------------


def brute_force_multi(
    leak: dict[str, float],
    links: dict[str, dict[str, dict[str, float]]],
    parent_states: dict[str, list[str]],
    states: list[str],
    off: str,
    column: dict[str, str],
) -> dict[str, float]:
    """Enumerate every independent trigger (leaks and active links) firing or not."""
    triggers = [(s, p) for s, p in leak.items()]
    for parent, by_state in links.items():
        triggers += list(by_state.get(column[parent], {}).items())
    dist = dict.fromkeys(states, 0.0)
    for fired in itertools.product((False, True), repeat=len(triggers)):
        weight = math.prod(p if f else 1.0 - p for (_, p), f in zip(triggers, fired, strict=True))
        chosen = sorted({s for (s, _), f in zip(triggers, fired, strict=True) if f}) or [off]
        for s in chosen:
            dist[s] += weight / len(chosen)
    return dist


@given(
    leak_low=probability,
    leak_high=probability,
    a_low=probability,
    a_high=probability,
    b_low=probability,
    b_mid=probability,
)
def test_multi_active_matches_brute_force(
    leak_low: float, leak_high: float, a_low: float, a_high: float, b_low: float, b_mid: float
) -> None:
    # parent a (yes/no) pushes yes->low and yes->high; parent b (three states) pushes two ways
    links = {
        "a": {"yes": {"low": a_low, "high": a_high}},
        "b": {"low": {"low": b_low}, "high": {"low": b_mid, "high": b_mid}},
    }
    parent_states = {"a": YES_NO, "b": LEVELS}
    spec = node(
        LEVELS,
        ["a", "b"],
        NoisyOrCPD(
            type="noisy_or",
            off_state="normal",
            leak={"low": param(leak_low), "high": param(leak_high)},
            links={
                p: {ps: {s: param(q) for s, q in t.items()} for ps, t in by.items()}
                for p, by in links.items()
            },
        ),
    )
    table = expand(spec, parent_states)
    assert table.shape == (3, 2, 3)
    for i, a in enumerate(YES_NO):
        for j, b in enumerate(LEVELS):
            expected = brute_force_multi(
                {"low": leak_low, "high": leak_high},
                links,
                parent_states,
                LEVELS,
                "normal",
                {"a": a, "b": b},
            )
            for k, s in enumerate(LEVELS):
                assert table[k, i, j] == pytest.approx(expected[s], abs=1e-12)
            assert table[:, i, j].sum() == pytest.approx(1.0, abs=1e-12)


def test_ties_are_split_equally() -> None:
    # both active states certain to fire: each gets one half, whatever the (unlinked) parent
    spec = node(
        LEVELS,
        ["a"],
        NoisyOrCPD(
            type="noisy_or", off_state="normal", leak={"low": param(1.0), "high": param(1.0)}
        ),
    )
    np.testing.assert_allclose(expand(spec, {"a": YES_NO}), [[0.5, 0.5], [0, 0], [0.5, 0.5]])


# --- interaction -----------------------------------------------------------------------------


def test_interaction_fires_only_when_all_parents_hold() -> None:
    leak, q1, q2, r = 0.05, 0.3, 0.1, 0.5
    spec = node(
        YES_NO,
        ["a", "b"],
        NoisyOrCPD(
            type="noisy_or",
            off_state="no",
            leak={"yes": param(leak)},
            links={"a": {"yes": {"yes": param(q1)}}, "b": {"yes": {"yes": param(q2)}}},
            interactions=[Interaction(when={"a": "yes", "b": "yes"}, towards={"yes": param(r)})],
        ),
    )
    table = expand(spec, {"a": YES_NO, "b": YES_NO})
    off = table[1]
    assert off[0, 0] == pytest.approx((1 - leak) * (1 - q1) * (1 - q2) * (1 - r))
    assert off[0, 1] == pytest.approx((1 - leak) * (1 - q1))
    assert off[1, 0] == pytest.approx((1 - leak) * (1 - q2))
    assert off[1, 1] == pytest.approx(1 - leak)
    np.testing.assert_allclose(table.sum(axis=0), 1.0)


# --- uninformative state ---------------------------------------------------------------------


def trial_node(uninformative: float | None) -> Node:
    return node(
        ["not_tried", "improved", "no_change", "worsened"],
        ["x"],
        NoisyOrCPD(
            type="noisy_or",
            off_state="no_change",
            leak={"improved": param(0.1), "worsened": param(0.05)},
            links={
                "x": {
                    "low": {"improved": param(0.6)},
                    "high": {"worsened": param(0.4)},
                }
            },
            uninformative=(
                None
                if uninformative is None
                else Uninformative(state="not_tried", p=uninformative, elicited="t", confidence=1)
            ),
        ),
    )


@given(c=probability)
def test_uninformative_state_is_constant_across_columns(c: float) -> None:
    table = expand(trial_node(c), {"x": LEVELS})
    base = expand(trial_node(None), {"x": LEVELS})
    assert np.all(table[0] == c)  # exactly the same number in every column
    np.testing.assert_allclose(table[1:], base[1:] * (1 - c), atol=1e-12)
    np.testing.assert_allclose(table.sum(axis=0), 1.0, atol=1e-12)
    assert np.all(base[0] == 0.0)  # without it the state is never taken


# --- table and deterministic CPDs ------------------------------------------------------------


def row(when: dict[str, str], probs: dict[str, float]) -> Row:
    return Row(when=when, probs=probs, elicited="t", confidence=1)


def test_table_rows_in_shuffled_order() -> None:
    # rows and their probabilities in neither parent nor state order
    spec = node(
        LEVELS,
        ["a", "b"],
        TableCPD(
            type="table",
            rows=[
                row({"b": "no", "a": "yes"}, {"high": 0.3, "low": 0.2, "normal": 0.5}),
                row({"a": "no", "b": "yes"}, {"normal": 0.1, "low": 0.6, "high": 0.3}),
                row({"a": "no", "b": "no"}, {"low": 0.0, "normal": 1.0, "high": 0.0}),
                row({"a": "yes", "b": "yes"}, {"low": 0.7, "high": 0.1, "normal": 0.2}),
            ],
        ),
    )
    table = expand(spec, {"a": YES_NO, "b": YES_NO})
    expected = np.empty((3, 2, 2))
    expected[:, 0, 0] = [0.7, 0.2, 0.1]
    expected[:, 0, 1] = [0.2, 0.5, 0.3]
    expected[:, 1, 0] = [0.6, 0.1, 0.3]
    expected[:, 1, 1] = [0.0, 1.0, 0.0]
    np.testing.assert_array_equal(table, expected)


def test_root_table() -> None:
    spec = node(YES_NO, [], TableCPD(type="table", rows=[row({}, {"no": 0.7, "yes": 0.3})]))
    np.testing.assert_array_equal(expand(spec, {}), [0.3, 0.7])


def test_deterministic_cpd() -> None:
    sides = ["none", "left", "right", "both"]
    spec = node(
        sides,
        ["l", "r"],
        DeterministicCPD(
            type="deterministic",
            elicited="definition",
            cases=[
                Case(when={"l": "yes", "r": "yes"}, state="both"),
                Case(when={"l": "yes", "r": "no"}, state="left"),
                Case(when={"l": "no", "r": "yes"}, state="right"),
                Case(when={"l": "no", "r": "no"}, state="none"),
            ],
        ),
    )
    table = expand(spec, {"l": YES_NO, "r": YES_NO})
    assert table.shape == (4, 2, 2)
    for i, l_state in enumerate(YES_NO):
        for j, r_state in enumerate(YES_NO):
            expected = {
                ("yes", "yes"): "both",
                ("yes", "no"): "left",
                ("no", "yes"): "right",
                ("no", "no"): "none",
            }[(l_state, r_state)]
            np.testing.assert_array_equal(table[:, i, j], [s == expected for s in sides])


# --- batch values ----------------------------------------------------------------------------

SCALES = (1.0, 0.5, 0.1)


def scaled(param_or_row: Param | Row, k: int) -> float | np.ndarray:
    """The k-th of K perturbed values of a parameter (a row is rotated k places)."""
    if isinstance(param_or_row, Param):
        return param_or_row.p * SCALES[k]
    return np.roll(np.asarray(list(param_or_row.probs.values())), k)


def batch_hook(param_or_row: Param | Row) -> np.ndarray:
    return np.stack([np.asarray(scaled(param_or_row, k)) for k in range(len(SCALES))])


def batch_nodes() -> list[tuple[Node, dict[str, list[str]]]]:
    multi = node(
        LEVELS,
        ["a", "b"],
        NoisyOrCPD(
            type="noisy_or",
            off_state="normal",
            leak={"low": param(0.1), "high": param(0.05)},
            links={"a": {"yes": {"low": param(0.4)}}, "b": {"yes": {"high": param(0.3)}}},
            interactions=[Interaction(when={"a": "yes", "b": "yes"}, towards={"high": param(0.5)})],
        ),
    )
    table = node(
        LEVELS,
        ["a"],
        TableCPD(
            type="table",
            rows=[
                row({"a": "no"}, {"high": 0.3, "low": 0.2, "normal": 0.5}),
                row({"a": "yes"}, {"low": 0.6, "normal": 0.1, "high": 0.3}),
            ],
        ),
    )
    return [
        (multi, {"a": YES_NO, "b": YES_NO}),
        (trial_node(0.6), {"x": LEVELS}),
        (table, {"a": YES_NO}),
        (binary_noisy_or(0.2, [0.3, 0.7]), {"p0": YES_NO, "p1": YES_NO}),
    ]


@pytest.mark.parametrize("index", range(4), ids=["multi", "uninformative", "table", "binary"])
def test_batch_values_equal_separate_expansions(index: int) -> None:
    spec, parent_states = batch_nodes()[index]
    batch = expand(spec, parent_states, batch_hook)
    assert batch.shape[0] == len(SCALES)
    for k in range(len(SCALES)):
        single = expand(spec, parent_states, lambda p, k=k: scaled(p, k))
        np.testing.assert_allclose(batch[k], single, atol=1e-15)

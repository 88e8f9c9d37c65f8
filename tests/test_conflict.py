"""Jensen's conflict measure (``model.inference.conflict``): ``log(prod_i P(e_i) / P(e))`` on
small hand-built networks, checked against plain arithmetic, and on random networks against
the enumeration oracle of ``tests.oracles.counterfactual``."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from model.inference.conflict import measure_conflict
from model.inference.engine import Engine
from tests.conftest import engine_of, examples
from tests.oracles.counterfactual import Oracle, answers, networks

YES_NO = ["yes", "no"]
EXACT = 1e-12


def root(p: float) -> np.ndarray:
    return np.array([p, 1 - p])


def child(yes_if_yes: float, yes_if_no: float) -> np.ndarray:
    """A yes/no child of a yes/no parent: P(yes | parent yes), P(yes | parent no)."""
    return np.array([[yes_if_yes, yes_if_no], [1 - yes_if_yes, 1 - yes_if_no]])


def yes_no_engine(parents: Mapping[str, tuple[str, ...]], tables: Mapping) -> Engine:
    return Engine({n: YES_NO for n in parents}, dict(parents), dict(tables))


def one_cause(p_a: float, children: Mapping[str, tuple[float, float]]) -> Engine:
    """A root A and yes/no children, each given as (P(yes | A yes), P(yes | A no))."""
    return yes_no_engine(
        {"a": (), **dict.fromkeys(children, ("a",))},
        {"a": root(p_a), **{c: child(*p) for c, p in children.items()}},
    )


def by_hand(p_a: float, children: Mapping[str, tuple[float, float]], answered: list[str]) -> float:
    """P(every child in ``answered`` is yes), summing over A."""
    return sum(
        pa * math.prod(children[c][k] for c in answered) for k, pa in enumerate((p_a, 1 - p_a))
    )


def conflict_by_hand(p_a: float, children: Mapping[str, tuple[float, float]], answered) -> float:
    together = by_hand(p_a, children, list(answered))
    return sum(math.log(by_hand(p_a, children, [c])) for c in answered) - math.log(together)


# --- hand-built networks ---------------------------------------------------------------------


def test_independent_roots_do_not_conflict() -> None:
    """Answers on two independent roots: P(e) = P(e_1) P(e_2), conflict 0, nothing named."""
    engine = yes_no_engine({"a": (), "b": ()}, {"a": root(0.3), "b": root(0.6)})
    for b in YES_NO:
        c = measure_conflict(engine, {"a": "yes", "b": b})
        assert c.value == pytest.approx(0.0, abs=EXACT)
        assert c.answers == ()
        assert c.answers_value == 0.0


def test_one_answer_does_not_conflict() -> None:
    """A single answer cannot conflict with itself."""
    c = measure_conflict(one_cause(0.4, {"b": (0.9, 0.2)}), {"b": "yes"})
    assert c.value == pytest.approx(0.0, abs=EXACT) and c.answers == ()


def test_two_effects_of_one_cause_agree() -> None:
    """Two effects of one cause, both yes, support each other: P(e1) = 0.4*0.9 + 0.6*0.2,
    P(e2) = 0.4*0.8 + 0.6*0.1, P(e1, e2) = 0.4*0.9*0.8 + 0.6*0.2*0.1; conflict negative."""
    engine = one_cause(0.4, {"e1": (0.9, 0.2), "e2": (0.8, 0.1)})
    c = measure_conflict(engine, {"e1": "yes", "e2": "yes"})
    p1, p2 = 0.4 * 0.9 + 0.6 * 0.2, 0.4 * 0.8 + 0.6 * 0.1
    both = 0.4 * 0.9 * 0.8 + 0.6 * 0.2 * 0.1
    assert c.value == pytest.approx(math.log(p1 * p2 / both), abs=EXACT)
    assert c.value < 0
    assert c.answers == () and c.answers_value == 0.0


def test_copy_and_anti_copy_conflict() -> None:
    """B copies A, C is A's opposite: B = yes and C = yes are surprising together.
    P(b) = P(c) = 0.5, P(b, c) = 0.5*0.95*0.05 + 0.5*0.05*0.95."""
    engine = one_cause(0.5, {"b": (0.95, 0.05), "c": (0.05, 0.95)})
    c = measure_conflict(engine, {"b": "yes", "c": "yes"})
    expected = math.log(0.5 * 0.5 / (0.5 * 0.95 * 0.05 + 0.5 * 0.05 * 0.95))
    assert c.value == pytest.approx(expected, abs=EXACT)
    assert c.value > 0
    assert set(c.answers) == {"b", "c"} and len(c.answers) == 2
    assert c.answers_value == pytest.approx(expected, abs=EXACT)


def test_the_most_conflicting_pair_is_named() -> None:
    """Of four answers, (b, c) conflict most, (b, d) less, (c, d) agree and e is unrelated:
    the pair named is (b, c) with its own conflict; the total is the plain-arithmetic one."""
    children = {"b": (0.9, 0.1), "c": (0.1, 0.9), "d": (0.3, 0.6)}
    engine = yes_no_engine(
        {"a": (), "b": ("a",), "c": ("a",), "d": ("a",), "e": ()},
        {"a": root(0.5), **{k: child(*p) for k, p in children.items()}, "e": root(0.2)},
    )
    evidence = {"b": "yes", "c": "yes", "d": "yes", "e": "yes"}
    c = measure_conflict(engine, evidence)
    pairs = {
        pair: conflict_by_hand(0.5, children, pair)
        for pair in itertools.combinations(["b", "c", "d"], 2)
    }
    assert max(pairs, key=pairs.__getitem__) == ("b", "c")
    assert pairs[("b", "d")] > 0 > pairs[("c", "d")]
    assert c.value == pytest.approx(conflict_by_hand(0.5, children, ["b", "c", "d"]), abs=EXACT)
    assert set(c.answers) == {"b", "c"}
    assert c.answers_value == pytest.approx(pairs[("b", "c")], abs=EXACT)


def test_the_pair_is_named_even_when_all_conflict_more() -> None:
    """A pair conflicts ((b, c) most), and all three answers conflict more than it: the
    answers named are still that pair, with the pair's own conflict."""
    children = {"b": (0.9, 0.1), "c": (0.2, 0.8), "d": (0.25, 0.6)}
    engine = one_cause(0.3, children)
    pairs = {
        pair: conflict_by_hand(0.3, children, pair)
        for pair in itertools.combinations(["b", "c", "d"], 2)
    }
    total = conflict_by_hand(0.3, children, ["b", "c", "d"])
    assert max(pairs, key=pairs.__getitem__) == ("b", "c")
    assert total > pairs[("b", "c")] > 0
    c = measure_conflict(engine, {"b": "yes", "c": "yes", "d": "yes"})
    assert c.value == pytest.approx(total, abs=EXACT)
    assert set(c.answers) == {"b", "c"} and len(c.answers) == 2
    assert c.answers_value == pytest.approx(pairs[("b", "c")], abs=EXACT)


def xor_like(with_d: bool) -> Engine:
    """A -> B (0.6 / 0.4); C (and D, a second child alike) of A and B: yes with 0.1 when both
    hold, 0.9 with one, never with neither."""
    table = np.zeros((2, 2, 2))
    table[0] = [[0.1, 0.9], [0.9, 0.0]]  # P(yes | a, b), a on rows
    table[1] = 1 - table[0]
    parents = {"a": (), "b": ("a",), "c": ("a", "b")}
    tables = {"a": root(0.5), "b": child(0.6, 0.4), "c": table}
    if with_d:
        parents["d"], tables["d"] = ("a", "b"), table
    return yes_no_engine(parents, tables)


def test_a_set_conflicts_where_no_pair_does() -> None:
    """A -> B (0.6 / 0.4), and C depends on both: unlikely when both hold (0.1), likely with one
    (0.9), never with neither. Every pair agrees (conflict < 0), all three conflict:
    P(a) = P(b) = 0.5, P(a, b) = 0.3, P(c) = 0.3*0.1 + 0.2*0.9 + 0.2*0.9 = 0.39,
    P(a, c) = P(b, c) = 0.3*0.1 + 0.2*0.9 = 0.21, P(a, b, c) = 0.03."""
    engine = xor_like(with_d=False)
    for x, y, p_xy in [(0.5, 0.5, 0.3), (0.5, 0.39, 0.21), (0.5, 0.39, 0.21)]:
        assert math.log(x * y / p_xy) < 0  # each pair agrees
    c = measure_conflict(engine, {"a": "yes", "b": "yes", "c": "yes"})
    expected = math.log(0.5 * 0.5 * 0.39 / 0.03)
    assert c.value == pytest.approx(expected, abs=EXACT)
    assert set(c.answers) == {"a", "b", "c"} and len(c.answers) == 3
    assert c.answers_value == pytest.approx(expected, abs=EXACT)


def test_the_smallest_conflicting_set_is_named() -> None:
    """With D alike C (a second child of A and B): every pair agrees, (a, b, c) and (a, b, d)
    conflict, all four conflict more. A smallest conflicting set is named (three answers),
    with its own conflict: P(a) = P(b) = 0.5, P(c) = P(d) = 0.39, P(a, b, c) = 0.03,
    P(c, d) = 0.3*0.01 + 0.2*0.81 + 0.2*0.81, P(a, b, c, d) = 0.3*0.01."""
    engine = xor_like(with_d=True)
    assert math.log(0.39 * 0.39 / (0.3 * 0.01 + 0.2 * 0.81 * 2)) < 0  # c and d agree
    c = measure_conflict(engine, {"a": "yes", "b": "yes", "c": "yes", "d": "yes"})
    assert c.value == pytest.approx(math.log(0.5 * 0.5 * 0.39 * 0.39 / (0.3 * 0.01)), abs=EXACT)
    assert set(c.answers) in ({"a", "b", "c"}, {"a", "b", "d"}) and len(c.answers) == 3
    assert c.answers_value == pytest.approx(math.log(0.5 * 0.5 * 0.39 / 0.03), abs=EXACT)


def test_soft_answers() -> None:
    """A soft answer counts as P(e_i) = sum_x P(x) L(x), and P(e) weighs the joint by the
    likelihoods: A (0.3), B | A (0.8 / 0.1), likelihoods on A of 0.9 (yes) and 0.2 (no)."""
    engine = one_cause(0.3, {"b": (0.8, 0.1)})
    lik = {"yes": 0.9, "no": 0.2}
    c = measure_conflict(engine, {"b": "yes"}, {"a": lik})
    p_a = 0.3 * 0.9 + 0.7 * 0.2
    p_b = 0.3 * 0.8 + 0.7 * 0.1
    both = 0.3 * 0.9 * 0.8 + 0.7 * 0.2 * 0.1
    assert c.value == pytest.approx(math.log(p_a * p_b / both), abs=EXACT)

    soft_b = {"yes": 0.25, "no": 1.5}  # both soft, and b's likelihoods favour "no"
    c = measure_conflict(engine, {}, {"a": lik, "b": soft_b})
    p_b = 0.3 * (0.8 * 0.25 + 0.2 * 1.5) + 0.7 * (0.1 * 0.25 + 0.9 * 1.5)
    both = 0.3 * 0.9 * (0.8 * 0.25 + 0.2 * 1.5) + 0.7 * 0.2 * (0.1 * 0.25 + 0.9 * 1.5)
    assert c.value == pytest.approx(math.log(p_a * p_b / both), abs=EXACT)
    assert c.value > 0  # a likely yes, b likely no: they disagree
    assert set(c.answers) == {"a", "b"}


def test_uninformative_answers_add_nothing() -> None:
    """An answer equally likely under every parent state (a trial not tried: 0.4 in every
    column; or a soft answer with the same likelihood for every state) adds exactly 0."""
    trial = np.array([[0.4, 0.4], [0.5, 0.1], [0.1, 0.5]])  # not_tried, improved, no_change
    engine = Engine(
        {"a": YES_NO, "b": YES_NO, "c": YES_NO, "t": ["not_tried", "improved", "no_change"]},
        {"a": (), "b": ("a",), "c": ("a",), "t": ("a",)},
        {"a": root(0.5), "b": child(0.95, 0.05), "c": child(0.05, 0.95), "t": trial},
    )
    base = measure_conflict(engine, {"b": "yes", "c": "yes"})
    for evidence, soft in [
        ({"b": "yes", "c": "yes", "t": "not_tried"}, None),
        ({"b": "yes"}, {"c": {"yes": 1.0, "no": 1.0}} | {"a": {"yes": 0.3, "no": 0.3}}),
    ]:
        c = measure_conflict(engine, evidence, soft)
        if soft is None:
            assert c.value == pytest.approx(base.value, abs=EXACT)
            assert set(c.answers) == {"b", "c"}
            assert c.answers_value == pytest.approx(base.answers_value, abs=EXACT)
        else:  # c answered with no information and a constant likelihood on a
            assert c.value == pytest.approx(0.0, abs=EXACT)
            assert c.answers == ()


# --- random networks against the oracle ------------------------------------------------------


MARGIN = 1e-8  # conflicts this close to 0 (or to each other) are left to rounding


@settings(max_examples=examples(40), deadline=None)
@given(data=st.data())
def test_conflict_matches_the_oracle(data: st.DataObject) -> None:
    """On random networks and answers, ``value`` is the sum of each answer's log probability
    less the log probability of all (enumerated by the oracle); the pair named is the most
    conflicting when one conflicts; else, when all conflict, the set named conflicts and
    needs each of its answers (no smaller set conflicts); else nothing is named."""
    nodes = data.draw(networks())
    hard, soft = data.draw(answers(nodes))
    oracle = Oracle(nodes)
    assume(oracle.evidence_probability(hard, soft) > 1e-9)
    rows: dict[str, object] = {**hard, **soft}

    def conflict_of(names: tuple[str, ...]) -> float:
        def p(chosen: tuple[str, ...]) -> float:
            return oracle.evidence_probability(
                {v: hard[v] for v in chosen if v in hard},
                {v: soft[v] for v in chosen if v in soft},
            )

        return sum(math.log(p((v,))) for v in names) - math.log(p(names))

    c = measure_conflict(engine_of(nodes), hard, soft)
    names = tuple(rows)
    assert c.value == pytest.approx(conflict_of(names) if len(names) > 1 else 0.0, abs=1e-9)
    pairs = sorted(
        ((conflict_of(pair), pair) for pair in itertools.combinations(names, 2)), reverse=True
    )
    if pairs and pairs[0][0] > MARGIN:
        if len(pairs) == 1 or pairs[1][0] < pairs[0][0] - MARGIN:
            assert set(c.answers) == set(pairs[0][1])
        assert len(c.answers) == 2  # a pair, even when all the answers conflict more
        assert c.answers_value == pytest.approx(pairs[0][0], abs=1e-9)
        assert c.answers_value == pytest.approx(conflict_of(c.answers), abs=1e-9)
    elif all(value < -MARGIN for value, _ in pairs):
        if c.value < -MARGIN:
            assert c.answers == () and c.answers_value == 0.0
        elif c.value > MARGIN:
            assert len(c.answers) >= 3 and set(c.answers) <= set(names)
            assert c.answers_value == pytest.approx(conflict_of(c.answers), abs=1e-9)
            assert c.answers_value > 0
            for k in range(len(c.answers)):  # every answer is needed
                rest = c.answers[:k] + c.answers[k + 1 :]
                assert conflict_of(rest) <= MARGIN
            if len(names) <= 6:  # and no smaller set of the answers conflicts
                for size in range(3, len(c.answers)):
                    for subset in itertools.combinations(names, size):
                        assert conflict_of(subset) <= MARGIN

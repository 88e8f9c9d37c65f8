"""Question ranking: information gain and largest change against brute force, and the rules of
the real model's ranking (trials, answered questions, cost, order)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_engine import (
    Hard,
    Soft,
    examples,
    model_evidence,
    net_states,
    networks,
    subsets,
    weighted_joint,
)

from model import CrampModel, ImpossibleEvidenceError
from model.diagnosis.questions import candidate_questions, informative_states, rank_questions
from model.inference.engine import Engine
from model.inference.information import question_values

TRIALS = ["calcium_trial", "magnesium_trial", "electrolyte_trial"]


# --- brute force on small random networks -------------------------------------------------------


def entropy_bits(p: np.ndarray) -> float:
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def pair_marginal(joint: np.ndarray, a: int, b: int) -> np.ndarray:
    """P(a, b) from an (unnormalised) joint, axes (a, b), normalised."""
    others = tuple(k for k in range(joint.ndim) if k not in (a, b))
    pair = joint.sum(axis=others)
    pair = pair if a < b else pair.T
    return pair / pair.sum()


def brute_force(
    joint: np.ndarray, names: list[str], question: str, targets: list[str]
) -> tuple[float, float]:
    """Summed I(Q; T_i | E) in bits and max |P(t | E, q) - P(t | E)|, from the joint of E."""
    q = names.index(question)
    info, change = 0.0, 0.0
    for target in targets:
        pair = pair_marginal(joint, names.index(target), q)  # axes (target, question)
        p_t, p_q = pair.sum(axis=1), pair.sum(axis=0)
        info += entropy_bits(p_t) + entropy_bits(p_q) - entropy_bits(pair.ravel())
        for k, weight in enumerate(p_q):
            if weight > 0:
                change = max(change, float(np.abs(pair[:, k] / weight - p_t).max()))
    return info, change


@st.composite
def question_setups(draw: st.DrawFn) -> tuple[object, list[str], list[str], Hard, Soft]:
    """A small network without zeros, 1-3 targets, evidence elsewhere, the rest candidates."""
    net = draw(networks(min_nodes=3, max_nodes=7, zeros=False))
    states = net_states(net)
    names = list(states)
    n_targets = draw(st.integers(1, min(3, len(names) - 1)))
    targets = draw(subsets(names, n_targets))
    rest = [v for v in names if v not in targets]
    observed = draw(subsets(rest, draw(st.integers(0, len(rest) - 1))))
    n_soft = draw(st.integers(0, min(1, len(observed))))
    hard = {v: draw(st.sampled_from(states[v])) for v in observed[n_soft:]}
    likelihood = st.floats(min_value=1e-2, max_value=50.0, allow_nan=False)
    soft = {v: {s: draw(likelihood) for s in states[v]} for v in observed[:n_soft]}
    candidates = [v for v in rest if v not in observed]
    return net, targets, candidates, hard, soft


@settings(max_examples=examples(60))
@given(setup=question_setups())
def test_info_gain_and_max_change_match_brute_force(
    setup: tuple[object, list[str], list[str], Hard, Soft],
) -> None:
    net, targets, candidates, hard, soft = setup
    names, joint = weighted_joint(net, hard, soft)
    engine = Engine.from_network(net)
    values = question_values(engine, {**hard, **soft}, targets=targets, candidates=candidates)
    assert [r.variable for r in values] == candidates
    for result in values:
        info, change = brute_force(joint, names, result.variable, targets)
        assert result.info_gain == pytest.approx(info, abs=1e-9), result.variable
        assert result.max_change == pytest.approx(change, abs=1e-9), result.variable
        detail = result.max_change_detail
        if detail is not None:
            assert abs(detail.after - detail.before) == pytest.approx(change, abs=1e-12)
            assert detail.target in targets


def test_a_question_independent_of_the_targets_gains_nothing() -> None:
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.models import DiscreteBayesianNetwork

    net = DiscreteBayesianNetwork()
    net.add_nodes_from(["t", "q"])
    two = ["s0", "s1"]
    net.add_cpds(
        TabularCPD("t", 2, [[0.3], [0.7]], state_names={"t": two}),
        TabularCPD("q", 2, [[0.6], [0.4]], state_names={"q": two}),
    )
    (result,) = question_values(Engine.from_network(net), {}, targets=["t"], candidates=["q"])
    assert result.info_gain == pytest.approx(0.0, abs=1e-12)
    assert result.max_change == pytest.approx(0.0, abs=1e-12)


# --- the real model ---------------------------------------------------------------------------

EVIDENCE_SETS: list[tuple[Hard, Soft]] = [
    ({}, {}),
    ({"leg_cramp_side": "left", "nocturnal_cramps": "yes"}, {}),
    (
        {"leg_cramp_side": "right", "calcium_trial": "no_change"},
        {"strenuous_exercise": {"yes": 3, "no": 1}},
    ),
    ({"magnesium_trial": "improved", "female": "yes", "restless_legs": "yes"}, {}),
]


def cause_entropy(posterior: dict[str, dict[str, float]]) -> float:
    return sum(entropy_bits(np.array(list(d.values()))) for d in posterior.values())


@pytest.mark.parametrize(("hard", "soft"), EVIDENCE_SETS)
def test_trials_are_scored_over_their_informative_outcomes(
    model: CrampModel, hard: Hard, soft: Soft
) -> None:
    engine, causes = model.engine, model.causes
    ranked = {r.variable: r for r in rank_questions(model, hard, soft)}
    before = cause_entropy(engine.posteriors(causes, hard, soft))
    for trial in TRIALS:
        if trial in hard:
            continue
        outcomes = informative_states(model.priors, trial)
        assert "not_tried" not in outcomes
        assert outcomes == [s for s in engine.states[trial] if s != "not_tried"]
        p_answer = engine.posteriors([trial], hard, soft)[trial]
        total = sum(p_answer[s] for s in outcomes)
        expected = sum(
            p_answer[s] / total * cause_entropy(engine.posteriors(causes, {**hard, trial: s}, soft))
            for s in outcomes
        )
        result = ranked[trial]
        assert result.info_gain == pytest.approx(before - expected, abs=1e-9)
        assert result.max_change_detail.answer in outcomes
        # "not tried" itself moves no cause: the trial is uninformative until carried out
        untried = engine.posteriors(causes, {**hard, trial: "not_tried"}, soft)
        baseline = engine.posteriors(causes, hard, soft)
        assert all(
            abs(untried[c][s] - baseline[c][s]) <= 1e-12 for c in causes for s in baseline[c]
        )


@pytest.mark.parametrize(("hard", "soft"), EVIDENCE_SETS)
def test_max_change_skips_normal_states(model: CrampModel, hard: Hard, soft: Soft) -> None:
    for result in rank_questions(model, hard, soft):
        detail = result.max_change_detail
        if detail is None:
            continue
        assert detail.state != model.priors.nodes[detail.target].normal_state
        assert result.max_change == pytest.approx(abs(detail.after - detail.before))
        after = model.engine.posteriors(
            [detail.target], {**hard, result.variable: detail.answer}, soft
        )
        assert after[detail.target][detail.state] == pytest.approx(detail.after, abs=1e-12)


@settings(max_examples=examples(15))
@given(data=st.data())
def test_ranking_rules_on_the_real_model(model: CrampModel, data: st.DataObject) -> None:
    questions = [n for n, s in model.priors.nodes.items() if s.kind in ("context", "finding")]
    hard, soft = data.draw(model_evidence(model, max_hard=5, max_soft=2))
    do = data.draw(st.sampled_from([{}, {"calcium_supplements": "yes"}]))
    hard = {k: a for k, a in hard.items() if k not in do}
    soft = {k: a for k, a in soft.items() if k not in do}
    try:
        model.engine.posteriors(model.causes, hard, soft, do=do)
    except ImpossibleEvidenceError:
        return
    cost_weight = data.draw(st.sampled_from([0.01, 0.05, 0.2]))
    free = rank_questions(model, hard, soft, do=do)
    costly = rank_questions(model, hard, soft, do=do, cost_weight=cost_weight)

    answered = set(hard) | set(soft) | set(do)
    expected = [q for q in questions if q not in answered]
    assert [r.variable for r in free] != [] or not expected
    assert sorted(r.variable for r in free) == sorted(expected)
    assert set(candidate_questions(model.priors, answered)) == set(expected)

    for ranking in (free, costly):
        scores = [r.score for r in ranking]
        # best first; scores within 1e-12 count as tied (ordered by the next keys)
        assert all(a >= b - 1e-12 for a, b in zip(scores, scores[1:], strict=False))
        assert all(r.info_gain >= 0.0 for r in ranking)
        assert all(0.0 <= r.max_change <= 1.0 for r in ranking)

    by_variable = {r.variable: r for r in free}
    for r in costly:
        base = by_variable[r.variable]
        assert r.info_gain == base.info_gain
        assert r.cost == model.priors.nodes[r.variable].cost
        if r.variable in TRIALS:
            assert r.cost in (2.0, 3.0)
        else:
            assert r.cost == 0.0
        assert r.score == pytest.approx(base.score - cost_weight * r.cost, abs=1e-12)
        assert base.score == base.info_gain


def test_cost_weight_can_push_trials_below_free_questions(model: CrampModel) -> None:
    evidence = {"leg_cramp_side": "right", "nocturnal_cramps": "yes"}
    free = rank_questions(model, evidence)
    costly = rank_questions(model, evidence, cost_weight=1.0)
    position = {r.variable: k for k, r in enumerate(costly)}
    best_free_question = min(position[r.variable] for r in free if r.cost == 0)
    assert all(position[t] > best_free_question for t in TRIALS)
    assert all(costly[position[t]].score < 0 for t in TRIALS)

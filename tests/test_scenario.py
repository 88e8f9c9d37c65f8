"""A scenario and its URL form (``model.diagnosis.scenario``): round trips, bad links, soft
answers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model import default_model, diagnose
from model.diagnosis.scenario import (
    B_PREFIX,
    DO_PREFIX,
    PROBABLY_MARK,
    PROBABLY_RATIO,
    Scenario,
    from_query,
    to_query,
)

PRIORS = default_model().priors
NODES = list(PRIORS.nodes)


@st.composite
def scenarios(draw) -> Scenario:
    """Any scenario over the model's own nodes: each node sure, probably, set, or unanswered."""
    chosen = draw(st.lists(st.sampled_from(NODES), unique=True, max_size=12))
    scenario = Scenario()
    for node in chosen:
        state = draw(st.sampled_from(PRIORS.nodes[node].states))
        how = draw(st.sampled_from(["sure", "probably", "do"]))
        scenario = scenario.with_answer(node, state, how=how)
    return scenario


MIXED = Scenario(
    evidence={"leg_cramp_side": "left", "calcium": "low"},
    probably={"nocturnal_cramps": "yes"},
    do={"calcium_supplements": "yes"},
)


def test_to_query_spells_each_kind_of_answer():
    assert to_query(MIXED) == {
        "leg_cramp_side": "left",
        "calcium": "low",
        "nocturnal_cramps": "~yes",
        "do.calcium_supplements": "yes",
    }
    assert to_query(MIXED, B_PREFIX) == {
        "b.leg_cramp_side": "left",
        "b.calcium": "low",
        "b.nocturnal_cramps": "~yes",
        "b.do.calcium_supplements": "yes",
    }
    assert to_query(Scenario()) == {}


def test_round_trip_of_a_and_b_in_one_url():
    b = Scenario(evidence={"female": "yes"}, probably={"calcium_trial": "improved"}, do={})
    b = b.with_answer("magnesium", "low", how="do")
    params = {**to_query(MIXED), **to_query(b, B_PREFIX)}
    a_back, problems_a = from_query(PRIORS, params)
    b_back, problems_b = from_query(PRIORS, params, B_PREFIX)
    assert (a_back, problems_a) == (MIXED, [])
    assert (b_back, problems_b) == (b, [])


def test_bad_ids_and_states_are_reported_and_skipped():
    params = {
        "nocturnal_cramps": "yes",
        "not_a_node": "yes",
        "leg_cramp_side": "middle",
        "toe_cramps": "~perhaps",
        "do.nowhere": "yes",
        "do.calcium_supplements": "sometimes",
        "female": "~no",
        "b.leg_cramp_sid": "left",
        "b.female": "yes",
    }
    scenario, problems = from_query(PRIORS, params)
    assert scenario == Scenario(evidence={"nocturnal_cramps": "yes"}, probably={"female": "no"})
    assert len(problems) == 5
    for key in ("not_a_node", "leg_cramp_side", "toe_cramps", "do.nowhere", "calcium_supplements"):
        assert sum(key in p for p in problems) >= 1, (key, problems)
    assert all(p.startswith("ignored ") for p in problems)
    # the unknown id gets a "did you mean" hint in B's report
    b, problems_b = from_query(PRIORS, params, B_PREFIX)
    assert b == Scenario(evidence={"female": "yes"})
    assert len(problems_b) == 1 and "leg_cramp_side" in problems_b[0]
    # the rest of the scenario still scores
    diagnose(scenario.evidence, scenario.soft_evidence(PRIORS), do=scenario.do)


def test_a_ignores_b_parameters_and_b_ignores_a_parameters():
    params = {"b.female": "yes", "female": "no"}
    assert from_query(PRIORS, params)[0] == Scenario(evidence={"female": "no"})
    assert from_query(PRIORS, params, B_PREFIX)[0] == Scenario(evidence={"female": "yes"})
    assert from_query(PRIORS, {}) == (Scenario(), [])


def test_with_answer_moves_an_answer_between_kinds_and_clears_it():
    s = Scenario()
    s1 = s.with_answer("female", "yes")
    assert s1 == Scenario(evidence={"female": "yes"}) and s == Scenario()  # a copy
    s2 = s1.with_answer("female", "no", how="probably")
    assert s2 == Scenario(probably={"female": "no"})
    s3 = s2.with_answer("female", "yes", how="do")
    assert s3 == Scenario(do={"female": "yes"})
    assert s3.with_answer("female", None) == Scenario()
    assert s1 == Scenario(evidence={"female": "yes"})  # still unchanged
    both = s1.with_answer("toe_cramps", "yes", how="probably")
    assert both.answered() == {"female", "toe_cramps"}
    with pytest.raises(KeyError):
        s.with_answer("female", "yes", how="maybe")


def test_probably_is_a_likelihood_ratio():
    s = Scenario(probably={"leg_cramp_side": "left", "nocturnal_cramps": "no"})
    soft = s.soft_evidence(PRIORS)
    assert soft["leg_cramp_side"] == {
        "none": 1.0,
        "left": PROBABLY_RATIO,
        "right": 1.0,
        "both": 1.0,
    }
    assert soft["nocturnal_cramps"] == {"yes": 1.0, "no": PROBABLY_RATIO}
    assert PROBABLY_RATIO > 1
    # scaling every likelihood changes nothing: only the ratio matters
    scaled = {v: {k: 2.5 * x for k, x in d.items()} for v, d in soft.items()}
    p1 = diagnose({}, soft).posterior
    p2 = diagnose({}, scaled).posterior
    for cause, dist in p1.items():
        for state, value in dist.items():
            assert p2[cause][state] == pytest.approx(value, abs=1e-12)
    # a "probably" answer moves less than the sure one, in the same direction
    prior = diagnose({}).posterior["calcium"]["low"]
    sure = diagnose({"leg_cramp_side": "left"}).posterior["calcium"]["low"]
    soft_one = diagnose({}, Scenario(probably={"leg_cramp_side": "left"}).soft_evidence(PRIORS))
    assert prior < soft_one.posterior["calcium"]["low"] < sure


def test_case_form_keeps_every_answer():
    case = MIXED.to_case(PRIORS)
    assert case == {
        "evidence": {"leg_cramp_side": "left", "calcium": "low"},
        "soft_evidence": {"nocturnal_cramps": {"yes": PROBABLY_RATIO, "no": 1.0}},
        "do": {"calcium_supplements": "yes"},
    }
    assert Scenario().to_case(PRIORS) == {"evidence": {}}


@settings(max_examples=60, deadline=None)
@given(a=scenarios(), b=scenarios())
def test_url_round_trip_of_any_scenario(a, b):
    params = {**to_query(a), **to_query(b, B_PREFIX)}
    assert all(isinstance(v, str) for v in params.values())
    assert all(not k.startswith(B_PREFIX) for k in to_query(a))
    assert from_query(PRIORS, params) == (a, [])
    assert from_query(PRIORS, params, B_PREFIX) == (b, [])
    for key, value in to_query(a).items():
        bare = key.removeprefix(DO_PREFIX)
        assert bare in a.answered()
        assert value.removeprefix(PROBABLY_MARK) in PRIORS.nodes[bare].states


def test_a_node_given_twice_keeps_the_first_and_reports_the_second():
    params = {"female": "yes", "do.female": "no", "b.do.toe_cramps": "yes", "b.toe_cramps": "~no"}
    a, problems = from_query(PRIORS, params)
    assert a == Scenario(evidence={"female": "yes"})
    assert len(problems) == 1 and problems[0].startswith("ignored do.female=no: ")
    b, problems_b = from_query(PRIORS, params, B_PREFIX)
    assert b == Scenario(do={"toe_cramps": "yes"})
    assert len(problems_b) == 1 and problems_b[0].startswith("ignored b.toe_cramps=no: ")

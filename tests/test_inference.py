"""Inference: crampnet's posteriors against pyAgrum, exports, evidence handling and properties."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pyagrum as gum
import pytest
from conftest import DIAGNOSIS_KEYS, fill_pyagrum_cpt, subsets
from hypothesis import event, given
from hypothesis import strategies as st

from model import (
    CrampModel,
    EvidenceError,
    ImpossibleEvidenceError,
    UnknownStateError,
    UnknownVariableError,
    diagnose,
)
from model.inference.evidence import Posteriors
from model.knowledge.network import export_network
from tests.oracles.reference import PgmpyEngine

# The deterministic leg-side cluster is where zero probabilities live: draw from it often.
LEG_CLUSTER = ["leg_cramp_side", "left_leg_cramps", "right_leg_cramps"]
TRIALS = ["calcium_trial", "magnesium_trial", "electrolyte_trial"]
NUTRIENTS = ["calcium", "magnesium", "sodium", "potassium", "iron", "folate", "biotin"]

Hard = dict[str, str]
Soft = dict[str, dict[str, float]]


@st.composite
def evidence_sets(
    draw: st.DrawFn,
    model: CrampModel,
    nodes: list[str] | None = None,
    max_hard: int = 8,
    max_soft: int = 3,
) -> tuple[Hard, Soft]:
    """0-``max_hard`` hard answers and 0-``max_soft`` soft ones, from each node's own states."""
    states = {n: spec.states for n, spec in model.priors.nodes.items()}
    pool = sorted(nodes if nodes is not None else states)
    favoured = [n for n in LEG_CLUSTER if nodes is None]
    rest = [n for n in pool if n not in favoured]
    n_favoured = draw(st.integers(0, min(len(favoured), max_hard)))
    hard_vars = draw(subsets(favoured, n_favoured))
    hard_vars += draw(subsets(rest, draw(st.integers(0, min(len(rest), max_hard - n_favoured)))))
    hard = {v: draw(st.sampled_from(states[v])) for v in hard_vars}
    others = [n for n in pool if n not in hard]
    soft: Soft = {}
    if max_soft and others:
        soft_vars = draw(subsets(others, draw(st.integers(0, min(len(others), max_soft)))))
        likelihood = st.floats(min_value=1e-3, max_value=100.0, allow_nan=False)
        soft = {v: {s: draw(likelihood) for s in states[v]} for v in soft_vars}
    return hard, soft


def pyagrum_posteriors(
    bn: gum.BayesNet, targets: list[str], hard: Hard, soft: Soft
) -> Posteriors | None:
    """pyAgrum's marginals of the targets, or None when it finds the evidence impossible.

    Impossible means pyAgrum raised ``IncompatibleEvidence`` or reports P(evidence) = 0 (it does
    not raise when the zero is a constant factor: every variable of a table observed).
    """
    ie = gum.LazyPropagation(bn)
    evidence: dict[str, object] = dict(hard)
    for var, lik in soft.items():
        evidence[var] = [lik[label] for label in bn.variable(var).labels()]
    try:
        ie.setEvidence(evidence)
        ie.makeInference()
        if ie.evidenceProbability() <= 0.0:
            return None
        return {t: {s: ie.posterior(t)[{t: s}] for s in bn.variable(t).labels()} for t in targets}
    except gum.IncompatibleEvidence:
        return None


def max_abs_diff(a: Posteriors, b: Posteriors) -> float:
    assert a.keys() == b.keys()
    return max(abs(a[v][s] - b[v][s]) for v in a for s in a[v])


# --- against pyAgrum ---------------------------------------------------------------------------


@given(data=st.data())
def test_posteriors_agree_with_pyagrum(
    model: CrampModel, pyagrum_net: gum.BayesNet, data: st.DataObject
) -> None:
    hard, soft = data.draw(evidence_sets(model))
    expected = pyagrum_posteriors(pyagrum_net, model.causes, hard, soft)
    try:
        got = model.engine.posteriors(model.causes, hard, soft)
    except ImpossibleEvidenceError:
        assert expected is None, f"crampnet says impossible, pyAgrum does not: {hard} {soft}"
        event("impossible evidence")
        return
    assert expected is not None, f"pyAgrum says impossible, crampnet answered: {hard} {soft}"
    event("possible evidence")
    assert max_abs_diff(got, expected) <= 1e-9


def test_fully_observed_conflict_raises(model: CrampModel) -> None:
    evidence = {"left_leg_cramps": "yes", "right_leg_cramps": "no", "leg_cramp_side": "both"}
    with pytest.raises(ImpossibleEvidenceError):
        model.engine.posteriors(model.causes, evidence)


def test_prior_agrees_with_pyagrum(model: CrampModel, pyagrum_net: gum.BayesNet) -> None:
    expected = pyagrum_posteriors(pyagrum_net, model.causes, {}, {})
    assert expected is not None
    assert max_abs_diff(model.prior, expected) <= 1e-12


@given(data=st.data())
def test_diagnose_posteriors_are_distributions(model: CrampModel, data: st.DataObject) -> None:
    hard, soft = data.draw(evidence_sets(model))
    try:
        result = diagnose(hard, soft, model=model)
    except ImpossibleEvidenceError:
        return
    for dist in result.posterior.values():
        assert all(0.0 <= p <= 1.0 and math.isfinite(p) for p in dist.values())
        assert sum(dist.values()) == pytest.approx(1.0, abs=1e-9)


# --- export round trips ----------------------------------------------------------------------

EXPORT_EVIDENCE: list[tuple[Hard, Soft]] = [
    ({}, {}),
    ({"leg_cramp_side": "left", "calcium_trial": "improved"}, {}),
    (
        {"leg_cramp_side": "right", "nocturnal_cramps": "yes"},
        {"low_fluid_intake": {"yes": 3, "no": 1}},
    ),
    ({"calcium": "high", "restless_legs": "yes", "dialysis": "no"}, {}),
]
NUMBER = re.compile(r"(?<![\w.])\d+\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+")
# pyAgrum suffix for each export format (pyAgrum picks its reader by extension)
SUFFIX = {"bif": ".bif", "xmlbif": ".bifxml"}


@pytest.fixture(scope="module")
def exported(model: CrampModel, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("export")
    return {
        fmt: export_network(model.network, out / f"crampnet{suffix}", fmt)
        for fmt, suffix in SUFFIX.items()
    }


@pytest.mark.parametrize("fmt", SUFFIX)
def test_export_writes_every_number_exactly(
    model: CrampModel, exported: dict[str, Path], fmt: str
) -> None:
    # pgmpy writes Python's shortest round-trip repr (up to 17 significant digits, e.g.
    # 0.31949279999999997), so the file format itself loses nothing: every table entry parses
    # back to the identical double. The 1e-9 tolerances below are therefore format-safe.
    written = {float(tok) for tok in NUMBER.findall(exported[fmt].read_text())}
    values = {float(v) for cpd in model.network.get_cpds() for v in np.ravel(cpd.values)}
    missing = {v for v in values if v not in written and v not in (0.0, 1.0)}
    assert not missing, sorted(missing)[:5]


@pytest.mark.parametrize("fmt", SUFFIX)
def test_export_read_back_by_pgmpy(model: CrampModel, exported: dict[str, Path], fmt: str) -> None:
    from pgmpy.models import DiscreteBayesianNetwork

    loaded = DiscreteBayesianNetwork.load(str(exported[fmt]), filetype=fmt)
    for cpd in model.network.get_cpds():
        back = loaded.get_cpds(cpd.variable)
        assert back.variables == cpd.variables
        assert {v: list(s) for v, s in back.state_names.items()} == cpd.state_names
        np.testing.assert_array_equal(back.values, cpd.values)
    engine = PgmpyEngine(loaded)
    for hard, soft in EXPORT_EVIDENCE:
        expected = model.engine.posteriors(model.causes, hard, soft)
        assert max_abs_diff(engine.posteriors(model.causes, hard, soft), expected) <= 1e-9


# pyAgrum's BIF parser keeps only single precision (measured: every entry equals float32 of the
# written number, at most 3e-8 off), although the file has 17 digits; its XMLBIF parser is exact.
PYAGRUM_TOLERANCE = {"bif": 1e-6, "xmlbif": 1e-9}


@pytest.mark.parametrize("fmt", SUFFIX)
def test_export_read_back_by_pyagrum(
    model: CrampModel, pyagrum_net: gum.BayesNet, exported: dict[str, Path], fmt: str
) -> None:
    loaded = gum.loadBN(str(exported[fmt]))
    assert set(loaded.names()) == set(pyagrum_net.names())
    for cpd in model.network.get_cpds():
        reference = gum.Tensor(loaded.cpt(cpd.variable))
        fill_pyagrum_cpt(reference, cpd)
        entry_tolerance = 0.0 if fmt == "xmlbif" else 3.0 * np.finfo(np.float32).eps
        np.testing.assert_allclose(
            loaded.cpt(cpd.variable).toarray(), reference.toarray(), rtol=entry_tolerance, atol=0
        )
    for hard, soft in EXPORT_EVIDENCE:
        expected = model.engine.posteriors(model.causes, hard, soft)
        got = pyagrum_posteriors(loaded, model.causes, hard, soft)
        assert got is not None
        assert max_abs_diff(got, expected) <= PYAGRUM_TOLERANCE[fmt]


# --- not_tried carries no information ----------------------------------------------------------


@given(data=st.data())
def test_not_tried_is_uninformative(model: CrampModel, data: st.DataObject) -> None:
    others = [n for n in model.priors.nodes if n not in TRIALS]
    hard, soft = data.draw(evidence_sets(model, nodes=others))
    with_trials = {**hard, **dict.fromkeys(TRIALS, "not_tried")}
    try:
        before = model.engine.posteriors(model.causes, hard, soft)
    except ImpossibleEvidenceError:
        with pytest.raises(ImpossibleEvidenceError):
            model.engine.posteriors(model.causes, with_trials, soft)
        return
    after = model.engine.posteriors(model.causes, with_trials, soft)
    assert max_abs_diff(before, after) <= 1e-12


# --- impossible and malformed evidence ---------------------------------------------------------


def test_impossible_evidence_names_the_conflict(model: CrampModel) -> None:
    evidence = {"leg_cramp_side": "none", "left_leg_cramps": "yes"}
    with pytest.raises(ImpossibleEvidenceError) as info:
        diagnose(evidence, model=model)
    assert info.value.conflict == evidence
    # the conflict stays the smallest one when unrelated answers come along
    with pytest.raises(ImpossibleEvidenceError) as info:
        diagnose({**evidence, "female": "yes", "nocturnal_cramps": "yes"}, model=model)
    assert info.value.conflict == evidence


def test_impossible_soft_evidence_raises(model: CrampModel) -> None:
    soft = {"leg_cramp_side": {"none": 1.0, "left": 0.0, "right": 0.0, "both": 0.0}}
    with pytest.raises(ImpossibleEvidenceError) as info:
        diagnose({"left_leg_cramps": "yes"}, soft, model=model)
    assert set(info.value.conflict) == {"leg_cramp_side", "left_leg_cramps"}


def test_unknown_variable_suggests_close_ids(model: CrampModel) -> None:
    with pytest.raises(UnknownVariableError) as info:
        diagnose({"leg_cramp_sid": "left"}, model=model)
    assert info.value.suggestions[0] == "leg_cramp_side"
    assert "leg_cramp_side" in str(info.value)
    with pytest.raises(UnknownVariableError) as info:
        diagnose(None, {"calcum": {"low": 1, "normal": 1, "high": 1}}, model=model)
    assert "calcium" in info.value.suggestions


def test_unknown_state_lists_valid_states(model: CrampModel) -> None:
    with pytest.raises(UnknownStateError) as info:
        diagnose({"leg_cramp_side": "middle"}, model=model)
    assert info.value.valid == ["none", "left", "right", "both"]
    assert all(s in str(info.value) for s in info.value.valid)
    with pytest.raises(UnknownStateError):
        diagnose(None, {"female": {"yes": 1, "maybe": 1, "no": 1}}, model=model)


@pytest.mark.parametrize(
    "soft",
    [
        {"female": {"yes": 0.5}},  # a state missing
        {"female": {"yes": -0.1, "no": 1.0}},  # negative
        {"female": {"yes": 0.0, "no": 0.0}},  # all zero
        {"female": {"yes": math.nan, "no": 1.0}},  # not finite
        {"female": 0.7},  # not a mapping
    ],
    ids=["missing", "negative", "all-zero", "nan", "not-a-mapping"],
)
def test_malformed_soft_evidence(model: CrampModel, soft: Soft) -> None:
    with pytest.raises(EvidenceError):
        diagnose(None, soft, model=model)


def test_hard_and_soft_on_one_variable(model: CrampModel) -> None:
    with pytest.raises(EvidenceError):
        diagnose({"female": "yes"}, {"female": {"yes": 1, "no": 1}}, model=model)


# --- explanation -------------------------------------------------------------------------------


def test_explanation_contributions_are_leave_one_out(model: CrampModel) -> None:
    hard = {
        "leg_cramp_side": "left",
        "nocturnal_cramps": "yes",
        "blood_thinners": "yes",
        "calcium": "low",
    }
    soft = {"calcium_trial": {"not_tried": 0.1, "improved": 1.0, "no_change": 0.3, "worsened": 0.1}}
    result = diagnose(hard, soft, model=model)
    assert result.explanation
    for (cause, state), entry in result.explanation.items():
        assert entry.posterior == result.posterior[cause][state]
        assert entry.prior == model.prior[cause][state]
        names = {c.variable for c in entry.contributions}
        assert names == (set(hard) | set(soft)) - {cause}
        for c in entry.contributions:
            rest_hard = {k: v for k, v in hard.items() if k != c.variable}
            rest_soft = {k: v for k, v in soft.items() if k != c.variable}
            without = diagnose(rest_hard, rest_soft, model=model).posterior[cause][state]
            assert c.without == pytest.approx(without, abs=1e-12)
            assert c.delta == pytest.approx(entry.posterior - without, abs=1e-12)
            if c.log_odds_change is not None:
                assert np.sign(c.log_odds_change) == np.sign(c.delta)
        deltas = [abs(c.delta) for c in entry.contributions]
        assert deltas == sorted(deltas, reverse=True)


# --- output shape and red flags ----------------------------------------------------------------


def test_to_dict_shape(model: CrampModel) -> None:
    result = diagnose(
        {"neurological_condition": "yes", "leg_cramp_side": "left"},
        {"female": {"yes": 2, "no": 1}},
        model=model,
    )
    out = result.to_dict()
    assert set(out) == set(DIAGNOSIS_KEYS)
    # every abnormal cause state, "cause=state" in priors order, a share of the draws each
    abnormal = model.abnormal_states()
    assert list(out["rank_first"]) == [f"{c}={s}" for c, s in abnormal]
    assert list(out["rank_first"].values()) == [result.rank_first[cs] for cs in abnormal]
    assert all(0.0 <= share <= 1.0 for share in out["rank_first"].values())
    assert sum(out["rank_first"].values()) == pytest.approx(1.0, abs=1e-12)
    assert out["evidence"] == {
        "neurological_condition": "yes",
        "leg_cramp_side": "left",
        "female": {"yes": 2.0, "no": 1.0},
    }
    assert out["red_flags"]
    assert all(set(flag) == {"id", "message"} for flag in out["red_flags"])
    assert set(out["model"]) == {"sha256", "version"}
    assert out["model"]["version"] == model.priors.meta.version
    assert set(out["posterior"]) == set(model.causes)
    assert result.to_json()  # plain JSON all the way down


FLAG_CASES = {
    "neurological": {"neurological_condition": "yes"},
    "cardiovascular": {"leg_cramp_side": "left", "low_potassium_intake": "yes"},
    "bone_density": {
        "leg_cramp_side": "left",
        "nocturnal_cramps": "yes",
        "malabsorption": "yes",
        "calcium_trial": "improved",
    },
    "trauma": {"recent_trauma": "yes", "back_spasms": "yes"},
}


@pytest.mark.parametrize("flag", FLAG_CASES)
def test_red_flag_fires(model: CrampModel, flag: str) -> None:
    raised = [f.id for f in diagnose(FLAG_CASES[flag], model=model).red_flags]
    assert flag in raised


def test_no_red_flag_without_evidence(model: CrampModel) -> None:
    assert diagnose({}, model=model).red_flags == []


def test_cardiovascular_flag_from_posterior(model: CrampModel) -> None:
    # no leg answer: the flag must come from P(potassium = low) > 0.5
    evidence = {
        "low_potassium_intake": "yes",
        "hand_arm_cramps": "yes",
        "cramps_after_exercise": "yes",
        "electrolyte_trial": "improved",
        "potassium": "low",
    }
    assert "cardiovascular" in [f.id for f in diagnose(evidence, model=model).red_flags]


# --- direction properties ----------------------------------------------------------------------


def context_ids(model: CrampModel) -> list[str]:
    return model.priors.ids("context")


def lift(model: CrampModel, background: Hard, extra: Hard, cause: str, state: str) -> float:
    before = model.engine.posteriors([cause], background)[cause][state]
    after = model.engine.posteriors([cause], {**background, **extra})[cause][state]
    return after / before


@given(data=st.data())
def test_left_points_to_calcium_right_to_magnesium(model: CrampModel, data: st.DataObject) -> None:
    background, _ = data.draw(evidence_sets(model, nodes=context_ids(model), max_soft=0))
    left = {"leg_cramp_side": "left"}
    right = {"leg_cramp_side": "right"}
    assert lift(model, background, left, "calcium", "low") > lift(
        model, background, left, "magnesium", "low"
    )
    assert lift(model, background, right, "magnesium", "low") > lift(
        model, background, right, "calcium", "low"
    )


@given(data=st.data())
def test_sleep_starts_do_not_move_nutrients(model: CrampModel, data: st.DataObject) -> None:
    background, _ = data.draw(evidence_sets(model, nodes=context_ids(model), max_soft=0))
    for nutrient in NUTRIENTS:
        abnormal = [s for s in model.priors.nodes[nutrient].states if s != "normal"]
        for state in abnormal:
            ratio = lift(model, background, {"sleep_starts": "yes"}, nutrient, state)
            assert 1 / 1.05 <= ratio <= 1.05, (nutrient, state, ratio)

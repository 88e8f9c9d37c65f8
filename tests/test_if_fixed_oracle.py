"""The built-in model's counterfactual measures against an independent exact computation.

For a cause ``D`` whose present features are all its direct noisy-OR children (and with no
other cause downstream of ``D``), Richens, Lee and Johri's measures are ordinary probabilities
of a network with one table changed, because a noisy-OR feature present in fact and off had
``D`` been normal is exactly one whose only firing activation came from ``D``:

- ``P(s present, s' off | parents) = p_s(parents) - p_s(parents with D normal)``;
- ``P(s present, s' present with D acting alone | parents) = strength of D's link to s``.

So each measure is pgmpy's variable elimination on the pgmpy network with the features'
``yes`` columns replaced: no twin network, no crampnet engine. This checks the vignette the
README tells (night cramps with cramps during and after exercise) and a few more cases.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from model import diagnose
from model.knowledge.schema import NoisyOrCPD

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.inference import VariableElimination

VIGNETTE = {
    "nocturnal_cramps": "yes",
    "cramps_during_exercise": "yes",
    "cramps_after_exercise": "yes",
}
CASES = [
    VIGNETTE,
    {"toe_cramps": "yes", "cramps_when_immobile": "yes", "prolonged_sitting": "no"},
    {"restless_legs": "yes", "nocturnal_cramps": "yes", "neck_spasms": "no"},
    {"back_spasms": "yes", "neck_spasms": "yes", "recent_trauma": "yes"},
]


def _replaced(network, feature: str, column) -> object:
    """A copy of ``network`` whose ``feature`` table has ``column(values, cpd)`` as its
    ``yes`` row (and one minus it as ``no``)."""
    out = network.copy()
    cpd = out.get_cpds(feature)
    values = cpd.get_values().reshape(cpd.cardinality)
    yes = np.asarray(column(values, cpd))
    states = cpd.state_names[feature]
    table = np.empty_like(values)
    table[states.index("yes")] = yes
    table[states.index("no")] = 1.0 - yes
    evidence = cpd.variables[1:]
    out.remove_cpds(cpd)
    out.add_cpds(
        TabularCPD(
            feature,
            2,
            table.reshape(2, -1),
            evidence=evidence or None,
            evidence_card=list(cpd.cardinality[1:]) or None,
            state_names={v: cpd.state_names[v] for v in cpd.variables},
        )
    )
    return out


def _probability(network, evidence: dict[str, str]) -> float:
    """P(evidence) by the chain rule, each factor a variable-elimination query."""
    ve = VariableElimination(network)
    names, total = list(evidence), 1.0
    for i, name in enumerate(names):
        given = {k: evidence[k] for k in names[:i]}
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            factor = ve.query([name], evidence=given or None, show_progress=False)
        total *= float(factor.get_value(**{name: evidence[name]}))
        if not total > 0:  # the answers so far cannot happen (pgmpy normalises 0 to NaN)
            return 0.0
    return total


def _off(values, cpd, cause: str, normal: str) -> np.ndarray:
    """The feature's ``yes`` probabilities with ``cause`` read as its normal state."""
    axis = cpd.variables.index(cause)
    yes = values[cpd.state_names[cpd.variable].index("yes")]
    at = cpd.state_names[cause].index(normal)
    return np.broadcast_to(np.take(yes, [at], axis=axis - 1), yes.shape)


def _link(values, cpd, priors, cause: str) -> np.ndarray:
    """The strength of ``cause``'s link to the feature, per parent configuration."""
    node = priors.nodes[cpd.variable]
    links = node.cpd.links.get(cause, {})
    strength = np.array(
        [links[s]["yes"].p if "yes" in links.get(s, {}) else 0.0 for s in cpd.state_names[cause]]
    )
    shape = [1] * (len(cpd.variables) - 1)
    shape[cpd.variables.index(cause) - 1] = len(strength)
    return np.broadcast_to(strength.reshape(shape), values.shape[1:])


def expected(model, evidence: dict[str, str], cause: str, state: str) -> tuple[float, float, float]:
    """Expected disablement, all-stop probability and expected sufficiency of ``cause=state``
    by variable elimination on networks with changed tables."""
    priors, network = model.priors, model.network
    normal = priors.nodes[cause].normal_state
    present = [f for f in model.counterfactuals.features if evidence.get(f, "no") != "no"]
    total = _probability(network, evidence)
    joint = _probability(network, {**evidence, cause: state})
    disable = stay = 0.0
    all_off = network
    for f in present:
        if cause not in priors.nodes[f].parents:
            all_off = _replaced(all_off, f, lambda v, c: np.zeros(v.shape[1:]))
            continue
        off = _replaced(network, f, lambda v, c: _off(v, c, cause, normal))
        disable += joint - _probability(off, {**evidence, cause: state})
        alone = _replaced(network, f, lambda v, c: _link(v, c, priors, cause))
        stay += _probability(alone, {**evidence, cause: state})
        all_off = _replaced(
            all_off,
            f,
            lambda v, c: v[c.state_names[c.variable].index("yes")] - _off(v, c, cause, normal),
        )
    every = _probability(all_off, {**evidence, cause: state}) if present else 0.0
    return disable / total, every / total, stay / total


def applies(model, cause: str, evidence: dict[str, str]) -> bool:
    """Whether the closed form holds for ``cause``: each of its children that leads to an
    answer is a present noisy-OR feature (no node in between, no cause downstream)."""
    nodes = model.priors.nodes
    present = [f for f in model.counterfactuals.features if evidence.get(f, "no") != "no"]
    reached = set(evidence) | {a for v in evidence for a in model.engine.ancestors(v)}
    return all(
        c in present and isinstance(nodes[c].cpd, NoisyOrCPD)
        for c, spec in nodes.items()
        if cause in spec.parents and c in reached
    )


@pytest.mark.parametrize("evidence", CASES, ids=lambda e: "+".join(e))
def test_if_fixed_matches_variable_elimination(model, evidence):
    result = diagnose(evidence, model=model, draws=2)
    checked = [cs for cs in result.if_fixed if applies(model, cs[0], evidence)]
    for cause, state in checked:
        measure = result.if_fixed[(cause, state)]
        got = (measure.expected_disablement, measure.p_all_stop, measure.expected_sufficiency)
        assert got == pytest.approx(expected(model, evidence, cause, state), abs=1e-9), cause
    assert len(checked) >= 8  # most cause states of the model, the vignette's two included


def test_vignette_rankings_differ(model):
    """The README's vignette: low calcium is the most probable cause, yet exercise overload
    is the one whose fixing would stop the most of what this person reports."""
    result = diagnose(VIGNETTE, model=model, draws=2)
    by_probability = result.ranked()[0]
    by_fixing = result.ranked_if_fixed()[0]
    assert (by_probability["cause"], by_probability["state"]) == ("calcium", "low")
    assert by_fixing == ("exercise_overload", "yes")
    calcium, exercise = result.if_fixed[("calcium", "low")], result.if_fixed[by_fixing]
    assert result.posterior["calcium"]["low"] > result.posterior["exercise_overload"]["yes"]
    assert exercise.expected_disablement > calcium.expected_disablement + 0.1
    for cause, state in (("calcium", "low"), by_fixing):
        want = expected(model, VIGNETTE, cause, state)
        got = result.if_fixed[(cause, state)]
        assert (got.expected_disablement, got.p_all_stop, got.expected_sufficiency) == (
            pytest.approx(want, abs=1e-9)
        )

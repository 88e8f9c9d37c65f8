"""Cautions (``priors/red_flags.yaml``, ``cautions:``): the rules under which a trial may harm.

A trial whose caution holds is never suggested without the caution's words; these tests check
the rules fire on the documented answers and only then, and that a caution naming something
other than a trial is refused at its file and line.
"""

from __future__ import annotations

import pytest
from test_priors_validation import copy_priors, edit, problems_of

from model import default_model
from model.diagnosis.red_flags import flag_targets, raised_cautions

MODEL = default_model()
PRIORS = MODEL.priors


def cautions_for(evidence: dict[str, str]) -> dict[str, list[str]]:
    posterior = MODEL.engine.posteriors(flag_targets(PRIORS), evidence)
    raised = raised_cautions(PRIORS, evidence, posterior)
    return {trial: [c.id for c in cautions] for trial, cautions in raised.items()}


def test_every_caution_is_about_a_trial_and_cites_the_source():
    assert PRIORS.cautions
    for caution in PRIORS.cautions.values():
        node = PRIORS.nodes[caution.trial]
        assert node.kind == "finding" and node.cost > 0
        assert caution.claims and all(c in PRIORS.claims for c in caution.claims)
        assert "source" in caution.message


@pytest.mark.parametrize(
    ("evidence", "expected"),
    [
        ({}, {}),
        ({"knee_grinding": "yes"}, {"calcium_trial": ["calcium_trial_high_calcium"]}),
        (
            {"calcium_supplements": "yes", "low_stomach_acid": "yes"},
            {"calcium_trial": ["calcium_trial_high_calcium"]},
        ),
        ({"calcium_trial": "worsened"}, {"calcium_trial": ["calcium_trial_high_calcium"]}),
        ({"dialysis": "yes"}, {"calcium_trial": ["calcium_trial_kidneys"]}),
        ({"high_phosphate": "yes"}, {"calcium_trial": ["calcium_trial_kidneys"]}),
        (
            {"bicarbonate_loading": "yes"},
            {"electrolyte_trial": ["electrolyte_trial_bicarbonate"]},
        ),
        ({"leg_cramp_side": "left", "nocturnal_cramps": "yes"}, {}),
    ],
)
def test_cautions_hold_on_the_documented_answers_only(evidence, expected):
    assert cautions_for(evidence) == expected


def test_the_high_calcium_caution_follows_its_documented_threshold():
    """It holds exactly when P(calcium = high) is above 0.15 (no other part applies here)."""
    for evidence in ({"knee_grinding": "yes"}, {"knee_grinding": "no"}, {"female": "yes"}):
        p_high = MODEL.engine.posteriors(["calcium"], evidence)["calcium"]["high"]
        assert ("calcium_trial" in cautions_for(evidence)) == (p_high > 0.15)


def test_a_caution_about_something_other_than_a_trial_is_refused(tmp_path):
    directory = copy_priors(tmp_path)
    edit(directory / "red_flags.yaml", "trial: electrolyte_trial", "trial: nocturnal_cramps")
    (problem,) = problems_of(directory)
    assert "red_flags.yaml:" in problem
    assert "cautions.electrolyte_trial_bicarbonate.trial" in problem
    assert "'nocturnal_cramps' is not a trial" in problem

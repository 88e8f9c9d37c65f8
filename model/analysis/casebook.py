"""How well the model's earlier posteriors predicted what the follow-ups showed.

A case book keeps, beside each change of answers, the posterior that was shown then; a later
outcome (a cause confirmed or ruled out by a test) says what was true. For each case with such
an outcome, the posterior stored at the last change of answers before its first outcome is
the prediction, and the outcomes are the truth: the same metrics as ``crampnet evaluate``
(:func:`model.analysis.calibration.evaluate_posteriors`: Brier, log loss, reliability, top-k),
on the predictions people actually saw, whichever model version showed them.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from model.analysis.calibration import N_BINS, Evaluation, evaluate_posteriors
from model.diagnosis.crampmodel import CrampModel
from model.errors import UsageError
from model.readwrite.casebook import Case


def outcome_truth(model: CrampModel, case: Case) -> dict[str, int]:
    """The cause states a case's outcomes establish, as state codes: a confirmed state; the
    normal state of a yes/no cause whose abnormal state was ruled out."""
    truth: dict[str, int] = {}
    for outcome in case.outcomes():
        data = outcome.data
        if data.get("variable") not in model.causes:
            continue
        spec = model.priors.nodes[data["variable"]]
        if data["outcome"] == "confirmed":
            truth[data["variable"]] = spec.states.index(data["state"])
        elif (
            data["outcome"] == "ruled_out"
            and len(spec.states) == 2
            and data["state"] != spec.normal_state
        ):
            truth[data["variable"]] = spec.states.index(spec.normal_state)
    return truth


def prediction(case: Case) -> dict[str, float] | None:
    """The posterior shown at the last change of answers before the case's first outcome."""
    shown = None
    for entry in case.entries:
        if entry.kind == "outcome":
            break
        if entry.kind in ("answers", "set") and entry.posterior is not None:
            shown = entry.posterior
    return shown


def evaluate_casebook(
    model: CrampModel, cases: Iterable[Case], *, n_bins: int = N_BINS
) -> Evaluation:
    """The metrics of the stored earlier posteriors against the outcomes recorded later."""
    causes = model.causes
    posterior = {c: [] for c in causes}
    truth = {c: [] for c in causes}
    for case in cases:
        known = outcome_truth(model, case)
        shown = prediction(case)
        if not known or shown is None:
            continue
        for c in causes:
            spec = model.priors.nodes[c]
            row = np.zeros(len(spec.states))
            for k, s in enumerate(spec.states):
                if s != spec.normal_state:
                    row[k] = float(shown.get(f"{c}={s}", np.nan))
            row[spec.states.index(spec.normal_state)] = 1.0 - np.nansum(row)
            posterior[c].append(row)
            truth[c].append(known.get(c, -1))
    if not any(truth[c] for c in causes):
        raise UsageError(
            "no case in the case book has an outcome (a cause confirmed or ruled out) after a "
            "stored posterior: nothing to evaluate"
        )
    prior = model.prior
    return evaluate_posteriors(
        model.priors,
        {c: np.array(posterior[c]) for c in causes},
        {c: np.array(truth[c]) for c in causes},
        {c: np.array([prior[c][s] for s in model.priors.nodes[c].states]) for c in causes},
        n_bins=n_bins,
    )

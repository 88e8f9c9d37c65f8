"""How well the model's earlier posteriors predicted what the follow-ups showed.

A case book keeps, beside each change of answers, the posterior that was shown then; a later
outcome (a cause confirmed or ruled out by a test) says what was true. For each case with such
an outcome, the posterior stored at the last change of answers before its first outcome is
the prediction, and the outcomes are the truth: the same metrics as ``crampnet evaluate``
(:func:`model.analysis.calibration.evaluate_posteriors`: Brier, log loss, reliability, top-k),
on the predictions people actually saw, whichever model version showed them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import numpy as np

from model.analysis.calibration import N_BINS, Evaluation, evaluate_posteriors
from model.analysis.sampling import sample_codes
from model.diagnosis.casebook import follow_up, save_case
from model.diagnosis.crampmodel import CrampModel
from model.errors import UsageError
from model.readwrite.casebook import Case, CaseBook

START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)  # the synthetic book's first day


def outcome_truth(model: CrampModel, case: Case) -> dict[str, int]:
    """The cause states a case's outcomes establish, as state codes: a confirmed state; the
    normal state of a cause whose every abnormal state was ruled out."""
    truth: dict[str, int] = {}
    ruled: dict[str, set[str]] = {}
    causes = model.priors.nodes
    for outcome in case.outcomes():
        data = outcome.data
        if data.get("variable") not in causes or causes[data["variable"]].kind != "cause":
            continue
        spec = model.priors.nodes[data["variable"]]
        if data["outcome"] == "confirmed":
            truth[data["variable"]] = spec.states.index(data["state"])
        elif data["outcome"] == "ruled_out" and data["state"] != spec.normal_state:
            ruled.setdefault(data["variable"], set()).add(data["state"])
    for cause, states in ruled.items():  # every abnormal state ruled out: the normal one
        spec = model.priors.nodes[cause]
        if cause not in truth and states >= set(spec.states) - {spec.normal_state}:
            truth[cause] = spec.states.index(spec.normal_state)
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


def synthetic_casebook(
    model: CrampModel,
    book: CaseBook,
    n: int,
    *,
    seed: int = 0,
    reveal: float = 0.6,
    tested: int = 2,
) -> int:
    """Fill ``book`` with ``n`` cases sampled from the model, each over three weeks: the
    answers of day 0 (each finding and context answer revealed with probability ``reveal``,
    trials not yet tried), a trial's result a few days later (the sampled result of one trial,
    as a change of answers, with the posterior it gives), and later still ``tested`` causes
    tested (a sampled abnormal state confirmed, or every abnormal state ruled out). The truth
    is the model itself: a calibration check of the pipeline, not of the model against people.
    Returns how many cases were written."""
    rng = np.random.default_rng(seed)
    truth = sample_codes(model.priors, n, seed)
    nodes = model.priors.nodes
    answerable = [
        v for v, spec in nodes.items() if spec.kind in ("context", "finding") and not spec.cost
    ]
    trials = [v for v, spec in nodes.items() if spec.kind == "finding" and spec.cost]
    for i in range(n):
        day0 = START + dt.timedelta(days=int(rng.integers(0, 60)), minutes=int(rng.integers(600)))
        evidence = {v: nodes[v].states[truth[v][i]] for v in answerable if rng.random() < reveal}
        case_id = save_case(model, book, f"synthetic {i + 1}", {"evidence": evidence}, day0)
        trial = trials[int(rng.integers(len(trials)))]
        result = nodes[trial].states[truth[trial][i]]
        later = day0 + dt.timedelta(days=int(rng.integers(2, 5)))
        follow_up(model, book, case_id, changes={trial: result}, at=later)
        outcomes = []
        for cause in rng.choice(model.causes, size=min(tested, len(model.causes)), replace=False):
            spec = nodes[cause]
            state = spec.states[truth[cause][i]]
            if state != spec.normal_state:
                outcomes.append({"outcome": "confirmed", "variable": cause, "state": state})
            else:
                outcomes += [
                    {"outcome": "ruled_out", "variable": cause, "state": s}
                    for s in spec.states
                    if s != spec.normal_state
                ]
        tests_day = later + dt.timedelta(days=int(rng.integers(5, 15)))
        book.update(case_id, outcomes=outcomes, at=tests_day)
    return n

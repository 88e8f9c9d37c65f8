"""Red flags and cautions: rules over the answers and posteriors, in ``priors/red_flags.yaml``.

A caution is the same kind of rule about one trial: when it holds, the trial may harm, and it
is never suggested without the caution's words.

They are shown before any posterior. A flag is raised when any of its conditions holds; a
condition holds when all of its parts do (answers in the listed states, at least one of the
``evidence_any`` answers, a posterior above its documented threshold).

One vectorised rule (:func:`flag_masks`, over state codes and marginal arrays) serves both a
file of cases and a single case (:func:`raised_flags` runs it on one row).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from model.inference.evidence import Evidence, Posteriors
from model.knowledge.priors import Priors
from model.knowledge.schema import Condition, RedFlag


def flag_targets(priors: Priors) -> list[str]:
    """Variables whose posterior some red flag or caution reads."""
    rules = [*priors.red_flags.values(), *priors.cautions.values()]
    return sorted({v for f in rules for c in f.when_any for v in c.posterior})


def _answered_in(
    priors: Priors, codes: Mapping[str, np.ndarray], variable: str, states: list[str], rows: int
) -> np.ndarray:
    """Rows whose answer to ``variable`` is one of ``states`` (unanswered rows: never)."""
    if variable not in codes:
        return np.zeros(rows, dtype=bool)
    valid = priors.nodes[variable].states
    wanted = [valid.index(s) for s in states if s in valid]
    return np.isin(np.asarray(codes[variable]), wanted)


def _holds(
    priors: Priors,
    condition: Condition,
    codes: Mapping[str, np.ndarray],
    marginals: Mapping[str, np.ndarray],
    rows: int,
) -> np.ndarray:
    mask = np.ones(rows, dtype=bool)
    for variable, states in condition.evidence.items():
        mask &= _answered_in(priors, codes, variable, states, rows)
    if condition.evidence_any:
        any_of = np.zeros(rows, dtype=bool)
        for variable, states in condition.evidence_any.items():
            any_of |= _answered_in(priors, codes, variable, states, rows)
        mask &= any_of
    for variable, state in condition.posterior.items():
        k = priors.nodes[variable].states.index(state)
        with np.errstate(invalid="ignore"):  # an impossible row's NaN raises nothing
            mask &= np.asarray(marginals[variable])[:, k] > condition.above
    return mask


def flag_masks(
    priors: Priors,
    codes: Mapping[str, np.ndarray],
    marginals: Mapping[str, np.ndarray],
    rows: int,
    *,
    rules: Mapping[str, RedFlag] | None = None,
) -> dict[str, np.ndarray]:
    """For each flag (file order), which of ``rows`` cases raise it.

    ``codes[v]`` holds each row's state index of ``v`` (``-1`` unanswered; a variable absent
    from ``codes`` is unanswered everywhere); ``marginals[v]`` is ``(rows, n_states)`` for
    every variable of :func:`flag_targets`. A NaN posterior raises no posterior condition.
    ``rules`` are the red flags by default (the cautions go through the same rule).
    """
    rules = priors.red_flags if rules is None else rules
    return {
        flag_id: np.logical_or.reduce(
            [_holds(priors, c, codes, marginals, rows) for c in flag.when_any]
        )
        for flag_id, flag in rules.items()
    }


@dataclass(frozen=True)
class RaisedFlag:
    """A red flag the answers raise: why to see a doctor before reading any probability."""

    id: str
    title: str
    message: str
    claims: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "message": self.message,
            "claims": list(self.claims),
        }


def raised_flags(
    priors: Priors,
    evidence: Evidence,
    posterior: Posteriors,
    *,
    rules: Mapping[str, RedFlag] | None = None,
) -> list[RaisedFlag]:
    """The raised flags in file order: one case run through :func:`flag_masks` (``posterior``
    must hold every :func:`flag_targets` variable); ``rules`` as there."""
    rules = priors.red_flags if rules is None else rules
    codes = {
        v: np.array([priors.nodes[v].states.index(s)])
        for v, s in evidence.items()
        if s in priors.nodes[v].states
    }
    marginals = {
        v: np.array([[posterior[v][s] for s in priors.nodes[v].states]])
        for v in flag_targets(priors)
    }
    masks = flag_masks(priors, codes, marginals, 1, rules=rules)
    return [
        RaisedFlag(flag_id, flag.title, flag.message, tuple(flag.claims))
        for flag_id, flag in rules.items()
        if masks[flag_id][0]
    ]


def raised_cautions(
    priors: Priors, evidence: Evidence, posterior: Posteriors
) -> dict[str, list[RaisedFlag]]:
    """The cautions that hold, by the trial they are about (file order): a trial listed in a
    ranking or an interview is shown with these beside it."""
    out: dict[str, list[RaisedFlag]] = {}
    for raised in raised_flags(priors, evidence, posterior, rules=priors.cautions):
        out.setdefault(priors.cautions[raised.id].trial, []).append(raised)
    return out

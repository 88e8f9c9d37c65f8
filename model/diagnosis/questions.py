"""Which question or trial to try next, for the cramp model: the value of information about
the causes (:mod:`model.inference.information`), with the priors' meaning added.

Candidates are the unanswered context questions, findings and trials; targets are the causes;
a change counts only for abnormal cause states. A trial's "not tried" answer is uninformative
by construction, so a trial is scored as if it were carried out: over its informative outcomes
only. ``score = info_gain - cost_weight * cost``: ``cost`` is the node's effort in days from
``priors/`` (a trial takes days, a question costs nothing); ``cost_weight`` is in bits per
day, 0 by default (pure information).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from model.diagnosis.red_flags import RaisedFlag
from model.inference.information import Change, question_values
from model.knowledge.priors import Priors
from model.knowledge.schema import Node, NoisyOrCPD

if TYPE_CHECKING:
    from model.diagnosis.crampmodel import CrampModel


@dataclass(frozen=True)
class RankedQuestion:
    """One candidate question or trial, with what asking it is expected to tell."""

    variable: str
    label: str
    kind: str  # "context", "finding" or "trial"
    cost: float  # effort in days (0 for a question)
    info_gain: float  # bits about the causes, summed over causes
    max_change: float  # the largest move of any abnormal cause state any answer could bring
    max_change_detail: Change | None  # that answer, cause state, before and after
    top_change: float  # the largest move of the current top cause state
    score: float  # info_gain - cost_weight * cost
    cautions: tuple[RaisedFlag, ...] = ()  # why trying it may harm: never shown without these

    def to_dict(self) -> dict:
        detail = self.max_change_detail
        return {
            "variable": self.variable,
            "label": self.label,
            "kind": self.kind,
            "cost": self.cost,
            "info_gain": self.info_gain,
            "max_change": self.max_change,
            "max_change_detail": None
            if detail is None
            else {
                "answer": detail.answer,
                "cause": detail.target,
                "state": detail.state,
                "before": detail.before,
                "after": detail.after,
            },
            "top_change": self.top_change,
            "score": self.score,
            "cautions": [c.to_dict() for c in self.cautions],
        }


def uninformative_state(node: Node) -> str | None:
    """The answer that says nothing about the causes (a trial's "not tried"), if any."""
    cpd = node.cpd
    return cpd.uninformative.state if isinstance(cpd, NoisyOrCPD) and cpd.uninformative else None


def informative_states(priors: Priors, variable: str) -> list[str]:
    """The states an answer can take once the question is actually asked or tried."""
    node = priors.nodes[variable]
    skip = uninformative_state(node)
    return [s for s in node.states if s != skip]


def candidate_questions(priors: Priors, answered: set[str]) -> list[str]:
    """Unanswered context questions, findings and trials, in priors order."""
    return [
        n
        for n, spec in priors.nodes.items()
        if spec.kind in ("context", "finding") and n not in answered
    ]


def rank_questions(
    model: CrampModel,
    evidence: Mapping[str, str],
    soft: Mapping[str, Mapping[str, float]] | None = None,
    *,
    do: Mapping[str, str] | None = None,
    candidates: list[str] | None = None,
    cost_weight: float = 0.0,
    cautions: Mapping[str, list[RaisedFlag]] | None = None,
) -> list[RankedQuestion]:
    """Every candidate (each unanswered question and trial by default), best score first;
    ``cautions`` (by trial, :func:`model.diagnosis.red_flags.raised_cautions`) go with the
    trials they are about."""
    cautions = cautions or {}
    priors = model.priors
    base = {**evidence, **(soft or {})}
    if candidates is None:
        candidates = candidate_questions(priors, set(base) | set(do or {}))
    values = question_values(
        model.engine,
        base,
        targets=model.causes,
        candidates=candidates,
        outcomes={q: informative_states(priors, q) for q in candidates},
        counted={
            c: [s != priors.nodes[c].normal_state for s in priors.nodes[c].states]
            for c in model.causes
        },
        do=do,
    )
    ranked = [
        RankedQuestion(
            variable=v.variable,
            label=priors.nodes[v.variable].label,
            kind=priors.nodes[v.variable].kind,
            cost=priors.nodes[v.variable].cost,
            info_gain=v.info_gain,
            max_change=v.max_change,
            max_change_detail=v.max_change_detail,
            top_change=v.top_change,
            score=v.info_gain - cost_weight * priors.nodes[v.variable].cost,
            cautions=tuple(cautions.get(v.variable, ())),
        )
        for v in values
    ]
    # rounded so that ties differing only in the last bits (summation order) keep one order
    return sorted(ranked, key=lambda r: (-round(r.score, 12), -round(r.max_change, 12), r.variable))

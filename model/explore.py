"""One explorer refresh: every number the what-if explorer shows after an answer changes.

Posteriors of every cause, their 90% intervals from parameter uncertainty, and the ranking of
every unanswered question and trial, computed by the compiled engine in three batched passes.
This is the unit the benchmark times (``make bench``) and the app calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from model.diagnosis import CrampModel
from model.engine import Posteriors
from model.evidence import check_evidence
from model.questions import rank_questions
from model.uncertainty import DRAWS, LEVEL, posterior_intervals


@dataclass(frozen=True)
class Refresh:
    """What the explorer shows: posteriors, intervals and the next questions, best first."""

    posterior: Posteriors
    intervals: dict[str, dict[str, dict[str, float]]]
    questions: list[dict]


def refresh(
    model: CrampModel,
    evidence: Mapping[str, object] | None = None,
    soft_evidence: Mapping[str, Mapping[str, object]] | None = None,
    *,
    do: Mapping[str, str] | None = None,
    draws: int = DRAWS,
    seed: int = 0,
    level: float = LEVEL,
    cost_weight: float = 0.0,
) -> Refresh:
    """Check the answers, then posteriors, ``level`` intervals over ``draws`` parameter sets,
    and the ranked next questions; raise an ``EvidenceError`` on bad or impossible answers."""
    hard, soft = check_evidence(model.priors, evidence, soft_evidence)
    if do:
        check_evidence(model.priors, do)
    causes = model.causes
    posterior = model.engine.posteriors(causes, hard, soft, do)
    intervals = posterior_intervals(
        model.engine, causes, hard, soft, do=do, draws=draws, seed=seed, level=level
    )
    questions = rank_questions(model.engine, hard, soft, do=do, cost_weight=cost_weight)
    return Refresh(posterior, intervals, questions)

"""Red flags: rules over the answers and posteriors, declared in ``priors/red_flags.yaml``.

They are shown before any posterior. A flag is raised when any of its conditions holds; a
condition holds when all of its parts do (answers in the listed states, at least one of the
``evidence_any`` answers, a posterior above its documented threshold).
"""

from __future__ import annotations

from model.engine import Posteriors
from model.evidence import Evidence
from model.priors import Priors
from model.schema import Condition


def flag_targets(priors: Priors) -> list[str]:
    """Variables whose posterior some red flag reads."""
    return sorted({v for f in priors.red_flags.values() for c in f.when_any for v in c.posterior})


def _holds(condition: Condition, evidence: Evidence, posterior: Posteriors) -> bool:
    if any(evidence.get(v) not in states for v, states in condition.evidence.items()):
        return False
    if condition.evidence_any and not any(
        evidence.get(v) in states for v, states in condition.evidence_any.items()
    ):
        return False
    for var, state in condition.posterior.items():
        if posterior[var][state] <= condition.above:
            return False
    return True


def raised_flags(priors: Priors, evidence: Evidence, posterior: Posteriors) -> list[dict]:
    """The raised flags in file order, each ``{"id", "message", "claims"}``."""
    return [
        {"id": flag_id, "message": flag.message, "claims": list(flag.claims)}
        for flag_id, flag in priors.red_flags.items()
        if any(_holds(c, evidence, posterior) for c in flag.when_any)
    ]

"""Check evidence against the network before any inference.

Hard evidence is ``{variable: state}``; soft (likelihood) evidence is
``{variable: {state: likelihood}}`` with a non-negative likelihood for every state, for answers
like "probably yes". Errors name the variable, the state and the valid choices.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence

from model.errors import SHOWN_CHARS, EvidenceError, UnknownStateError, UnknownVariableError

Evidence = dict[str, str]  # variable -> state
SoftEvidence = dict[str, dict[str, float]]  # variable -> state -> likelihood
Posteriors = dict[str, dict[str, float]]  # variable -> state -> probability


def closest_ids(name: str, ids: list[str], n: int = 3) -> list[str]:
    """The ids most like ``name``, best first, for "did you mean" hints."""
    return difflib.get_close_matches(str(name), ids, n=n, cutoff=0.5)


def _check_variable(states: Mapping[str, Sequence[str]], variable: object) -> str:
    if not isinstance(variable, str) or variable not in states:
        name = str(variable)
        raise UnknownVariableError(name, closest_ids(name[:SHOWN_CHARS], list(states)))
    return variable


def check_evidence(
    states: Mapping[str, Sequence[str]],
    evidence: Mapping[str, object] | None,
    soft_evidence: Mapping[str, Mapping[str, object]] | None = None,
) -> tuple[Evidence, SoftEvidence]:
    """Validated copies of the evidence against each variable's ``states``; raise an
    :class:`EvidenceError` subclass if bad."""
    hard: Evidence = {}
    for variable, state in (evidence or {}).items():
        variable = _check_variable(states, variable)
        if not isinstance(state, str) or state not in states[variable]:
            raise UnknownStateError(variable, state, list(states[variable]))
        hard[variable] = state
    soft: SoftEvidence = {}
    for variable, likelihood in (soft_evidence or {}).items():
        variable = _check_variable(states, variable)
        valid = list(states[variable])
        if variable in hard:
            raise EvidenceError(f"{variable!r} has both a hard and a soft answer; give one")
        if not isinstance(likelihood, Mapping):
            raise EvidenceError(
                f"soft evidence for {variable!r} must map each state to a likelihood, "
                f"e.g. {{{valid[0]!r}: 0.8, {valid[1]!r}: 0.2}}"
            )
        for state in likelihood:
            if state not in valid:
                raise UnknownStateError(variable, state, valid)
        missing = [s for s in valid if s not in likelihood]
        if missing:
            raise EvidenceError(
                f"soft evidence for {variable!r} needs a likelihood for every state; "
                f"missing: {', '.join(missing)}"
            )
        values = {}
        for state in valid:
            value = likelihood[state]
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise EvidenceError(
                    f"soft evidence for {variable}={state}: {value!r} is not a likelihood "
                    "(a finite number >= 0)"
                )
            values[state] = float(value)
        if not any(values.values()):
            raise EvidenceError(f"soft evidence for {variable!r} is zero for every state")
        soft[variable] = values
    return hard, soft

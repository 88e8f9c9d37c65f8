"""Check evidence against the network before any inference.

Hard evidence is ``{variable: state}``; soft (likelihood) evidence is
``{variable: {state: likelihood}}`` with a non-negative likelihood for every state, for answers
like "probably yes". Errors name the variable, the state and the valid choices.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from model.errors import (
    SHOWN_CHARS,
    EvidenceError,
    UnknownStateError,
    UnknownVariableError,
    shorten,
)

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


def check_state(states: Mapping[str, Sequence[str]], variable: str, state: object) -> str:
    """``state`` as one of ``variable``'s state names; an integer stands for its decimal
    name (networks built without state names have states ``'0'``, ``'1'``, ...)."""
    if isinstance(state, int | np.integer) and not isinstance(state, bool):
        state = str(state)
    if not isinstance(state, str) or state not in states[variable]:
        raise UnknownStateError(variable, state, list(states[variable]))
    return state


def check_variables(states: Mapping[str, Sequence[str]], variables: Iterable[object]) -> list:
    """``variables`` (targets, columns) as a list, each known; raise naming the first not."""
    return [_check_variable(states, v) for v in variables]


def check_row(states: Mapping[str, Sequence[str]], row: Mapping[str, object]) -> dict:
    """One evidence set mixing hard answers (a state) and soft ones (a likelihood per
    state), checked as :func:`check_evidence` does; returns it with states as names."""
    if not isinstance(row, Mapping):
        raise EvidenceError(f"an evidence set must map variables to answers, not {shorten(row)}")
    hard = {v: a for v, a in row.items() if not isinstance(a, Mapping)}
    soft = {v: a for v, a in row.items() if isinstance(a, Mapping)}
    checked_hard, checked_soft = check_evidence(states, hard, soft)
    return {**checked_hard, **checked_soft}


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
        hard[variable] = check_state(states, variable, state)
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
        likelihood = {check_state(states, variable, k): v for k, v in likelihood.items()}
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


def check_codes(
    states: Mapping[str, Sequence[str]], columns: list[str], codes: np.ndarray
) -> np.ndarray:
    """``codes`` as a 2-d integer array, one column per variable, each value ``-1`` or a
    state index; raise naming the first bad value's column and row."""
    codes = np.asarray(codes)
    if codes.ndim != 2 or codes.shape[1] != len(columns):
        raise EvidenceError(
            f"codes must have one column per variable ({len(columns)}); got shape {codes.shape}"
        )
    if codes.size and not np.issubdtype(codes.dtype, np.integer):
        raise EvidenceError(
            f"codes must be integers (state indices, -1 unanswered), not {codes.dtype}"
        )
    cards = np.array([len(states[c]) for c in columns])
    bad = (codes < -1) | (codes >= cards)
    if bad.any():
        row, j = map(int, np.argwhere(bad)[0])
        raise EvidenceError(
            f"code {int(codes[row, j])} in row {row} for {columns[j]!r} is not a state: "
            f"-1 (unanswered) or 0..{cards[j] - 1} ({', '.join(states[columns[j]])})"
        )
    return codes

"""A case book seen through the model: the posterior kept beside each step, each step's
timeline recomputed now, and follow-ups written as the change of answers they are.

The store (:mod:`model.readwrite.casebook`) keeps what it is given; this module is where the
model comes in, shared by ``crampnet cases`` and the explorer's Case book view.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import pandas as pd

from model.diagnosis.crampmodel import CrampModel
from model.readwrite.casebook import Case, CaseBook, Entry

SAME = 1e-9  # a stored posterior this close to the recomputed one is the same
TOP_OVER_TIME = 3  # cause states followed over a timeline: the top ones of any step


def posterior_of(model: CrampModel, answers: Mapping[str, object]) -> dict[str, float]:
    """Every abnormal cause state's posterior for a case-file form of answers, by
    ``"cause=state"``: what a case book keeps beside each step. Checks the answers (an
    ``EvidenceError`` names a bad one)."""
    hard, soft, do = model.check_case(
        answers.get("evidence"), answers.get("soft_evidence"), answers.get("do")
    )
    posterior = model.engine.posteriors(model.causes, hard, soft, do)
    return {f"{c}={s}": posterior[c][s] for c, s in model.abnormal_states()}


def save_case(
    model: CrampModel,
    book: CaseBook,
    label: str,
    answers: Mapping,
    at: dt.datetime | None = None,
) -> int:
    """A new case with its answers, the posterior they give and the model's identity; ``at``
    dates it (now by default)."""
    posterior = posterior_of(model, answers)
    return book.add(label, answers, at=at, model=model.identity, posterior=posterior)


def changes_between(before: Mapping, after: Mapping) -> dict[str, str | None]:
    """The hard answers that differ from ``before`` to ``after`` (case-file forms): a new or
    changed state, or None for an answer taken back."""
    old, new = before.get("evidence", {}), after.get("evidence", {})
    out: dict[str, str | None] = {v: s for v, s in new.items() if old.get(v) != s}
    out.update({v: None for v in old if v not in new})
    return out


def follow_up(
    model: CrampModel,
    book: CaseBook,
    case_id: int,
    *,
    answers: Mapping | None = None,
    changes: Mapping[str, str | None] | None = None,
    outcomes: list[Mapping[str, str]] | None = None,
    note: str | None = None,
    at: dt.datetime | None = None,
) -> list[Entry]:
    """Add to a case, in one transaction: the answers now (``answers``, written as their
    change from the case's latest, or whole when a soft answer or an intervention changed,
    which a change of hard answers cannot say) or ``changes``, outcomes and a note; the new
    answers' posterior and the model's identity go with the change; ``at`` dates the entries
    (now by default)."""
    latest = book.get(case_id).answers()
    whole = None
    if answers is not None:
        before = latest.to_case()
        if any(before.get(k) != (answers.get(k) or None) for k in ("soft_evidence", "do")):
            whole = answers
            changes = None
        else:
            changes = changes_between(before, answers)
    posterior = None
    if whole is not None:
        posterior = posterior_of(model, whole)
    elif changes:  # the posterior of the answers as the case will read after this entry
        posterior = posterior_of(model, latest.changed(changes).to_case())
    for outcome in outcomes or []:
        if "variable" in outcome:
            model.check_case({outcome["variable"]: outcome["state"]})
    return book.update(
        case_id,
        changes or None,
        note=note,
        outcomes=list(outcomes or []),
        at=at,
        model=model.identity if changes or whole is not None else None,
        posterior=posterior,
        answers=whole,
    )


def timeline(model: CrampModel, case: Case) -> list[dict]:
    """Each entry of a case with the answers after it and, for a change of answers, the
    posterior recomputed now (``posterior_now``) and whether the one stored then differs
    (``posterior_then_differs``: another model, or other numbers)."""
    steps = []
    for k, entry in enumerate(case.entries, start=1):
        step = entry.to_dict()
        if entry.kind in ("answers", "set"):
            answers = case.answers(k).to_case()
            step["answers"] = answers
            now = posterior_of(model, answers)
            step["posterior_now"] = now
            stored = entry.posterior
            step["posterior_then_differs"] = stored is not None and (
                entry.model != model.identity
                or set(stored) != set(now)
                or any(abs(stored[key] - now[key]) > SAME for key in now)
            )
        steps.append(step)
    return steps


def top_over_time(model: CrampModel, steps: list[dict], n: int = TOP_OVER_TIME) -> pd.DataFrame:
    """The posterior now of the cause states among the ``n`` most probable at any step, one
    row per answers step and cause state (``step``, ``at``, ``id``, ``cause`` label, ``p``):
    what a chart of the picture over time draws."""
    points = [s for s in steps if "posterior_now" in s]
    followed: list[str] = []
    for step in points:
        ranked = sorted(step["posterior_now"], key=lambda key: -step["posterior_now"][key])
        followed += [key for key in ranked[:n] if key not in followed]
    rows = []
    for number, step in enumerate(points, start=1):
        for key in followed:
            cause, state = key.split("=", 1)
            rows.append(
                {
                    "step": number,
                    "at": step["at"],
                    "id": key,
                    "cause": f"{model.priors.nodes[cause].label}: {state.replace('_', ' ')}",
                    "p": step["posterior_now"][key],
                }
            )
    return pd.DataFrame(rows, columns=["step", "at", "id", "cause", "p"])

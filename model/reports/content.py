"""The exported posterior report as plain data: the one builder the HTML, PDF and JSON share.

``build_report`` returns a dict that *is* the JSON report (it follows
``docs/report.schema.json``); :mod:`model.reports.html` and :mod:`model.reports.pdf` only format
it. Every number comes from :func:`model.diagnosis.view.view` and
:func:`model.diagnosis.view.why`, so a report holds exactly what the explorer shows for the same
answers. The sections, in the order every rendering keeps: title and date, model identity, the
notice and what the source is, red flags, answers that pull apart (Jensen's conflict measure),
the answers in plain words, ranked causes with 90% intervals and how often each ranks first over
the same draws, the causes ranked by what putting each right alone would stop (Richens, Lee and
Johri's counterfactual expected disablement), for a case of the case book its timeline (how the
picture changed as answers and outcomes came in: only when the builder is given one, ``null``
otherwise), what moved each top cause and the claims behind it,
the next questions that would tell the most (each trial with its cautions), the source's remedy
claims for the top causes (labelled as the source's claims, not advice), and the exact case for
reproduction.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from model.diagnosis.crampmodel import TOP_CAUSES, CrampModel
from model.diagnosis.scenario import PROBABLY_RATIO, Scenario
from model.diagnosis.view import View, view, why
from model.errors import UsageError
from model.inference.uncertainty import LEVEL
from model.knowledge.draws import DRAWS
from model.reports.explorer import cause_rows
from model.reports.wording import (
    cause_label,
    conflict_notice,
    conflict_sentence,
    if_fixed_sentence,
    state_word,
    step_words,
)

SCHEMA_ID = "crampnet-report/1"
NEXT_QUESTIONS = 5
MOVES_SHOWN = 6
POSTERIOR_WORDS = (
    "the model's posterior probability of each cause state given these answers, according to "
    "the source's claims; not a diagnosis"
)
REMEDY_WORDS = "What the source claims about remedies, not advice: ask a doctor before acting."
IF_FIXED_WORDS = (
    "A second ranking, a counterfactual rather than a probability: had only this cause been "
    "normal and nothing else changed, how many of the features you report would be expected to "
    "stop (Richens, Lee and Johri's expected disablement); 'all stop' is how many times in 100 "
    "every one of them would have stopped, and 'would remain alone' how many would be expected "
    "to remain were this the only cause left. A cause that explains much of what you report "
    "ranks high here even when it is rare. According to the source's claims; not a diagnosis, "
    "and not advice to treat anything."
)
NOTHING_STOPS = (
    "Putting any one cause right alone would be expected to stop almost none of the features "
    "you report."
)
IF_FIXED_SHOWN = 8  # at most this many cause states in the if_fixed section
IF_FIXED_MIN = 0.005  # and only those expected to stop more than this many features
TIMELINE_WORDS = (
    "Every step of this case, oldest first. At each change of answers, the most probable causes "
    "as the current model computes them for the answers as they stood then; where what was shown "
    "at the time differs (another model, or other numbers), that too, with the model that showed "
    "it. Outcomes and notes are as recorded: they do not enter the model's numbers. According to "
    "the source's claims; not a diagnosis."
)
TIMELINE_SHOWN = 3  # cause states named at each step, and followed over time (top at any step)
SECTIONS = (  # the sections of every report, in order (conflict is shown only when it has one)
    "notice",
    "red_flags",
    "conflict",
    "answers",
    "causes",
    "if_fixed",
    "why",
    "next_questions",
    "remedies",
    "case",
)
# every section a report can have, in the order every rendering keeps: a case book's report adds
# its timeline after the two rankings, before what moved the top causes
_AFTER = SECTIONS.index("if_fixed") + 1
ALL_SECTIONS = (*SECTIONS[:_AFTER], "timeline", *SECTIONS[_AFTER:])
SECTION_TITLES = {
    "notice": "Not medical advice",
    "red_flags": "Red flags (read these first)",
    "conflict": "Answers that pull apart (worth a second look)",
    "answers": "Your answers",
    "causes": "Causes ranked by the model's posterior probability",
    "if_fixed": "Causes ranked by what putting each right would stop",
    "timeline": "How the picture changed as answers and outcomes came in",
    "why": "What moved the top causes, and the source's claims behind it",
    "next_questions": "Questions or trials that would tell the most",
    "remedies": "What the source says about remedies (its claims, not advice)",
    "case": "The case, for reproduction",
}


@dataclass(frozen=True)
class CaseScenario(Scenario):
    """A :class:`Scenario` whose soft answers are a case file's own likelihoods.

    The explorer's "probably" answers are always four to one; a case file may give any
    likelihoods, so this scenario carries them as they are.
    """

    likelihoods: dict[str, dict[str, float]] = field(default_factory=dict)

    def soft_evidence(self, priors) -> dict[str, dict[str, float]]:
        return {**super().soft_evidence(priors), **self.likelihoods}


def scenario_of(
    evidence: Mapping[str, object] | None,
    soft: Mapping[str, Mapping[str, object]] | None = None,
    do: Mapping[str, object] | None = None,
) -> CaseScenario:
    """The scenario of a case's evidence, soft evidence and interventions (checked later)."""
    return CaseScenario(
        evidence=dict(evidence or {}),
        do=dict(do or {}),
        likelihoods={k: dict(v) for k, v in (soft or {}).items()},
    )


def answer_words(model: CrampModel, variable: str, value: object, how: str = "sure") -> str:
    """An answer in plain words: the state, "probably <state>", or a soft answer's leaning."""
    states = model.priors.nodes[variable].states
    if how == "do":
        return f"set by intervention ('if you started'): {value}"
    if not isinstance(value, Mapping):
        return str(value)
    lik = {s: float(value.get(s, 0.0)) for s in states}
    best = max(lik, key=lik.get)
    others = [v for s, v in lik.items() if s != best]
    if others and all(v > 0 and lik[best] / v == PROBABLY_RATIO for v in others):
        return f"probably {best}"
    shown = ", ".join(f"{s} {v:g}" for s, v in sorted(lik.items(), key=lambda kv: -kv[1]) if v)
    return f"leaning to {best} (soft answer, likelihoods {shown})"


def _answers(model: CrampModel, shown: View) -> list[dict]:
    d = shown.diagnosis
    rows = []
    for how, answers in (("sure", d.evidence), ("soft", d.soft_evidence), ("do", d.interventions)):
        for variable, value in answers.items():
            node = model.priors.nodes[variable]
            rows.append(
                {
                    "variable": variable,
                    "label": node.label,
                    "question": node.question,
                    "how": how,
                    "answer": value,
                    "words": answer_words(model, variable, value, how),
                }
            )
    return rows


def _causes(model: CrampModel, shown: View) -> list[dict]:
    """The ranked cause states as the explorer's table has them, with rank, ids and label, and
    what putting each right alone would stop."""
    rows = []
    for rank, row in enumerate(cause_rows(model, shown).to_dict("records"), start=1):
        cause, state = row["id"].split("=")
        keys = ("posterior", "low", "high", "rank_first", "prior", "change")
        rows.append(
            {"rank": rank, "cause": cause, "state": state, "label": row["cause"]}
            | {k: row[k] for k in keys}
            | _if_fixed_numbers(shown, cause, state)
        )
    return rows


def _if_fixed_numbers(shown: View, cause: str, state: str) -> dict[str, float]:
    measure = shown.diagnosis.if_fixed[(cause, state)]
    return {
        "expected_disablement": measure.expected_disablement,
        "p_all_stop": measure.p_all_stop,
        "expected_sufficiency": measure.expected_sufficiency,
    }


def _if_fixed(model: CrampModel, shown: View) -> dict:
    """The abnormal cause states by expected disablement (at most :data:`IF_FIXED_SHOWN`, each
    expected to stop more than :data:`IF_FIXED_MIN` features), each with its sentence; the
    section's sentence is the first row's, or says why there is no row."""
    d = shown.diagnosis
    order = d.ranked_if_fixed()
    features = float(max((m.features for m in d.if_fixed.values()), default=0.0))
    rows = []
    kept = [cs for cs in order if d.if_fixed[cs].expected_disablement > IF_FIXED_MIN]
    for rank, (cause, state) in enumerate(kept[:IF_FIXED_SHOWN], start=1):
        rows.append(
            {
                "rank": rank,
                "cause": cause,
                "state": state,
                "label": f"{model.priors.nodes[cause].label}: {state}",
            }
            | _if_fixed_numbers(shown, cause, state)
            | {
                "posterior": d.posterior[cause][state],
                "sentence": if_fixed_sentence(model.priors, cause, state, d.if_fixed[cause, state]),
            }
        )
    if rows:
        sentence = rows[0]["sentence"]
    elif features <= 0 and order:  # the wording's "no feature yet", the same for every cause
        sentence = if_fixed_sentence(model.priors, *order[0], d.if_fixed[order[0]])
    else:
        sentence = NOTHING_STOPS
    return {"meaning": IF_FIXED_WORDS, "features": features, "rows": rows, "sentence": sentence}


def _cause_words(model: CrampModel, key: str) -> tuple[str, str, str]:
    """Cause, state and label of a ``"cause=state"`` key (a cause an older model had but this
    one lacks still reads in words)."""
    cause, state = key.split("=", 1)
    if cause in model.priors.nodes:
        return cause, state, cause_label(model.priors, cause, state)
    return cause, state, f"{state_word(cause).capitalize()}: {state_word(state)}"


def _ranked(model: CrampModel, posterior: Mapping[str, float], n: int) -> list[dict]:
    """The ``n`` most probable cause states of a ``"cause=state"`` posterior, labelled."""
    ranked = sorted(posterior.items(), key=lambda kv: -kv[1])[:n]
    return [
        dict(zip(("cause", "state", "label"), _cause_words(model, key), strict=True))
        | {"posterior": float(p)}
        for key, p in ranked
    ]


def _timeline(model: CrampModel, steps: list[Mapping], n: int = TIMELINE_SHOWN) -> dict:
    """A case's timeline (the steps :func:`model.diagnosis.casebook.timeline` gives) as the
    report's section: each step dated and in words (as ``crampnet cases show`` and the explorer
    say it: :func:`model.reports.wording.step_words`); at each change of answers the ``n`` most
    probable cause states now and, where what was stored then differs, those it showed and its
    model; and the cause states among the ``n`` most probable at any step, followed over time
    (the rule of :func:`model.diagnosis.casebook.top_over_time`, the explorer's chart)."""
    followed: list[str] = []
    for step in steps:
        if "posterior_now" in step:
            now = step["posterior_now"]
            followed += [k for k in sorted(now, key=lambda k: -now[k])[:n] if k not in followed]
    rows = []
    for number, step in enumerate(steps, start=1):
        now = step.get("posterior_now")
        then = None
        if now is not None and step.get("posterior_then_differs"):
            shown = step.get("model") or {}
            then = {
                "model": {"version": shown.get("version"), "sha256": shown.get("sha256")},
                "top": _ranked(model, step["posterior"], n),
            }
        rows.append(
            {
                "step": number,
                "at": step["at"],
                "when": step["at"][:16].replace("T", " "),
                "kind": step["kind"],
                "words": step_words(model.priors, step),
                "top": None if now is None else _ranked(model, now, n),
                "followed_posteriors": None if now is None else [float(now[k]) for k in followed],
                "then": then,
            }
        )
    return {
        "meaning": TIMELINE_WORDS,
        "followed": [
            dict(zip(("cause", "state", "label"), _cause_words(model, k), strict=True))
            for k in followed
        ],
        "steps": rows,
    }


def _conflict(model: CrampModel, shown: View) -> dict:
    """The answers that pull apart most (Jensen's conflict), with labels and one sentence."""
    d = shown.diagnosis
    conflict = d.conflict
    given = {**d.evidence, **d.soft_evidence}
    how = {**{v: "sure" for v in d.evidence}, **{v: "soft" for v in d.soft_evidence}}
    return {
        "value": conflict.value,
        "factor": math.exp(conflict.answers_value) if conflict.answers else 1.0,
        "answers": [
            {
                "variable": v,
                "label": model.priors.nodes[v].label,
                "words": answer_words(model, v, given[v], how[v]),
            }
            for v in conflict.answers
        ],
        "sentence": conflict_sentence(model.priors, given, conflict),
        "notice": conflict_notice(conflict),
    }


def _why(model: CrampModel, shown: View, cause: str, state: str) -> dict:
    reason = why(model, shown, cause, state)
    how = {
        **{v: "sure" for v in shown.diagnosis.evidence},
        **{v: "soft" for v in shown.diagnosis.soft_evidence},
    }
    moves = [
        {
            "variable": c.variable,
            "label": model.priors.nodes[c.variable].label,
            "words": answer_words(model, c.variable, c.answer, how[c.variable]),
            "delta": c.delta,
            "without": c.without,
        }
        for c in reason.contributions[:MOVES_SHOWN]
    ]
    return {
        "cause": cause,
        "state": state,
        "label": f"{model.priors.nodes[cause].label}: {state}",
        "posterior": reason.posterior,
        "prior": reason.prior,
        "moves": moves,
        "claims": [
            {"id": c.id, "section": c.section, "text": c.text, "links": c.links}
            for c in reason.claims
        ],
    }


def _next_questions(model: CrampModel, shown: View, n: int) -> list[dict]:
    rows = []
    for q in shown.questions[:n]:
        node = model.priors.nodes[q.variable]
        rows.append(
            {
                "variable": q.variable,
                "label": q.label,
                "question": node.question,
                "kind": "trial" if q.cost else "question",
                "cost_days": float(q.cost),
                "info_gain": float(q.info_gain),
                "max_change": float(q.max_change),
                "largest_change": q.to_dict()["max_change_detail"],
                "cautions": [{"title": c.title, "message": c.message} for c in q.cautions],
            }
        )
    return rows


def _remedies(model: CrampModel, causes: list[str]) -> list[dict]:
    out = []
    for cause in causes:
        claims = [
            {"id": cid, "section": claim.section, "text": claim.text}
            for cid, claim in model.priors.claims.items()
            if cause in claim.remedy_for
        ]
        out.append({"cause": cause, "label": model.priors.nodes[cause].label, "claims": claims})
    return out


def report_from_view(
    model: CrampModel,
    shown: View,
    case: Mapping[str, object],
    *,
    date: str | dt.date | None = None,
    title: str | None = None,
    top: int = TOP_CAUSES,
    questions: int = NEXT_QUESTIONS,
    timeline: list[Mapping] | None = None,
) -> dict:
    """The report of an already computed :class:`~model.diagnosis.view.View` (the explorer's own).

    ``case`` is the case-file form of the answers, kept verbatim for reproduction; ``date``
    (ISO text or a date) makes the report reproducible, today by default; ``timeline``, the
    steps of a case book's case (:func:`model.diagnosis.casebook.timeline`), adds the timeline
    section (``None`` leaves it ``null``).
    """
    if top < 1 or questions < 0:
        raise UsageError(f"top must be at least 1 and questions at least 0, got {top}, {questions}")
    day = _date(date)
    d = shown.diagnosis
    causes = _causes(model, shown)
    top_rows = causes[:top]
    top_causes = list(dict.fromkeys(r["cause"] for r in top_rows))
    case_id = case.get("id")
    return {
        "schema": SCHEMA_ID,
        "title": title or _title(case),
        "date": day,
        "case_id": None if case_id is None else str(case_id),
        "model": {
            "name": model.priors.meta.name,
            "version": d.model["version"],
            "sha256": d.model["sha256"],
        },
        "notice": model.priors.meta.notice,
        "source": model.priors.claims_source,
        "red_flags": [
            {
                "id": f.id,
                "title": f.title,
                "message": f.message,
                "claims": [{"id": c, "text": model.priors.claims[c].text} for c in f.claims],
            }
            for f in d.red_flags
        ],
        "conflict": _conflict(model, shown),
        "answers": _answers(model, shown),
        "causes": {
            "meaning": POSTERIOR_WORDS,
            "interval_level": LEVEL,
            "interval_draws": DRAWS,
            "rows": causes,
        },
        "if_fixed": _if_fixed(model, shown),
        "timeline": None if timeline is None else _timeline(model, timeline),
        "why": [_why(model, shown, r["cause"], r["state"]) for r in top_rows],
        "next_questions": _next_questions(model, shown, questions),
        "remedies": {"label": REMEDY_WORDS, "causes": _remedies(model, top_causes)},
        "case": _plain_case(case),
    }


def build_report(
    model: CrampModel,
    evidence: Mapping[str, object] | None = None,
    soft: Mapping[str, Mapping[str, object]] | None = None,
    do: Mapping[str, object] | None = None,
    *,
    date: str | dt.date | None = None,
    title: str | None = None,
    case_id: str | None = None,
    top: int = TOP_CAUSES,
    questions: int = NEXT_QUESTIONS,
    timeline: list[Mapping] | None = None,
) -> dict:
    """The report of one case: pure data following ``docs/report.schema.json``.

    Raises ``EvidenceError`` on unknown or impossible answers (as ``diagnose`` does).
    Deterministic for a given ``date``: the intervals are seeded. ``timeline``: a case book
    case's steps (:func:`model.diagnosis.casebook.timeline`), for the timeline section; the
    answers are then the case's latest.
    """
    shown = view(model, scenario_of(evidence, soft, do))
    case: dict = {"evidence": dict(evidence or {})}
    if soft:
        case["soft_evidence"] = {k: dict(v) for k, v in soft.items()}
    if do:
        case["do"] = dict(do)
    if case_id is not None:
        case = {"id": case_id, **case}
    return report_from_view(
        model, shown, case, date=date, title=title, top=top, questions=questions, timeline=timeline
    )


def report_json(report: Mapping[str, object]) -> str:
    """The report as JSON text (UTF-8, non-ASCII kept)."""
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def _date(date: str | dt.date | None) -> str:
    if date is None:
        return dt.date.today().isoformat()
    if isinstance(date, dt.date):
        return date.isoformat()
    try:
        return dt.date.fromisoformat(str(date)).isoformat()
    except ValueError:
        raise UsageError(f"date must be YYYY-MM-DD, got {date!r}") from None


def _title(case: Mapping[str, object]) -> str:
    named = case.get("title") or case.get("id")
    return f"crampnet report: {named}" if named else "crampnet report"


def _plain_case(case: Mapping[str, object]) -> dict:
    """The case with only JSON types (a round trip), keys in case-file order."""
    keep = ("id", "title", "evidence", "soft_evidence", "do")
    return json.loads(json.dumps({k: case[k] for k in keep if k in case}, ensure_ascii=False))

"""Words and number formats the HTML and PDF reports share, so both say exactly the same.

Each function turns one part of the report dict (:func:`model.reports.content.build_report`) into
plain text; the renderers only escape and lay it out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from model.reports.content import ALL_SECTIONS, SECTION_TITLES
from model.reports.wording import per_hundred, ranks_first_in

NO_FLAGS = (
    "No red flag is raised by these answers. That is not a clean bill of health: see a doctor "
    "for cramps that are severe, persistent or unexplained."
)
NO_ANSWERS = "No answers: every number below is the model's prior."
NO_MOVES = "No answer moved this cause: it stands at its prior."
NO_QUESTIONS = "Every question is answered: nothing left to ask."
NO_REMEDY = "The source names no remedy for this cause."


def prob(x: float) -> str:
    """A probability with three decimals, as the explorer shows it."""
    return f"{x:.3f}"


def signed(x: float) -> str:
    return f"{x:+.3f}"


def interval(row: Mapping) -> str:
    return f"{prob(row['low'])} to {prob(row['high'])}"


def ranks_first(row: Mapping) -> str:
    """``84 of 100``: in how many of every 100 drawn parameter sets the cause ranks first."""
    return ranks_first_in(row["rank_first"])


def cause_head(report: Mapping) -> list[str]:
    """The headings of the causes table, the same in the HTML and the PDF."""
    level = f"{report['causes']['interval_level']:.0%} interval"
    return ["#", "cause: state", "posterior", level, "ranks first in", "prior", "change"]


def cause_cells(row: Mapping) -> list[str]:
    """One row of the causes table as text, under :func:`cause_head`."""
    return [
        str(row["rank"]),
        row["label"],
        prob(row["posterior"]),
        interval(row),
        ranks_first(row),
        prob(row["prior"]),
        signed(row["change"]),
    ]


def title(section: str) -> str:
    return SECTION_TITLES[section]


def shown_sections(report: Mapping) -> list[str]:
    """The sections a rendering shows, in order: every one, but the conflict section only when
    some answers pull apart, and the timeline only for a case book's case."""
    return [
        s
        for s in ALL_SECTIONS
        if (s != "conflict" or report["conflict"]["sentence"])
        and (s != "timeline" or report.get("timeline"))
    ]


def conflict_text(report: Mapping) -> str:
    """The answers to double-check, in words (labels only): the conflict section's one line."""
    return report["conflict"]["sentence"] or ""


def count(n: float) -> str:
    """A number of features: ``2``, or ``2.4`` when soft answers count partly."""
    return str(round(n)) if abs(n - round(n)) < 0.05 else f"{n:.1f}"


def of_features(x: float, features: float) -> str:
    """``1.3 of 2``: an expected number of features out of those present (``0.04 of 2`` below
    0.1, so that a listed cause never reads as stopping nothing)."""
    x = max(x, 0.0)  # the engine's rounding can leave -1e-20
    return f"{x:.2f} of {count(features)}" if x < 0.095 else f"{x:.1f} of {count(features)}"


def if_fixed_head() -> list[str]:
    """The headings of the if-fixed table, the same in the HTML and the PDF (no rank column:
    the order is the rank)."""
    return ["cause: state", "expected to stop", "all stop", "would remain alone", "probability"]


def if_fixed_cells(row: Mapping, features: float) -> list[str]:
    """One row of the if-fixed table as text, under :func:`if_fixed_head`."""
    return [
        row["label"],
        of_features(row["expected_disablement"], features),
        f"{per_hundred(row['p_all_stop'])} in 100",
        of_features(row["expected_sufficiency"], features),
        prob(row["posterior"]),
    ]


def if_fixed_words(report: Mapping) -> str:
    """What the if-fixed numbers mean, and out of how many features they count."""
    section = report["if_fixed"]
    n = section["features"]
    if n <= 0:
        return section["meaning"]
    said = f"Counted out of the {count(n)} feature{'' if count(n) == '1' else 's'} you report"
    if abs(n - round(n)) >= 0.05:
        said += " (soft answers count partly)"
    return f"{section['meaning']} {said}."


def timeline_words(report: Mapping) -> str:
    """What the timeline shows, and how to read its numbers."""
    return report["timeline"]["meaning"]


def timeline_then(report: Mapping) -> bool:
    """Whether some step of the timeline showed other numbers then (a column of its own)."""
    return any(step["then"] for step in report["timeline"]["steps"])


def timeline_head(report: Mapping) -> list[str]:
    """The headings of the timeline table, the same in the HTML and the PDF."""
    head = ["#", "when (UTC)", "what happened", "most probable causes (the model now)"]
    return head + (["shown then"] if timeline_then(report) else [])


def ranked_text(rows: list[Mapping]) -> str:
    """``Calcium status: low 0.412; Dehydration: yes 0.300``."""
    return "; ".join(f"{r['label']} {prob(r['posterior'])}" for r in rows)


def model_words(model: Mapping) -> str:
    """``model 0.3.0, priors 1a2b3c4d5e6f``: which model showed a stored posterior."""
    return f"model {model.get('version') or '?'}, priors {str(model.get('sha256') or '?')[:12]}"


def timeline_cells(report: Mapping, step: Mapping) -> list[str]:
    """One step of the timeline as text, under :func:`timeline_head`."""
    cells = [
        str(step["step"]),
        step["when"],
        step["words"][:1].upper() + step["words"][1:],
        ranked_text(step["top"]) if step["top"] is not None else "",
    ]
    if timeline_then(report):
        then = step["then"]
        cells.append(f"{ranked_text(then['top'])} ({model_words(then['model'])})" if then else "")
    return cells


def identity(report: Mapping) -> str:
    m = report["model"]
    return f"Model {m['name']} {m['version']}, priors sha256 {m['sha256']}"


def interval_words(report: Mapping) -> str:
    causes = report["causes"]
    return (
        f"Numbers are {causes['meaning']}. The interval is the central "
        f"{causes['interval_level']:.0%} range over {causes['interval_draws']} draws of the "
        "elicited numbers: how soft they are. 'Ranks first in' says in how many of every 100 of "
        "those draws (plausible versions of the model) the cause state is the most probable of "
        "all: how far the ranking holds."
    )


def flag_claims(flag: Mapping) -> str:
    return "; ".join(f"{c['id']}: {c['text']}" for c in flag["claims"])


def why_heading(item: Mapping) -> str:
    return (
        f"{item['label']}: {prob(item['posterior'])} "
        f"(prior {prob(item['prior'])}, change {signed(item['posterior'] - item['prior'])})"
    )


def cautions(q: Mapping) -> list[str]:
    """Each caution of a next question, in one line: a trial is never listed without them."""
    return [f"Caution: {c['title']}. {c['message']}" for c in q.get("cautions", [])]


def next_detail(q: Mapping) -> str:
    """What a next question could do, in words."""
    change = q["largest_change"]
    effort = f"a trial of about {q['cost_days']:g} days" if q["kind"] == "trial" else "a question"
    said = f"{effort}; expected information {q['info_gain']:.3f} bits"
    if change:
        said += (
            f"; answer '{change['answer']}' would move {change['cause']}={change['state']} "
            f"from {prob(change['before'])} to {prob(change['after'])}"
        )
    return said


def case_text(report: Mapping) -> str:
    """The case as pretty JSON: save it as a file to reproduce the report."""
    return json.dumps(report["case"], indent=2, ensure_ascii=False)


def case_words() -> str:
    return (
        "Save this as a .json file and run `crampnet report FILE.json -o out.html` (or "
        "`crampnet diagnose FILE.json`) to reproduce these numbers with the same model."
    )

"""Words and number formats the HTML and PDF reports share, so both say exactly the same.

Each function turns one part of the report dict (:func:`model.reports.content.build_report`) into
plain text; the renderers only escape and lay it out.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from model.reports.content import SECTION_TITLES
from model.reports.wording import ranks_first_in

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

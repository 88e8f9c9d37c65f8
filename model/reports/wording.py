"""Plain words for what the explorer shows: labels instead of ids, a verbal scale for
probabilities, a summary in sentences, the interview's next step and a glossary.

A person reads labels and words, never internal ids: every function here takes ids and
returns text from the priors' vocabulary (a node's ``label``, its states with underscores
read as spaces). The verbal scale ties each word to a stated range of probabilities, so the
words and the numbers beside them can always be checked against each other.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from model.diagnosis.counterfactual import IfFixed
from model.diagnosis.crampmodel import Contribution
from model.diagnosis.questions import RankedQuestion, uninformative_state
from model.diagnosis.red_flags import RaisedFlag
from model.diagnosis.view import PAGE_DRAWS
from model.inference.conflict import Conflict
from model.knowledge.draws import DRAWS
from model.knowledge.priors import Priors
from model.knowledge.schema import NoisyOrCPD

# (lower bound, word): a probability p gets the first word whose bound it reaches.
SCALE: tuple[tuple[float, str], ...] = (
    (0.90, "very likely"),
    (0.66, "likely"),
    (0.33, "possible"),
    (0.10, "unlikely"),
    (0.0, "very unlikely"),
)
CONFLICT_NOTICE = 1.5  # answers this many times less likely together than apart get a notice
# (the model's leaks keep every answer possible: the strongest pair of answers it has is 1.8)
STOP_CHANGE = 0.05  # the interview stops when no answer could move the top cause by more
CLOSE = 0.10  # a runner-up within this of the top cause is named beside it

GLOSSARY: tuple[tuple[str, str], ...] = (
    (
        "Prior",
        "how probable a cause is among adults who get cramps before any answer, by the "
        "model's numbers.",
    ),
    (
        "Posterior",
        "how probable the cause is once your answers are taken into account. It is what the "
        "source's reasoning says about these answers, not a diagnosis.",
    ),
    (
        "Words for probabilities",
        "very likely: 0.90 or more; likely: 0.66 to 0.90; possible: 0.33 to 0.66; unlikely: "
        "0.10 to 0.33; very unlikely: below 0.10.",
    ),
    (
        "90% interval",
        "most of the model's numbers are estimates. Redrawing them many times within their "
        f"stated uncertainty ({PAGE_DRAWS} times on this page, {DRAWS} in reports), 90% of the "
        "posteriors fall inside this range: a wide range means the answer rests on soft "
        "numbers.",
    ),
    (
        "Plausible versions of the model",
        "the model's numbers redrawn within their stated uncertainty: the same draws as the "
        f"90% interval ({PAGE_DRAWS} on this page, {DRAWS} in reports). 'Ranks first in 84 of "
        "100' means that in 84 of every 100 such versions this cause is the most probable of "
        "all: the higher, the more the ranking holds however soft the numbers are.",
    ),
    (
        "Information (bits)",
        "how much an answer is expected to narrow down the causes, on average over its "
        "possible answers. 1 bit is as much as a fair coin toss settles.",
    ),
    (
        "If put right (what fixing it would stop)",
        "a second way to rank the causes: had this one cause been normal and nothing else "
        "changed, how many of the features you report would be expected to stop (Richens, "
        "Lee and Johri's expected disablement). A common cause that explains little of what "
        "you have ranks lower here than by probability; a rarer one that explains it all, "
        "higher. 'All stop' is the chance that every feature you report would have stopped.",
    ),
    (
        "Answers that pull apart",
        "answers the model finds less likely together than one by one (Jensen's conflict "
        "measure). Worth a second look: one may be mistyped, or your case may be one the "
        "model does not know well. Answers that cannot happen together at all are refused.",
    ),
    (
        "Probably",
        "a softer answer: the model weighs it four to one instead of treating it as certain.",
    ),
    (
        "Intervention (what-if)",
        "setting a habit as if you changed it yourself. The model then does not infer what "
        "usually leads to that habit, as it would from a plain answer.",
    ),
)

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:=&])")  # & starts "&copy;"


def escape_markdown(text: str) -> str:
    """``text`` with every character Streamlit's markdown would act on backslash-escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def likelihood_word(p: float) -> str:
    """The verbal scale's word for a probability (see :data:`SCALE`)."""
    return next(word for bound, word in SCALE if p >= bound)


def state_word(state: str) -> str:
    """A state as a person reads it: ``not_tried`` -> ``not tried``."""
    return state.replace("_", " ")


def cause_label(priors: Priors, cause: str, state: str) -> str:
    """``Calcium status: low``: the label of a cause and its state in words."""
    return f"{priors.nodes[cause].label}: {state_word(state)}"


def answer_label(priors: Priors, variable: str, value: str | Mapping[str, float]) -> str:
    """``Cramps at night: yes``; a soft answer as ``probably <its most likely state>``."""
    if isinstance(value, str):
        said = state_word(value)
    else:
        said = "probably " + state_word(max(value, key=value.get))
    return f"{priors.nodes[variable].label}: {said}"


def intervention_label(priors: Priors, variable: str, state: str) -> str:
    """How a what-if intervention reads: "if you started ...", "if you stopped ..."."""
    label = priors.nodes[variable].label
    if state == "yes":
        return f"if you started or kept up: {label}"
    if state == "no":
        return f"if you stopped or avoided: {label}"
    return f"if it were made so: {label} = {state_word(state)}"


def signed(x: float, digits: int = 3) -> str:
    """A change with its sign, and no sign at all when it rounds to zero."""
    if round(x, digits) == 0:
        return f"{0:.{digits}f}"
    return f"{x:+.{digits}f}".replace("-", "\u2212")


def arrow(x: float, digits: int = 3) -> str:
    """``up``, ``down`` or ``off``: Streamlit's metric arrow matching the sign as shown."""
    if round(x, digits) == 0:
        return "off"
    return "up" if x > 0 else "down"


def firmness(low: float, high: float) -> str:
    """How firm a posterior is, given its 90% interval over the model's own uncertainty."""
    lo, hi = likelihood_word(low), likelihood_word(high)
    span = f"90% interval {low:.2f} to {high:.2f}"
    if lo == hi:
        return f"That is firm within the model: its own uncertainty keeps it {lo} ({span})."
    return (
        f"That is not firm: within the model's own uncertainty it could be anywhere from "
        f"{lo} to {hi} ({span})."
    )


def per_hundred(share: float) -> int:
    """A share of the drawn parameter sets as a whole number of 100 (a half rounds up)."""
    return min(100, max(0, math.floor(share * 100.0 + 0.5 + 1e-9)))


def ranks_first_in(share: float) -> str:
    """``84 of 100``: how often a cause ranks first over the plausible versions of the model."""
    return f"{per_hundred(share)} of 100"


def holds(share: float) -> str:
    """The sentence on how often the top cause ranks first across the model's uncertainty."""
    return f"It ranks first in {ranks_first_in(share)} plausible versions of the model."


@dataclass(frozen=True)
class NextStep:
    """The interview's next question, or why it stops."""

    variable: str | None
    label: str
    question: str
    states: tuple[str, ...]
    kind: str
    cost: float
    answered: int
    left: int
    done: bool
    reason: str
    cautions: tuple[RaisedFlag, ...] = ()  # why trying it may harm: shown with the question

    @property
    def progress(self) -> str:
        return f"{self.answered} answered, {self.left} left"


def next_step(
    priors: Priors,
    questions: list[RankedQuestion],
    answered: int,
    *,
    skipped: frozenset[str] = frozenset(),
    stop_change: float = STOP_CHANGE,
) -> NextStep:
    """The most useful question not yet answered or skipped, or a stop with its reason.

    ``questions`` is the view's ranking (best first). The interview stops when none is left,
    or when no answer to any remaining question could move the most probable cause by more
    than ``stop_change``: asking more would not change the picture much.
    """
    left = [q for q in questions if q.variable not in skipped]
    done_with = dict(
        variable=None, label="", question="", states=(), kind="", cost=0.0, answered=answered
    )
    if not left:
        reason = (
            "Every question is answered or skipped: nothing left to ask."
            if questions
            else "Every question is answered: nothing left to ask."
        )
        return NextStep(**done_with, left=len(questions), done=True, reason=reason)
    if max(q.top_change for q in left) < stop_change:
        return NextStep(
            **done_with,
            left=len(questions),
            done=True,
            reason=(
                f"No remaining answer could move the most probable cause by more than "
                f"{stop_change:.2f}: more questions would not change the picture much. You can "
                "still answer any of them in the sidebar."
            ),
        )
    q = left[0]
    node = priors.nodes[q.variable]
    skip = uninformative_state(node)
    states = tuple(s for s in node.states if s != skip)
    return NextStep(
        variable=q.variable,
        label=node.label,
        question=node.question,
        states=states,
        kind="trial" if node.cost else "question",
        cost=node.cost,
        answered=answered,
        left=len(questions),
        done=False,
        reason="",
        cautions=q.cautions,
    )


@dataclass(frozen=True)
class Summary:
    """What the answers point to, in four or five sentences, and the top cause they name."""

    cause: str
    state: str
    label: str
    word: str
    sentences: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


def summarise(
    priors: Priors,
    ranked: list[dict],
    intervals: Mapping[str, Mapping[str, Mapping[str, float]]],
    contributions: list[Contribution],
    questions: list[RankedQuestion],
    answered: int,
    *,
    rank_first: Mapping[tuple[str, str], float],
    if_fixed: Mapping[tuple[str, str], IfFixed] | None = None,
) -> Summary:
    """The explorer's summary: the top cause in words, how firm, how often it ranks first, why,
    and what to ask next.

    ``ranked`` is :meth:`Diagnosis.ranked` (most probable abnormal cause state first),
    ``contributions`` the explanation of the top one (largest effect first), ``questions``
    the next-question ranking and ``rank_first`` the share of the drawn parameter sets in
    which each abnormal cause state ranks first (:attr:`View.rank_first
    <model.diagnosis.view.View.rank_first>`); ``if_fixed`` (:attr:`Diagnosis.if_fixed
    <model.diagnosis.crampmodel.Diagnosis.if_fixed>`) adds what putting a cause right would
    stop, naming the cause that would stop most when it is not the most probable.
    """
    top = ranked[0]
    cause, state, p = top["cause"], top["state"], top["posterior"]
    label = cause_label(priors, cause, state)
    word = likelihood_word(p)
    if answered:
        movers = [c for c in contributions if abs(c.delta) >= 0.005][:2]
        because = (
            " mainly because of "
            + " and ".join(f"'{answer_label(priors, c.variable, c.answer)}'" for c in movers)
            if movers
            else ""
        )
        first = (
            f"Your answers point most to {label}, {word} at {p:.2f} (it was {top['prior']:.2f} "
            f"before any answer),{because}."
        )
    else:
        first = (
            f"No answers yet: every cause stands at its prior. The most common is {label}, "
            f"{word} at {p:.2f}."
        )
    sentences = [first.replace(",.", ".")]
    if len(ranked) > 1 and ranked[1]["posterior"] >= p - CLOSE:
        second = ranked[1]
        sentences.append(
            f"{cause_label(priors, second['cause'], second['state'])} is close behind at "
            f"{second['posterior']:.2f}"
            + (": the answers do not tell these two apart yet." if answered else ".")
        )
    interval = intervals[cause][state]
    sentences.append(firmness(interval["low"], interval["high"]))
    sentences.append(holds(rank_first[(cause, state)]))
    if if_fixed and any(m.features > 0 for m in if_fixed.values()):
        best = max(if_fixed, key=lambda cs: if_fixed[cs].expected_disablement)
        sentences.append(if_fixed_sentence(priors, cause, state, if_fixed[(cause, state)]))
        if best != (cause, state) and (
            if_fixed[best].expected_disablement
            > if_fixed[(cause, state)].expected_disablement + 0.05
        ):
            sentences.append(
                f"By what a fix would stop, '{cause_label(priors, *best)}' comes first: about "
                f"{if_fixed[best].expected_disablement:.1f}."
            )
    sentences.append(_next_sentence(priors, questions))
    return Summary(cause, state, label, word, tuple(sentences))


def _next_sentence(priors: Priors, questions: list[RankedQuestion]) -> str:
    """The most useful next question or trial in one sentence, with its cautions named."""
    if not questions:
        return "Every question is answered."
    q = questions[0]
    node = priors.nodes[q.variable]
    what = (
        f"try '{node.label}' (about {node.cost:g} days)"
        if node.cost
        else f"answer '{node.question}'"
    )
    if q.cautions:
        titles = "; ".join(c.title for c in q.cautions)
        return f"Most useful next: {what}, but read its caution first ({titles})."
    return f"Most useful next: {what}."


def features_word(n: float) -> str:
    """``1 feature``, ``2 features``, ``about 2.4 features`` (soft answers count partly)."""
    if abs(n - round(n)) < 0.05:
        whole = round(n)
        return f"{whole} feature" + ("" if whole == 1 else "s")
    return f"about {n:.1f} features"


def if_fixed_sentence(priors: Priors, cause: str, state: str, measure: IfFixed) -> str:
    """One sentence on what putting one cause state right alone would stop."""
    label = cause_label(priors, cause, state)
    if measure.features <= 0:
        return "You report no cramp feature yet, so there is nothing a fix could be seen to stop."
    return (
        f"If '{label}' were the only thing put right, about {measure.expected_disablement:.1f} "
        f"of your {features_word(measure.features)} would be expected to stop (all of them: "
        f"{per_hundred(measure.p_all_stop)} in 100)."
    )


def trial_tests(
    priors: Priors, trial: str, if_fixed: Mapping[tuple[str, str], IfFixed]
) -> str | None:
    """What a trial tells, in one sentence: the abnormal cause states whose links push it
    away from "no change" (what a good or bad response would point to), with what putting
    each right would stop; None for a question that is not a trial, or with no feature
    reported."""
    node = priors.nodes[trial]
    cpd = node.cpd
    if not node.cost or not isinstance(cpd, NoisyOrCPD):
        return None
    tested = [
        (parent, state)
        for parent, by_state in cpd.links.items()
        for state in by_state
        if (parent, state) in if_fixed
    ]
    if not tested or all(if_fixed[cs].features <= 0 for cs in tested):
        return None
    tested.sort(key=lambda cs: -if_fixed[cs].expected_disablement)
    first, *rest = tested[:2]

    def about(cs: tuple[str, str]) -> str:
        v = if_fixed[cs].expected_disablement
        return f"{v:.1f}" if v >= 0.1 else f"{v:.2f}"

    said = (
        f"A change after it would point to '{cause_label(priors, *first)}' (putting it right "
        f"alone would be expected to stop about {about(first)} of your "
        f"{features_word(if_fixed[first].features)})"
    )
    for cs in rest:
        said += f" or to '{cause_label(priors, *cs)}' (about {about(cs)})"
    return said + "."


def step_words(priors: Priors, step: Mapping) -> str:
    """One entry of a case's timeline (:func:`model.diagnosis.casebook.timeline`) in words."""
    data = step["data"]
    if step["kind"] == "answers":
        answers = {**data.get("evidence", {}), **data.get("soft_evidence", {})}
        said = "; ".join(answer_label(priors, v, a) for v, a in answers.items())
        done = "; ".join(intervention_label(priors, v, s) for v, s in data.get("do", {}).items())
        return f"answers: {said or 'none'}" + (f"; {done}" if done else "")
    if step["kind"] == "set":
        return "changed: " + "; ".join(
            answer_label(priors, v, a) if a is not None else f"{priors.nodes[v].label}: taken back"
            for v, a in data["set"].items()
        )
    if step["kind"] == "outcome":
        if data["outcome"] == "cramps_gone":
            return "outcome: the cramps are gone"
        verdict = state_word(data["outcome"])
        return f"outcome: {cause_label(priors, data['variable'], data['state'])} {verdict}"
    return f"note: {data['text']}"


def conflict_sentence(
    priors: Priors, answers: Mapping[str, object], conflict: Conflict
) -> str | None:
    """The answers that pull apart most, in words, or None when none do."""
    if not conflict.answers:
        return None
    factor = math.exp(conflict.answers_value)
    said = " and ".join(f"'{answer_label(priors, v, answers[v])}'" for v in conflict.answers)
    strength = "slightly" if factor < CONFLICT_NOTICE else "clearly" if factor < 5 else "far"
    return (
        f"Please double-check {said}: by the model's numbers these answers are {strength} less "
        f"likely together than one by one ({factor:.1f} times). One may be mistyped, or your "
        "case may be one the model does not know well."
    )


def conflict_notice(conflict: Conflict) -> bool:
    """Whether the answers pull apart enough (:data:`CONFLICT_NOTICE`) for a notice."""
    return bool(conflict.answers) and math.exp(conflict.answers_value) >= CONFLICT_NOTICE


def markdown_table(table: pd.DataFrame) -> str:
    """A table of text as a markdown table, every cell escaped: light for the browser to draw
    (no canvas, no styling pass) and readable by a screen reader."""
    header = "| " + " | ".join(escape_markdown(str(c)) for c in table.columns) + " |"
    rule = "|" + "|".join(" --- " for _ in table.columns) + "|"
    body = [
        "| " + " | ".join(escape_markdown(str(v)) for v in row) + " |"
        for row in table.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])


def cause_table(rows: pd.DataFrame, by: str = "probability") -> pd.DataFrame:
    """The Causes table in words, for the ranking ``by`` (``"probability"`` or ``"if fixed"``).

    By probability: each cause state's probability with the answers and its 90% interval, how
    often it ranks first over the plausible versions of the model, and before any answer. If
    fixed: how many of the features present putting it right alone would be expected to stop,
    the chance that all would, and its probability. Narrow enough for a phone either way: the
    words of the verbal scale are in the summary and the glossary, the change from before any
    answer in the Why view."""
    if by == "if fixed":
        return pd.DataFrame(
            {
                "cause": rows["cause"],
                "fixing stops": [
                    f"{v:.1f} of {n:.1f}" if n != round(n) else f"{v:.1f} of {n:.0f}"
                    for v, n in zip(rows["stops"], rows["features"], strict=True)
                ],
                "all stop (in 100)": [str(per_hundred(x)) for x in rows["all_stop"]],
                "now": [f"{p:.3f}" for p in rows["posterior"]],
            }
        )
    return pd.DataFrame(
        {
            "cause": rows["cause"],
            "now (90% interval)": [
                f"{p:.3f} ({a:.2f}–{b:.2f})"
                for p, a, b in zip(rows["posterior"], rows["low"], rows["high"], strict=True)
            ],
            "first in 100": [str(per_hundred(x)) for x in rows["rank_first"]],
            "before": [f"{p:.3f}" for p in rows["prior"]],
        }
    )


def question_table(priors: Priors, questions: list[RankedQuestion]) -> pd.DataFrame:
    """The Ask-next ranking in words: every unanswered question or trial, best first, with
    its expected information, the largest change it could bring, its effort and its score."""
    return pd.DataFrame(
        {
            "question or trial": [priors.nodes[q.variable].label for q in questions],
            "information (bits)": [f"{q.info_gain:.3f}" for q in questions],
            "largest change": [f"{q.max_change:.3f}" for q in questions],
            "effort (days)": [f"{q.cost:g}" for q in questions],
            "score": [f"{q.score:.3f}" for q in questions],
        },
        columns=[
            "question or trial",
            "information (bits)",
            "largest change",
            "effort (days)",
            "score",
        ],
    )

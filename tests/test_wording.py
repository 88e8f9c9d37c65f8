"""The explorer's words (``model.reports.wording``) and the ``top_change`` its interview stops on.

The verbal scale must agree with its stated bounds, escaped text must render as written,
signs and arrows must agree with the number as shown, the summary must name the cause the
numbers rank first, and the interview's next step must follow the question ranking. The
``top_change`` of ``rank_questions`` is checked against one engine query per answer.
"""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model import default_model, diagnose
from model.diagnosis.crampmodel import Contribution
from model.diagnosis.questions import RankedQuestion, informative_states, rank_questions
from model.diagnosis.scenario import Scenario
from model.diagnosis.view import PAGE_DRAWS, view
from model.knowledge.draws import DRAWS
from model.reports.explorer import cause_rows
from model.reports.wording import (
    CLOSE,
    GLOSSARY,
    SCALE,
    STOP_CHANGE,
    answer_label,
    arrow,
    cause_label,
    cause_table,
    escape_markdown,
    holds,
    likelihood_word,
    markdown_table,
    next_step,
    per_hundred,
    question_table,
    ranks_first_in,
    signed,
    state_word,
    summarise,
    trial_tests,
)

# every hypothesis test here runs with database=None: tests write only to temporary folders
MODEL = default_model()
PRIORS = MODEL.priors
QUESTIONS = [n for ids in PRIORS.questions().values() for n in ids]
TRIALS = [n for n in QUESTIONS if PRIORS.nodes[n].cost > 0]
SPECIAL = "\\`*_{}[]()#+-.!|~<>$:=&;@%^\"' /"
# text as a single line: escaping is about characters; line structure is the caller's
LINE = st.text(
    st.one_of(st.sampled_from(SPECIAL), st.characters(exclude_categories=("Cs", "Cc"))),
    max_size=40,
).map(lambda t: " ".join(t.split()))


def asked(variable: str, top_change: float = 0.0) -> RankedQuestion:
    """A ranked question with only what the wording reads (its variable and top change)."""
    node = PRIORS.nodes[variable]
    return RankedQuestion(
        variable, node.label, node.kind, node.cost, 0.0, top_change, None, top_change, 0.0
    )


def unescape(text: str) -> str:
    """``text`` with one backslash removed before each escaped character."""
    return re.sub(r"\\(.)", r"\1", text, flags=re.S)


# --- the verbal scale ----------------------------------------------------------------------------


def test_scale_words_change_exactly_at_their_bounds():
    bounds = [bound for bound, _ in SCALE]
    assert bounds == sorted(bounds, reverse=True) and bounds[-1] == 0.0
    for k, (bound, word) in enumerate(SCALE):
        assert likelihood_word(bound) == word
        if k + 1 < len(SCALE):
            below = math.nextafter(bound, -math.inf)
            assert likelihood_word(below) == SCALE[k + 1][1]
    assert likelihood_word(1.0) == "very likely" and likelihood_word(0.0) == "very unlikely"


@settings(database=None)
@given(st.floats(0.0, 1.0))
def test_scale_word_is_the_one_whose_range_holds_p(p):
    word = likelihood_word(p)
    k = [w for _, w in SCALE].index(word)
    assert p >= SCALE[k][0]
    assert k == 0 or p < SCALE[k - 1][0]


def test_glossary_states_the_scale_as_coded():
    (meaning,) = [m for term, m in GLOSSARY if term == "Words for probabilities"]
    for bound, word in SCALE:
        if bound > 0:
            assert f"{word}: {bound:.2f}" in meaning
    assert f"below {SCALE[-2][0]:.2f}" in meaning


def test_glossary_says_what_a_plausible_version_of_the_model_is():
    (meaning,) = [m for term, m in GLOSSARY if term == "Plausible versions of the model"]
    assert "stated uncertainty" in meaning and "90% interval" in meaning
    assert f"{PAGE_DRAWS} on this page" in meaning and f"{DRAWS} in reports" in meaning


@pytest.mark.parametrize(
    ("share", "shown"),
    [(0.0, 0), (0.004, 0), (0.005, 1), (0.844, 84), (0.845, 85), (0.996, 100), (1.0, 100)],
)
def test_a_share_of_the_draws_is_a_whole_number_of_100_a_half_rounding_up(share, shown):
    assert per_hundred(share) == shown
    assert ranks_first_in(share) == f"{shown} of 100"
    assert holds(share) == (f"It ranks first in {shown} of 100 plausible versions of the model.")


@given(st.integers(1, 1000).flatmap(lambda k: st.tuples(st.integers(0, k), st.just(k))))
def test_per_hundred_is_the_nearest_whole_number(count_of):
    n, k = count_of
    assert abs(per_hundred(n / k) - 100 * n / k) <= 0.5 + 1e-9


# --- escaping ------------------------------------------------------------------------------------


@settings(database=None)
@given(st.text())
def test_unescaping_an_escaped_text_gives_it_back(text):
    escaped = escape_markdown(text)
    assert unescape(escaped) == text
    # every markdown character is escaped: none is left bare
    bare = re.sub(r"\\.", "", escaped, flags=re.S)
    assert not set(bare) & set("\\`*_{}[]()#+-.!|~<>$:=&")


def commonmark():
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])


def rendered_text(md, source: str) -> str:
    """The text a CommonMark renderer shows for one line of markdown (no markup allowed)."""
    tokens = md.parse(source)
    if not tokens:
        return ""
    assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"], source
    children = tokens[1].children
    assert all(c.type == "text" for c in children), [c.type for c in children]
    return "".join(c.content for c in children)


@pytest.mark.parametrize(
    "text",
    [
        "[Click here](http://example.org)",
        "![t](http://example.org/t.png)",
        "<img src=x onerror=alert(1)>",
        "`code` **bold** _it_ ~~gone~~",
        "# heading",
        "1. item",
        "- item",
        "> quote",
        "| a | b |",
        "AT&amp;T &copy; &#65;",
        "a\\b\\",
        "$x^2$ :material/warning: :red[red]",
    ],
)
def test_escaped_markup_renders_as_written(text):
    assert rendered_text(commonmark(), escape_markdown(text)) == text


@settings(max_examples=300, database=None)
@given(LINE)
def test_any_escaped_line_renders_as_written(text):
    assert rendered_text(commonmark(), escape_markdown(text)) == text


# --- signs and arrows ----------------------------------------------------------------------------


@settings(database=None)
@given(
    st.one_of(
        st.floats(-2.0, 2.0),
        st.sampled_from([0.0, -0.0, 0.0005, -0.0005, 0.00049999, -0.00049999, 0.0015, -1e-17]),
    ),
    st.sampled_from([2, 3]),
)
def test_signed_never_shows_minus_zero_and_arrow_agrees(x, digits):
    shown = signed(x, digits)
    assert not re.fullmatch(r"[-\u2212+]0\.0*", shown), shown
    value = float(shown.replace("\u2212", "-"))
    assert value == round(x, digits)
    assert shown == f"{abs(round(x, digits)):.{digits}f}" or shown[0] in "+\u2212"
    if value == 0:
        assert shown == "0." + "0" * digits and arrow(x, digits) == "off"
    elif value > 0:
        assert shown.startswith("+") and arrow(x, digits) == "up"
    else:
        assert shown.startswith("\u2212") and arrow(x, digits) == "down"
    assert "-" not in shown  # a real minus sign, never a hyphen


# --- words for ids -------------------------------------------------------------------------------


def test_labels_use_words_not_ids():
    assert state_word("not_tried") == "not tried"
    assert cause_label(PRIORS, "calcium", "low") == f"{PRIORS.nodes['calcium'].label}: low"
    soft = {"yes": 4.0, "no": 1.0}
    label = PRIORS.nodes["nocturnal_cramps"].label
    assert answer_label(PRIORS, "nocturnal_cramps", soft) == f"{label}: probably yes"
    assert answer_label(PRIORS, "calcium_trial", "no_change").endswith(": no change")


# --- the summary ---------------------------------------------------------------------------------


def ranked_rows(*rows: tuple[str, str, float, float]) -> list[dict]:
    return [{"cause": c, "state": s, "posterior": p, "prior": q} for c, s, p, q in rows]


def intervals_for(ranked: list[dict], low: float, high: float) -> dict:
    return {r["cause"]: {r["state"]: {"low": low, "high": high}} for r in ranked}


def shares_for(ranked: list[dict], top: float) -> dict:
    """Rank-first shares: ``top`` for the first row, the rest spread over the others."""
    rest = (1.0 - top) / max(1, len(ranked) - 1)
    return {(r["cause"], r["state"]): top if i == 0 else rest for i, r in enumerate(ranked)}


@pytest.mark.parametrize(
    ("second", "close"),
    [(0.40, True), (0.40 - 1e-9, False), (0.45, True), (0.2, False)],
)
def test_summary_names_the_runner_up_only_within_close(second, close):
    ranked = ranked_rows(("calcium", "low", 0.5, 0.26), ("magnesium", "low", second, 0.13))
    assert pytest.approx(0.40) == 0.5 - CLOSE  # the first case is right on the edge
    summary = summarise(
        PRIORS,
        ranked,
        intervals_for(ranked, 0.3, 0.7),
        [],
        [],
        answered=2,
        rank_first=shares_for(ranked, 0.61),
    )
    runner_up = cause_label(PRIORS, "magnesium", "low")
    assert (f"{runner_up} is close behind at {second:.2f}" in summary.text) == close
    assert summary.label == cause_label(PRIORS, "calcium", "low")
    assert summary.text.startswith(f"Your answers point most to {summary.label}, possible at 0.50")
    assert "not firm" in summary.text  # 0.3 and 0.7: unlikely to likely
    assert summary.sentences[-2] == "It ranks first in 61 of 100 plausible versions of the model."
    assert summary.text.endswith("Every question is answered.")


def test_summary_names_the_answers_that_moved_the_top_cause_most():
    ranked = ranked_rows(("calcium", "low", 0.7, 0.26), ("magnesium", "low", 0.1, 0.13))
    moves = [
        Contribution("nocturnal_cramps", "yes", 0.0, 0.3, None),
        Contribution("leg_cramp_side", {"left": 4.0, "right": 1.0}, 0.0, -0.1, None),
        Contribution("female", "yes", 0.0, 0.05, None),
    ]
    questions = [asked("calcium_trial")]
    summary = summarise(
        PRIORS,
        ranked,
        intervals_for(ranked, 0.67, 0.8),
        moves,
        questions,
        3,
        rank_first=shares_for(ranked, 1.0),
    )
    assert summary.word == "likely"
    first = summary.sentences[0]
    assert f"'{answer_label(PRIORS, 'nocturnal_cramps', 'yes')}'" in first
    assert f"'{answer_label(PRIORS, 'leg_cramp_side', moves[1].answer)}'" in first
    assert PRIORS.nodes["female"].label not in first
    assert "firm within the model" in summary.text
    assert "It ranks first in 100 of 100 plausible versions of the model." in summary.sentences
    assert f"try '{PRIORS.nodes['calcium_trial'].label}'" in summary.sentences[-1]


@st.composite
def scenarios(draw) -> Scenario:
    nodes = draw(st.lists(st.sampled_from(QUESTIONS), unique=True, max_size=6))
    scenario = Scenario()
    for node in nodes:
        state = draw(st.sampled_from(PRIORS.nodes[node].states))
        how = draw(st.sampled_from(["sure", "probably"]))
        scenario = scenario.with_answer(node, state, how=how)
    return scenario


@settings(max_examples=25, deadline=None, database=None)
@given(scenarios())
def test_summary_of_a_view_names_its_top_cause(scenario):
    shown = view(MODEL, scenario, draws=20)
    ranked = shown.diagnosis.ranked()
    top = ranked[0]
    summary = summarise(
        PRIORS, ranked, shown.intervals, [], shown.questions, 1, rank_first=shown.rank_first
    )
    assert (summary.cause, summary.state) == (top["cause"], top["state"])
    firm = next(i for i, s in enumerate(summary.sentences) if "within the model" in s)
    share = shown.rank_first[(top["cause"], top["state"])]
    assert summary.sentences[firm + 1] == holds(share)
    assert abs(per_hundred(share) - 100 * share) <= 0.5 + 1e-9
    assert summary.label == cause_label(PRIORS, top["cause"], top["state"])
    assert summary.word == likelihood_word(top["posterior"])
    assert f"{summary.label}, {summary.word} at {top['posterior']:.2f}" in summary.text
    close = ranked[1]["posterior"] >= top["posterior"] - CLOSE
    assert any("is close behind" in s for s in summary.sentences) == close
    if close:
        second = cause_label(PRIORS, ranked[1]["cause"], ranked[1]["state"])
        assert summary.sentences[1].startswith(f"{second} is close behind")


# --- the interview's next step -------------------------------------------------------------------


@st.composite
def rankings(draw) -> tuple[list[dict], frozenset[str], float]:
    variables = draw(st.lists(st.sampled_from(QUESTIONS), unique=True, max_size=6))
    questions = [asked(v, draw(st.floats(0.0, 0.5))) for v in variables]
    skipped = frozenset(draw(st.sets(st.sampled_from(variables))) if variables else ())
    return questions, skipped, draw(st.floats(0.001, 0.3))


@settings(database=None)
@given(rankings(), st.integers(0, 49))
def test_next_step_asks_the_first_question_not_skipped_until_none_could_matter(case, answered):
    questions, skipped, stop = case
    step = next_step(PRIORS, questions, answered, skipped=skipped, stop_change=stop)
    assert step.progress == f"{answered} answered, {len(questions)} left"
    left = [q for q in questions if q.variable not in skipped]
    if not left:
        assert step.done and step.variable is None
        assert step.reason.startswith(
            "Every question is answered or skipped" if questions else "Every question is answered:"
        )
    elif all(q.top_change < stop for q in left):
        assert step.done and step.variable is None and not step.states
        assert f"more than {stop:.2f}" in step.reason
    else:
        variable = left[0].variable
        node = PRIORS.nodes[variable]
        assert not step.done and not step.reason
        assert step.variable == variable
        assert (step.label, step.question) == (node.label, node.question)
        assert step.states == tuple(informative_states(MODEL.priors, variable))
        assert step.kind == ("trial" if variable in TRIALS else "question")
        assert step.cost == node.cost


def test_next_step_drops_a_trials_not_tried():
    step = next_step(PRIORS, [asked("calcium_trial", 0.2)], 0)
    assert "not_tried" in PRIORS.nodes["calcium_trial"].states
    assert step.states == ("improved", "no_change", "worsened")
    assert step.kind == "trial" and step.cost > 0


def test_next_step_stops_on_the_default_threshold():
    questions = [asked("female", STOP_CHANGE / 2)]
    assert next_step(PRIORS, questions, 3).done
    questions.append(asked("toe_cramps", STOP_CHANGE))
    step = next_step(PRIORS, questions, 3)
    assert not step.done and step.variable == "female"  # the best first, if any could matter
    assert next_step(PRIORS, questions, 3, skipped=frozenset({"toe_cramps"})).done


# --- tables --------------------------------------------------------------------------------------


def test_cause_table_has_a_row_per_cause_state_in_words():
    scenario = Scenario(evidence={"leg_cramp_side": "left"}, probably={"nocturnal_cramps": "yes"})
    rows = cause_rows(MODEL, view(MODEL, scenario, draws=20))
    table = cause_table(rows)
    assert len(table) == len(rows) == len(MODEL.abnormal_states())
    assert table.columns[0] == "cause" and list(table["cause"]) == list(rows["cause"])
    for cells, row in zip(table.itertuples(index=False), rows.itertuples(), strict=True):
        text = " ".join(map(str, cells))
        assert f"{row.posterior:.3f}" in text and f"{row.prior:.3f}" in text
        assert "-0.000" not in text and "\u22120.000" not in text
    assert list(table["first in 100"]) == [str(per_hundred(x)) for x in rows["rank_first"]]
    counts = [int(cell) for cell in table["first in 100"]]
    assert abs(sum(counts) - 100) <= len(counts) / 2  # shares sum to 1, each rounded once
    lines = markdown_table(table).split("\n")
    assert len(lines) == 2 + len(rows)


@settings(max_examples=60, database=None)
@given(
    st.integers(1, 4).flatmap(
        lambda n: st.tuples(
            st.lists(LINE, min_size=n, max_size=n, unique=True),
            st.lists(st.lists(LINE, min_size=n, max_size=n), max_size=4),
        )
    )
)
def test_markdown_table_shows_every_cell_as_written(case):
    columns, rows = case
    text = markdown_table(pd.DataFrame(rows, columns=columns))
    lines = text.split("\n")
    assert len(lines) == 2 + len(rows)
    tokens = commonmark().parse(text)
    cells = [t for t in tokens if t.type == "inline"]
    assert [t.type for t in tokens[:1]] == ["table_open"]
    shown = ["".join(c.content for c in t.children) for t in cells]
    assert shown == [*columns, *(cell for row in rows for cell in row)]


# --- top_change against brute force --------------------------------------------------------------


@pytest.mark.parametrize(
    "scenario",
    [
        Scenario(),
        Scenario(evidence={"leg_cramp_side": "left", "female": "yes"}),
        Scenario(evidence={"strenuous_exercise": "yes"}, probably={"nocturnal_cramps": "yes"}),
        Scenario(evidence={"toe_cramps": "yes"}, do={"calcium_supplements": "yes"}),
    ],
)
def test_top_change_is_the_largest_move_of_the_top_cause(scenario):
    engine = MODEL.engine
    soft = scenario.soft_evidence(PRIORS)
    before = engine.posteriors(MODEL.causes, scenario.evidence, soft, scenario.do)
    cause, state = max(MODEL.abnormal_states(), key=lambda cs: before[cs[0]][cs[1]])
    ranking = rank_questions(MODEL, scenario.evidence, soft, do=scenario.do)
    assert {q.variable for q in ranking} == set(QUESTIONS) - scenario.answered()
    for q in ranking:
        answers = engine.posteriors([q.variable], scenario.evidence, soft, scenario.do)
        moves = [0.0]
        for answer in informative_states(MODEL.priors, q.variable):
            if answers[q.variable][answer] <= 0:
                continue
            after = engine.posteriors(
                [cause], {**scenario.evidence, q.variable: answer}, soft, scenario.do
            )
            moves.append(abs(after[cause][state] - before[cause][state]))
        assert q.top_change == pytest.approx(max(moves), abs=1e-9), q.variable
        assert q.top_change <= q.max_change + 1e-12


def test_question_table_lists_every_ranked_question_in_words():
    scenario = Scenario(evidence={"leg_cramp_side": "left"})
    questions = rank_questions(MODEL, scenario.evidence, cost_weight=0.05)
    table = question_table(MODEL.priors, questions)
    assert len(table) == len(questions) > 0
    assert list(table["question or trial"]) == [
        MODEL.priors.nodes[q.variable].label for q in questions
    ]
    for (_, info, change, effort, score), q in zip(
        table.itertuples(index=False), questions, strict=True
    ):
        assert float(info) == pytest.approx(q.info_gain, abs=5e-4)
        assert float(change) == pytest.approx(q.max_change, abs=5e-4)
        assert float(effort) == q.cost and float(score) == pytest.approx(q.score, abs=5e-4)
    assert not table[table["effort (days)"] != "0"].empty  # trials carry their days
    assert not [v for v in table["question or trial"] if "_" in v]  # labels, never ids


def test_a_trial_says_which_causes_a_change_would_point_to_and_what_fixing_them_stops():
    model = default_model()
    d = diagnose({"leg_cramp_side": "left", "nocturnal_cramps": "yes"}, model=model, draws=2)
    said = trial_tests(model.priors, "calcium_trial", d.if_fixed)
    calcium = d.if_fixed[("calcium", "low")]
    # calcium_trial's links come from calcium, dehydration and sodium: the two whose fixing
    # would stop most are named, the larger first, with their numbers
    linked = [("calcium", "low"), ("calcium", "high"), ("dehydration", "yes"), ("sodium", "low")]
    second = sorted(linked, key=lambda cs: -d.if_fixed[cs].expected_disablement)[1]
    assert said.startswith(
        "A change after it would point to 'Calcium status: low' (putting it right alone would "
        f"be expected to stop about {calcium.expected_disablement:.1f} of your 2 features)"
    )
    assert f"or to '{cause_label(model.priors, *second)}'" in said
    assert "_" not in said  # labels, never ids
    # a plain question is no trial; with no feature reported a trial says nothing of stopping
    assert trial_tests(model.priors, "nocturnal_cramps", d.if_fixed) is None
    none = diagnose({"blood_thinners": "yes"}, model=model, draws=2)
    assert trial_tests(model.priors, "calcium_trial", none.if_fixed) is None

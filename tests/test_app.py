"""The what-if explorer page (``app.py``) driven through Streamlit's AppTest.

Every panel is exercised and its numbers must equal the model API's for the same answers:
``model.reports.explorer`` (``view`` at the page's ``PAGE_DRAWS``, ``cause_rows``, ``why``,
``compare``, ``neighbourhood``, ``node_table``, ``network_dot``, ``case_json``),
``model.diagnosis.questions.rank_questions``, ``model.reports.wording`` (``summarise``,
``next_step``, ``cause_table``) and ``diagnose``. AppTest runs the script in this process, so the
page's cached model is the same ``default_model()`` the expected numbers come from.

Tabs are drawn lazily: only the open one has content. A test opens one with
``open_view(at, name)`` (``session_state["view"]`` and a rerun). The URL is hostile input:
whatever in it is not a valid answer is named in a plain ``st.text`` line and reaches no other
element.
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pdfpages import pdf_text
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.proto.Metric_pb2 import Metric as MetricProto
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Error, Success, Warning

import model.diagnosis.view
import model.reports.wording
from bench.app_rerun import send_answers
from model import ImpossibleEvidenceError, default_model, diagnose
from model.diagnosis.questions import RankedQuestion, rank_questions
from model.diagnosis.red_flags import RaisedFlag
from model.diagnosis.scenario import B_PREFIX, Scenario, from_query, to_query
from model.diagnosis.view import PAGE_DRAWS, view, why
from model.reports.charts import neighbourhood_chart, wrap
from model.reports.explorer import (
    case_json,
    cause_rows,
    compare,
    neighbourhood,
    network_dot,
    node_claims,
    node_table,
    view_key,
)
from model.reports.questions_form import form_data
from model.reports.wording import (
    GLOSSARY,
    answer_label,
    arrow,
    cause_label,
    cause_table,
    escape_markdown,
    intervention_label,
    likelihood_word,
    markdown_table,
    next_step,
    per_hundred,
    question_table,
    signed,
    state_word,
    summarise,
    trial_tests,
)

APP = str(Path(__file__).parent.parent / "app.py")
MODEL = default_model()
PRIORS = MODEL.priors
QUESTIONS = [n for ids in PRIORS.questions().values() for n in ids]
SETTABLE_B = QUESTIONS + MODEL.causes
VIEWS = ["Causes", "Interview", "Why", "Ask next", "What-if", "Network", "Case book", "Download"]
DIRECTION = {
    "off": MetricProto.MetricDirection.NONE,
    "up": MetricProto.MetricDirection.UP,
    "down": MetricProto.MetricDirection.DOWN,
}
PENDING: weakref.WeakKeyDictionary[AppTest, dict[str, str]] = weakref.WeakKeyDictionary()
PROBLEMS_HEADER = "**Some parts of the link were ignored** (the rest of it was used):"
TIMING = "server time for this rerun"


# --- driving the page ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def case_book_in_tmp(tmp_path, monkeypatch) -> Path:
    """Every page's case book is a fresh SQLite file of the test's own (never the user's)."""
    path = tmp_path / "cases.sqlite3"
    monkeypatch.setenv("CRAMPNET_DB", f"sqlite:///{path}")
    return path


def start(params: dict[str, str] | None = None, **more: str) -> AppTest:
    """A fresh page, opened with ``params`` (and ``more``) as its query string."""
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in {**(params or {}), **more}.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def rerun(at: AppTest) -> AppTest:
    """Run the page again, sending the sidebar answers given since the last run (if any) the
    way the questions' component sends a change: its ``answer`` event."""
    if at in PENDING:
        send_answers(at, PENDING.pop(at))
    else:
        at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def view_control(at: AppTest):
    """The row of view buttons (a segmented control, key ``view``)."""
    (control,) = [w for w in at.get("button_group") if w.key == "view"]
    return control


def open_view(at: AppTest, name: str):
    """Choose view ``name`` (a rerun) and return its panel: the one view drawn."""
    at.session_state["view"] = name
    rerun(at)
    return shown_view(at, name)


def shown_view(at: AppTest, name: str):
    """The panel of view ``name``, checked to be the one view the page draws now."""
    control = view_control(at)
    assert control.options == VIEWS and control.value == name
    panels = [b for b in walk(at.main) if "-view-" in getattr(b.proto, "id", "")]
    assert [p.proto.id.rsplit("-view-", 1)[1] for p in panels] == [
        view_key(name).removeprefix("view-")
    ], "one view drawn"
    return panels[0]


def answer(at: AppTest, node: str, choice: str) -> None:
    """Pick ``choice`` ("left", "probably yes", "not answered") in the sidebar; sent with the
    next :func:`rerun`."""
    PENDING.setdefault(at, {})[node] = choice


def form(at: AppTest) -> dict:
    """What the page gave the sidebar's questions component (:func:`form_data`)."""
    (element,) = at.sidebar.get("bidi_component")
    return json.loads(element.proto.json or element.proto.mixed.json)


def questions_shown(at: AppTest) -> dict[str, dict]:
    """Every question in the sidebar, in order: its label, help, choices and current choice."""
    return {q["id"]: q for g in form(at)["groups"] for q in g["questions"]}


def chosen(at: AppTest, node: str) -> str:
    """The choice the sidebar shows for ``node`` ("left", "probably yes", "not answered")."""
    return questions_shown(at)[node]["chosen"]


def address(at: AppTest) -> dict[str, str]:
    """The query string the page puts in the address bar after a whole run (the questions'
    component writes it: ``st.query_params`` would have Streamlit draw the page twice)."""
    return form(at)["address"]


def scenario_of(choices: dict[str, str]) -> Scenario:
    """The scenario of sidebar choices ("left", "probably yes")."""
    scenario = Scenario()
    for node, choice in choices.items():
        how = "probably" if choice.startswith("probably ") else "sure"
        scenario = scenario.with_answer(node, choice.removeprefix("probably "), how=how)
    return scenario


def expected_view(scenario: Scenario, cost_weight: float = 0.0):
    """What the page computes for ``scenario``: the view at the page's number of draws."""
    return view(MODEL, scenario, cost_weight=cost_weight, draws=PAGE_DRAWS)


def walk(node) -> Iterator:
    """Every element under ``node``, in page order."""
    yield node
    for child in getattr(node, "children", {}).values():
        yield from walk(child)


def first_index(elements: list, kind: type) -> int:
    return next(i for i, e in enumerate(elements) if isinstance(e, kind))


def chart_data(chart) -> tuple[dict, pd.DataFrame | None, dict[str, pd.DataFrame]]:
    """A Vega-Lite chart's spec, its main data and its named data sets, as sent to the browser
    (Streamlit moves the inline data out of the spec into Arrow tables)."""
    proto = chart.proto
    data = convert_arrow_bytes_to_pandas_df(proto.data.data) if proto.data.data else None
    named = {d.name: convert_arrow_bytes_to_pandas_df(d.data.data) for d in proto.datasets}
    return json.loads(proto.spec), data, named


def strings_in(value) -> Iterator[str]:
    """Every string in a protobuf message (recursively), a list of them or a string."""
    if isinstance(value, str):
        yield value
    elif hasattr(value, "ListFields"):
        for _, item in value.ListFields():
            yield from strings_in(item)
    elif not isinstance(value, bytes | int | float | bool):
        for item in value:
            yield from strings_in(item)


def text_lines(at: AppTest) -> list[str]:
    """The plain ``st.text`` lines of the page (the link's problems)."""
    return [e.value for root in (at.main, at.sidebar) for e in walk(root) if e.type == "text"]


def shown_strings(at: AppTest) -> list[str]:
    """Every string any element but a plain text line sends to the browser (labels, markdown,
    alerts, captions, options, help, chart specs), in page order; without the rerun's timing
    and the link problems' container, which holds only text lines and its fixed header."""
    out: list[str] = []

    def visit(node) -> None:
        children = list(getattr(node, "children", {}).values())
        if any(getattr(c, "type", "") == "text" for c in children):
            assert all(c.type in ("text", "markdown") for c in children)
            assert [c.value for c in children if c.type == "markdown"] == [PROBLEMS_HEADER]
            return
        if getattr(node, "type", "") == "text":
            raise AssertionError("a text line outside the link problems' container")
        proto = getattr(node, "proto", None)
        if proto is not None and not (node.type == "metric" and proto.label == TIMING):
            out.extend(strings_in(proto))
        for child in children:
            visit(child)

    visit(at.main)
    visit(at.sidebar)
    return out


def parse_table(text: str) -> tuple[list[str], list[list[str]]]:
    """A markdown table's header and rows, each cell unescaped."""
    lines = text.split("\n")
    assert re.fullmatch(r"\|( --- \|)+", lines[1]), lines[1]

    def cells(line: str) -> list[str]:
        assert line.startswith("| ") and line.endswith(" |"), line
        parts = re.split(r"(?<!\\)\|", line[1:-1])
        return [re.sub(r"\\(.)", r"\1", p.strip()) for p in parts]

    return cells(lines[0]), [cells(line) for line in lines[2:]]


def numbers(cell: str) -> list[str]:
    """The decimal numbers written in a table cell, as written."""
    return re.findall(r"\d+\.\d+", cell)


def assert_metric(metric, label: str, posterior: float, prior: float, help_text: str = "") -> None:
    """A metric shows the posterior, the signed change from the prior and the matching arrow."""
    change = posterior - prior
    assert metric.label == label
    assert metric.value == f"{posterior:.3f}"
    assert metric.proto.delta == f"{signed(change)} from {prior:.3f} before any answer"
    assert "-0.000" not in metric.proto.delta and "\u22120.000" not in metric.proto.delta
    assert metric.proto.direction == DIRECTION[arrow(change)]
    assert metric.proto.color == MetricProto.MetricColor.GRAY
    if help_text:
        assert metric.proto.help == help_text


def table_on_demand(at: AppTest, view: str, key: str, label: str):
    """A view's table, asked for with its toggle (``key``, ``label``; off on a fresh page:
    no table is drawn until asked for); returns the view and the table's markdown element."""
    tab = shown_view(at, view)
    toggle = tab.toggle(key=key)
    assert toggle.label == label
    if not toggle.value:
        assert not [m for m in tab.markdown if m.value.startswith("| ")]
        toggle.set_value(True)
        rerun(at)
        tab = shown_view(at, view)
    (table,) = [m for m in tab.markdown if m.value.startswith("| ")]
    return tab, table


def causes_table(at: AppTest):
    """The Causes view's table in words, and the view."""
    return table_on_demand(at, "Causes", "causes_table", "Show the numbers as a table")


def assert_causes_view(at: AppTest, scenario: Scenario, cost_weight: float = 0.0) -> None:
    """The Causes view shows exactly ``cause_rows`` and ``diagnose`` for ``scenario``."""
    open_view(at, "Causes")
    tab, table = causes_table(at)
    shown = expected_view(scenario, cost_weight)
    rows = cause_rows(MODEL, shown)
    assert table.value == markdown_table(cause_table(rows))
    header, body = parse_table(table.value)
    assert header == list(cause_table(rows).columns) and header[0] == "cause"
    interval_at = next(i for i, h in enumerate(header) if "interval" in h)
    first_at = header.index("first in 100")
    prior_at = next(i for i, h in enumerate(header) if h.startswith("before"))
    ranked = diagnose(scenario.evidence, scenario.soft_evidence(PRIORS), do=scenario.do).ranked()
    assert len(body) == len(ranked) == len(MODEL.abnormal_states())
    for cells, row in zip(body, ranked, strict=True):
        # each row: the cause, its posterior, its 90% interval and its prior, as diagnose says
        cause, state = row["cause"], row["state"]
        interval = shown.intervals[cause][state]
        assert cells[0] == f"{PRIORS.nodes[cause].label}: {state}"
        now, low, high = numbers(cells[interval_at])
        assert interval_at == 1 and now == f"{row['posterior']:.3f}"
        low, high = float(low), float(high)
        assert low == pytest.approx(interval["low"], abs=0.0051)
        assert high == pytest.approx(interval["high"], abs=0.0051)
        assert numbers(cells[prior_at]) == [f"{row['prior']:.3f}"]
        # how often it ranks first over the page's draws, a whole number of 100
        share = shown.rank_first[(cause, state)]
        count = re.fullmatch(r"(\d+)", cells[first_at]).group(1)
        assert abs(int(count) - 100 * share) <= 0.5 + 1e-9
        assert interval["low"] <= interval["high"]
        assert not any(c.startswith(("-0.000", "\u22120.000")) for c in cells)
    assert not tab.metric  # the chart and the table say it: no third copy to draw
    (chart,) = tab.get("vega_lite_chart")
    _, data, _ = chart_data(chart)
    assert list(data["posterior"]) == pytest.approx(list(rows["posterior"]), abs=1e-12)
    assert list(data["low"]) == pytest.approx(list(rows["low"]), abs=1e-12)
    assert list(data["prior"]) == pytest.approx(list(rows["prior"]), abs=1e-12)


def expected_summary(scenario: Scenario, cost_weight: float = 0.0):
    shown = expected_view(scenario, cost_weight)
    ranked = shown.diagnosis.ranked()
    top = ranked[0]
    reason = why(MODEL, shown, top["cause"], top["state"])
    return summarise(
        PRIORS,
        ranked,
        shown.intervals,
        reason.contributions,
        shown.questions,
        len(scenario.answered()),
        rank_first=shown.rank_first,
        if_fixed=shown.diagnosis.if_fixed,
    )


def summary_element(at: AppTest):
    """The "In short" paragraph: the markdown right after its subheader."""
    elements = list(walk(at.main))
    heading = next(
        i for i, e in enumerate(elements) if e.type == "subheader" and e.value == "In short"
    )
    return elements[heading + 1], heading


def flag_text(flag: RaisedFlag, prefix: str = "") -> str:
    return f"{prefix}**{escape_markdown(flag.title)}.** {escape_markdown(flag.message)}"


# --- layout: the notice, red flags and the summary come first -------------------------------------


def test_notice_red_flags_and_summary_come_before_the_views():
    at = start()
    assert at.title[0].value.startswith("crampnet")
    elements = list(walk(at.main))
    notice = first_index(elements, Warning)
    assert elements[notice].value == escape_markdown(PRIORS.meta.notice)
    assert "Not medical advice" in PRIORS.meta.notice
    ok = first_index(elements, Success)
    assert "No red flag" in elements[ok].value
    summary, heading = summary_element(at)
    views = elements.index(view_control(at))
    assert notice < ok < heading < elements.index(summary) < views
    assert all(e.type not in ("metric", "vega_lite_chart") for e in elements[:views])
    assert view_control(at).options == VIEWS

    answer(at, "neurological_condition", "yes")
    answer(at, "leg_cramp_side", "left")
    answer(at, "low_potassium_intake", "yes")
    rerun(at)
    elements = list(walk(at.main))
    flags = diagnose(
        {"neurological_condition": "yes", "leg_cramp_side": "left", "low_potassium_intake": "yes"}
    ).red_flags
    assert {f.id for f in flags} >= {"neurological", "cardiovascular"}
    shown = [e for e in elements if isinstance(e, Error)]
    assert [e.value for e in shown] == [flag_text(f) for f in flags]
    assert any(e.type == "subheader" and e.value == f"Red flags ({len(flags)})" for e in elements)
    summary, heading = summary_element(at)
    views = elements.index(view_control(at))
    assert first_index(elements, Warning) < elements.index(shown[0])
    assert elements.index(shown[-1]) < heading < elements.index(summary) < views
    assert not at.success


@pytest.mark.parametrize(
    "choices",
    [
        {},
        {"leg_cramp_side": "left", "nocturnal_cramps": "probably yes"},
        {"strenuous_exercise": "yes", "cramps_during_exercise": "yes"},
        {"low_fluid_intake": "yes", "hot_humid_conditions": "yes", "calcium_trial": "no_change"},
    ],
)
def test_summary_names_the_top_cause_in_words(choices):
    scenario = scenario_of(choices)
    at = start(to_query(scenario))
    expected = expected_summary(scenario)
    summary, _ = summary_element(at)
    assert summary.value == escape_markdown(expected.text)
    top = expected_view(scenario).diagnosis.ranked()[0]
    assert (expected.cause, expected.state) == (top["cause"], top["state"])
    label = cause_label(PRIORS, top["cause"], top["state"])
    assert escape_markdown(label) in summary.value
    assert expected.word == likelihood_word(top["posterior"])
    assert escape_markdown(f"{expected.word} at {top['posterior']:.2f}") in summary.value
    # how far the top cause holds across the model's uncertainty, over the page's draws
    share = expected_view(scenario).rank_first[(top["cause"], top["state"])]
    held = re.search(
        r"It ranks first in (\d+) of 100 plausible versions of the model\\\.", summary.value
    )
    assert held and abs(int(held.group(1)) - 100 * share) <= 0.5 + 1e-9
    assert ("No answers yet" in summary.value) == (not choices)


def test_glossary_and_debug_expanders():
    at = start()
    (glossary,) = [e for e in at.main.expander if e.label == "What the words mean"]
    assert [m.value for m in glossary.markdown] == [
        "\n".join(
            f"- **{escape_markdown(term)}**: {escape_markdown(meaning)}"
            for term, meaning in GLOSSARY
        )
    ]
    timing = [m for m in at.metric if m.label == TIMING]
    assert len(timing) == 1 and timing[0].value.endswith(" ms")
    assert float(timing[0].value.removesuffix(" ms")) > 0
    assert any(PRIORS.sha256 in c.value for c in at.caption)


def test_only_the_chosen_view_is_drawn():
    at = start(leg_cramp_side="left")
    assert shown_view(at, "Causes").children  # the first view, before any choice
    for name in [*VIEWS[1:], VIEWS[0]]:
        view = open_view(at, name)  # checks that no other view is drawn
        assert view.children, name
    assert address(at) == {"leg_cramp_side": "left"}


# --- the sidebar and the Causes tab --------------------------------------------------------------


def test_prior_page_equals_the_model_prior():
    at = start()
    assert_causes_view(at, Scenario())
    asked = questions_shown(at)
    assert list(asked) == QUESTIONS
    assert all(q["chosen"] == "not answered" for q in asked.values())
    assert address(at) == {}
    assert at.sidebar.markdown[0].value == f"**0 of {len(QUESTIONS)} answered.**"
    assert [g["title"] for g in form(at)["groups"]] == [
        f"{title} (0 of {len(ids)} answered)" for title, ids in PRIORS.questions().items()
    ]


def test_the_questions_component_gets_every_question_in_words():
    """The sidebar's one component is given each group (its count of answers), each
    question's label, full question and choices in words, and the address to show."""
    at = start(leg_cramp_side="left", nocturnal_cramps="~yes")
    data = form(at)
    chosen_now = {"leg_cramp_side": "left", "nocturnal_cramps": "probably yes"}
    assert data == form_data(
        PRIORS,
        {n: chosen_now.get(n, "not answered") for n in QUESTIONS},
        {"leg_cramp_side": "left", "nocturnal_cramps": "~yes"},
    )
    groups = PRIORS.questions()
    assert [g["open"] for g in data["groups"]] == [t.startswith("Where") for t in groups]
    for group, (title, ids) in zip(data["groups"], groups.items(), strict=True):
        done = sum(n in chosen_now for n in ids)
        assert group["title"] == f"{title} ({done} of {len(ids)} answered)"
        for q, node_id in zip(group["questions"], ids, strict=True):
            node = PRIORS.nodes[node_id]
            assert (q["id"], q["label"]) == (node_id, node.label)
            assert q["help"].startswith(node.question)
            words = [word for _, word in q["choices"]]
            assert words == [state_word(c) for c, _ in q["choices"]]
            assert not any("_" in w for w in words)  # words, never ids


@pytest.mark.parametrize(
    "event",
    [
        {"bogus": "yes"},
        {"leg_cramp_side": "sideways"},
        {"calcium": "low"},  # a cause: not a question the sidebar asks
        {"leg_cramp_side": ["left"]},
        ["leg_cramp_side", "left"],
        "leg_cramp_side=left",
        None,
    ],
    ids=repr,
)
def test_a_bad_event_from_the_questions_component_changes_nothing(event):
    """Whatever the component's event carries that is not a question and one of its choices
    is dropped: no answer, no exception; a good answer beside it still counts."""
    at = rerun(start(nocturnal_cramps="yes"))  # a widget's first run differs from the next
    before = shown_strings(at)
    PENDING[at] = event
    rerun(at)
    assert shown_strings(at) == before
    assert_causes_view(at, Scenario(evidence={"nocturnal_cramps": "yes"}))
    if isinstance(event, dict):
        PENDING[at] = {**event, "female": "yes"}
        rerun(at)
        assert chosen(at, "female") == "yes"
        assert_causes_view(at, Scenario(evidence={"nocturnal_cramps": "yes", "female": "yes"}))


def test_sidebar_answers_drive_the_causes_table():
    at = start()
    raw = ["not answered", "none", "left", "right", "both"]
    raw += [f"probably {s}" for s in raw[1:]]
    side = questions_shown(at)["leg_cramp_side"]["choices"]
    assert [value for value, _ in side] == raw
    trial = [word for _, word in questions_shown(at)["calcium_trial"]["choices"]]
    assert "not tried" in trial and "probably no change" in trial  # words, not ids
    answer(at, "leg_cramp_side", "left")
    rerun(at)
    assert_causes_view(at, Scenario(evidence={"leg_cramp_side": "left"}))
    answer(at, "nocturnal_cramps", "probably yes")
    answer(at, "calcium_trial", "no_change")
    rerun(at)
    assert chosen(at, "calcium_trial") == "no_change"
    scenario = Scenario(
        evidence={"leg_cramp_side": "left", "calcium_trial": "no_change"},
        probably={"nocturnal_cramps": "yes"},
    )
    assert_causes_view(at, scenario)
    assert address(at) == to_query(scenario)
    assert at.sidebar.markdown[0].value == f"**3 of {len(QUESTIONS)} answered.**"
    counts = {
        title: sum(n in scenario.answered() for n in ids)
        for title, ids in PRIORS.questions().items()
    }
    assert [g["title"] for g in form(at)["groups"]] == [
        f"{title} ({counts[title]} of {len(ids)} answered)"
        for title, ids in PRIORS.questions().items()
    ]
    # back to "not answered" drops the answer everywhere
    answer(at, "calcium_trial", "not answered")
    rerun(at)
    scenario = scenario.with_answer("calcium_trial", None)
    assert_causes_view(at, scenario)
    assert address(at) == to_query(scenario)


def test_metric_arrows_follow_the_rounded_change():
    """The Why view's metric: no arrow and no sign for a change that rounds to zero (never
    "-0.000"), up for a rise and down for a fall."""
    at = start()
    (metric,) = open_view(at, "Why").metric
    assert metric.proto.delta.startswith("0.000 from ")
    assert metric.proto.direction == MetricProto.MetricDirection.NONE
    scenario = Scenario(evidence={"strenuous_exercise": "yes", "nocturnal_cramps": "no"})
    at = start(to_query(scenario))
    rows = cause_rows(MODEL, expected_view(scenario))
    rise = rows.loc[rows["change"].round(3) > 0].iloc[0]
    fall = rows.loc[rows["change"].round(3) < 0].iloc[0]
    open_view(at, "Why")
    for row, direction in ((rise, "UP"), (fall, "DOWN")):
        at.session_state["why_cause"] = row.id  # pinned: "cause=state"
        rerun(at)
        (metric,) = shown_view(at, "Why").metric
        assert_metric(metric, row.cause, row.posterior, row.prior)
        assert metric.proto.direction == getattr(MetricProto.MetricDirection, direction)


# --- interview -----------------------------------------------------------------------------------


def assert_interview(tab, scenario: Scenario, skipped: frozenset[str] = frozenset()):
    """The Interview tab shows ``next_step`` for ``scenario``; returns that step."""
    step = next_step(
        PRIORS, expected_view(scenario).questions, len(scenario.answered()), skipped=skipped
    )
    assert tab.markdown[0].value == f"**{step.progress}.**"
    assert step.progress == f"{len(scenario.answered())} answered, {step.left} left"
    if step.done:
        (done,) = tab.success
        assert done.value == escape_markdown(step.reason)
        assert not tab.button
        return step
    assert not tab.success
    assert tab.subheader[0].value == escape_markdown(step.question)
    keys = [b.key for b in tab.button]
    assert keys == [f"iv_{step.variable}_{s}" for s in step.states] + [f"iv_skip_{step.variable}"]
    assert [b.label for b in tab.button][:-1] == [state_word(s) for s in step.states]
    assert "not_tried" not in step.states
    return step


def test_interview_answers_into_scenario_a():
    scenario = Scenario(evidence={"leg_cramp_side": "left"})
    at = start(to_query(scenario))
    step = assert_interview(open_view(at, "Interview"), scenario)
    assert step.progress == f"1 answered, {len(QUESTIONS) - 1} left"
    assert step.variable == expected_view(scenario).questions[0].variable
    for _ in range(2):
        state = step.states[-1]
        at.button(key=f"iv_{step.variable}_{state}").click()
        rerun(at)
        assert chosen(at, step.variable) == state
        scenario = scenario.with_answer(step.variable, state)
        assert address(at) == to_query(scenario)
        step = assert_interview(shown_view(at, "Interview"), scenario)
    assert step.progress == f"3 answered, {len(QUESTIONS) - 3} left"
    assert_causes_view(at, scenario)


def test_interview_skip_moves_to_the_next_question_and_reset_forgets_skips():
    scenario = Scenario(probably={"nocturnal_cramps": "yes"})
    at = start(to_query(scenario))
    first = assert_interview(open_view(at, "Interview"), scenario)
    at.button(key=f"iv_skip_{first.variable}").click()
    rerun(at)
    second = assert_interview(shown_view(at, "Interview"), scenario, frozenset({first.variable}))
    assert second.variable != first.variable
    assert second.progress == first.progress  # a skip answers nothing
    assert address(at) == to_query(scenario)
    assert chosen(at, first.variable) == "not answered"
    at.button(key=f"iv_skip_{second.variable}").click()
    rerun(at)
    third = assert_interview(
        shown_view(at, "Interview"), scenario, frozenset({first.variable, second.variable})
    )
    assert third.variable not in (first.variable, second.variable)
    (reset,) = [b for b in at.sidebar.button if b.label == "Reset all answers"]
    reset.click()
    rerun(at)
    assert_interview(shown_view(at, "Interview"), Scenario())


def interview_path(pick: int) -> list[tuple[str, str]]:
    """The answers the interview asks for when one always answers ``states[pick]``, up to the
    point where ``next_step`` says done."""
    scenario, path = Scenario(), []
    for _ in QUESTIONS:
        step = next_step(PRIORS, expected_view(scenario).questions, len(scenario.answered()))
        if step.done:
            return path
        path.append((step.variable, step.states[pick]))
        scenario = scenario.with_answer(step.variable, step.states[pick])
    raise AssertionError("the interview never stops")


def test_interview_stops_when_no_answer_could_move_the_top_cause():
    path = interview_path(0)
    assert 1 < len(path) < 20, path
    scenario = Scenario(evidence=dict(path[:-1]))
    at = start(to_query(scenario))
    step = assert_interview(open_view(at, "Interview"), scenario)
    assert (step.variable, step.states[0]) == path[-1]
    at.button(key=f"iv_{path[-1][0]}_{path[-1][1]}").click()
    rerun(at)
    scenario = Scenario(evidence=dict(path))
    step = assert_interview(shown_view(at, "Interview"), scenario)
    assert step.done and step.left > 0
    questions = expected_view(scenario).questions
    assert max(q.top_change for q in questions) < model.reports.wording.STOP_CHANGE
    assert "more questions would not change the picture much" in step.reason


def test_interview_stop_threshold_is_the_one_next_step_uses(monkeypatch):
    """With a threshold no answer can reach, the interview stops before the first question."""
    monkeypatch.setattr(
        model.reports.wording,
        "next_step",
        lambda *args, **kwargs: next_step(*args, **kwargs, stop_change=1.01),
    )
    at = start()
    tab = open_view(at, "Interview")
    (done,) = tab.success
    assert done.value.startswith(escape_markdown("No remaining answer could move"))
    assert escape_markdown("1.01") in done.value
    assert not tab.button


# --- why -----------------------------------------------------------------------------------------


def assert_why_tab(tab, scenario: Scenario, cause: str, state: str) -> dict:
    """The Why tab explains ``cause=state`` with ``why``'s numbers for ``scenario``."""
    reason = why(MODEL, expected_view(scenario), cause, state)
    (metric,) = tab.metric
    assert_metric(metric, cause_label(PRIORS, cause, state), reason.posterior, reason.prior)
    posterior = diagnose(scenario.evidence, scenario.soft_evidence(PRIORS)).posterior
    assert reason.posterior == pytest.approx(posterior[cause][state], abs=1e-12)
    captions = [c.value for c in tab.caption]
    if reason.contributions:
        assert any("the bars need not add up" in c for c in captions)
        (chart,) = tab.get("vega_lite_chart")
        _, data, _ = chart_data(chart)
        shown = dict(zip(data["answer"], data["change"], strict=True))
        expected = {
            "\n".join(wrap(answer_label(PRIORS, c.variable, c.answer))): c.delta
            for c in reason.contributions
        }
        assert shown.keys() == expected.keys()
        for key, delta in expected.items():
            assert shown[key] == pytest.approx(delta, abs=1e-12)
        changes = list(data["change"].abs())
        assert changes == sorted(changes, reverse=True)
        assert not tab.info
    else:
        assert any("No answers yet" in i.value for i in tab.info)
        assert not tab.get("vega_lite_chart")
    text = " ".join(m.value for m in tab.markdown)
    for claim in reason.claims:
        assert f"**{claim.id}**" in text
    assert any("No answer is linked" in c for c in captions) == (not reason.claims)
    return reason


def test_why_follows_the_top_cause_and_keeps_a_pinned_one():
    at = start()
    tab = open_view(at, "Why")
    chooser = tab.selectbox(key="why_cause")
    top = diagnose({}).ranked()[0]
    assert chooser.value == "top"
    assert (
        chooser.options[0]
        == f"the current top cause ({cause_label(PRIORS, top['cause'], top['state'])})"
    )
    assert chooser.options[1:] == [
        cause_label(PRIORS, r["cause"], r["state"]) for r in diagnose({}).ranked()
    ]
    assert_why_tab(tab, Scenario(), top["cause"], top["state"])

    # answers that make another cause the most probable: "top" follows it
    answer(at, "strenuous_exercise", "yes")
    rerun(at)
    scenario = Scenario(evidence={"strenuous_exercise": "yes"})
    new_top = diagnose(scenario.evidence).ranked()[0]
    assert (new_top["cause"], new_top["state"]) != (top["cause"], top["state"])
    tab = shown_view(at, "Why")
    assert tab.selectbox(key="why_cause").value == "top"
    reason = assert_why_tab(tab, scenario, new_top["cause"], new_top["state"])
    assert reason.contributions

    # a pinned cause stays pinned when the answers change, and across a tab switch
    at.selectbox(key="why_cause").select("calcium=low")
    rerun(at)
    assert_why_tab(shown_view(at, "Why"), scenario, "calcium", "low")
    answer(at, "low_fluid_intake", "yes")
    answer(at, "blood_thinners", "probably yes")
    rerun(at)
    scenario = Scenario(
        evidence={"strenuous_exercise": "yes", "low_fluid_intake": "yes"},
        probably={"blood_thinners": "yes"},
    )
    tab = shown_view(at, "Why")
    assert tab.selectbox(key="why_cause").value == "calcium=low"
    reason = assert_why_tab(tab, scenario, "calcium", "low")
    assert "**C24**" in " ".join(m.value for m in tab.markdown)
    open_view(at, "Causes")
    tab = open_view(at, "Why")
    assert tab.selectbox(key="why_cause").value == "calcium=low"
    assert_why_tab(tab, scenario, "calcium", "low")


def test_why_tab_explains_soft_answers_and_names_the_claims():
    scenario = Scenario(evidence={"blood_thinners": "yes"}, probably={"leg_cramp_side": "right"})
    at = start(to_query(scenario))
    open_view(at, "Why")
    at.selectbox(key="why_cause").select("calcium=low")
    rerun(at)
    tab = shown_view(at, "Why")
    reason = assert_why_tab(tab, scenario, "calcium", "low")
    _, data, _ = chart_data(tab.get("vega_lite_chart")[0])
    assert {a.replace("\n", " ") for a in data["answer"]} == {
        "Blood thinners: yes",
        "Which leg cramps: probably right",
    }
    text = " ".join(m.value for m in tab.markdown)
    assert "**C24**" in text and "**C35**" in text
    assert {c.id for c in reason.claims} >= {"C24", "C35"}


def test_why_tab_on_the_prior_says_so():
    at = start()
    tab = open_view(at, "Why")
    top = diagnose({}).ranked()[0]
    assert tab.metric[0].value == f"{MODEL.prior[top['cause']][top['state']]:.3f}"
    assert_why_tab(tab, Scenario(), top["cause"], top["state"])


# --- ask next ------------------------------------------------------------------------------------


def button_node(key: str) -> str:
    body = key.removeprefix("ask_")
    matches = [n for n in QUESTIONS if any(body == f"{n}_{s}" for s in PRIORS.nodes[n].states)]
    assert len(matches) == 1, key
    return matches[0]


def unescape(text: str) -> str:
    """Markdown-escaped text as written (``escape_markdown`` backslash-escapes each mark)."""
    return re.sub(r"\\(.)", r"\1", text)


def assert_ask_next(
    at: AppTest, scenario: Scenario, cost_weight: float = 0.0
) -> list[RankedQuestion]:
    """The Ask next view (open) lists ``rank_questions`` for ``scenario``: the first five
    with their buttons, all of them in the table its toggle asks for; returns the ranking."""
    soft = scenario.soft_evidence(PRIORS)
    expected = rank_questions(
        MODEL, scenario.evidence, soft, do=scenario.do, cost_weight=cost_weight
    )
    assert expected == expected_view(scenario, cost_weight).questions
    label = f"Show all {len(expected)} questions and trials ranked, as a table"
    tab, table = table_on_demand(at, "Ask next", "ask_table", label)
    assert table.value.startswith("| question or trial")
    assert table.value == markdown_table(question_table(PRIORS, expected))
    rows = [line.split(" | ") for line in table.value.splitlines()[2:]]
    assert [unescape(r[0].removeprefix("| ")) for r in rows] == [q.label for q in expected]
    assert [float(unescape(r[1])) for r in rows] == pytest.approx(
        [q.info_gain for q in expected], abs=5e-4
    )
    assert [float(unescape(r[4].removesuffix(" |"))) for r in rows] == pytest.approx(
        [q.score for q in expected], abs=5e-4
    )
    keys = [b.key for b in tab.button]
    assert keys == [
        f"ask_{q.variable}_{s}" for q in expected[:5] for s in PRIORS.nodes[q.variable].states
    ]
    assert [b.label for b in tab.button] == [
        state_word(s) for q in expected[:5] for s in PRIORS.nodes[q.variable].states
    ]
    # one markdown element per question shown: the question, then in small print what it
    # would tell (and, for a trial, what a change after it would point to)
    blocks = [m.value for m in tab.markdown if m.value.startswith("**")]
    assert len(blocks) == len(expected[:5])
    for q, block in zip(expected, blocks, strict=False):
        node = PRIORS.nodes[q.variable]
        head, *small = block.split("  \n")
        assert head == f"**{escape_markdown(node.label)}**: {escape_markdown(node.question)}"
        assert all(s.startswith(":small[") and s.endswith("]") for s in small)
        assert small[0].startswith(
            ":small[" + escape_markdown(f"Expected information {q.info_gain:.3f} bits")
        )
        detail = q.max_change_detail
        if detail:
            assert escape_markdown(f"from {detail.before:.2f} to {detail.after:.2f}") in small[0]
    return expected


def test_ask_next_lists_rank_questions_and_a_button_answers():
    scenario = Scenario(evidence={"leg_cramp_side": "left"})
    at = start(to_query(scenario))
    open_view(at, "Ask next")
    expected = assert_ask_next(at, scenario)
    # each trial shown says what a change after it would point to, in words
    if_fixed = expected_view(scenario).diagnosis.if_fixed
    blocks = [m.value for m in shown_view(at, "Ask next").markdown if m.value.startswith("**")]
    trials = [q for q in expected[:5] if PRIORS.nodes[q.variable].cost]  # 5: app.ASK_SHOWN
    assert trials
    for q, block in zip(expected[:5], blocks, strict=True):
        tests = trial_tests(PRIORS, q.variable, if_fixed)
        assert (tests is not None) == bool(PRIORS.nodes[q.variable].cost)
        assert tests is None or block.endswith(f"  \n:small[{escape_markdown(tests)}]")
    top = expected[0]
    var, state = top.variable, PRIORS.nodes[top.variable].states[0]
    at.button(key=f"ask_{var}_{state}").click()
    rerun(at)
    assert chosen(at, var) == state
    scenario = scenario.with_answer(var, state)
    assert address(at) == to_query(scenario)
    tab = shown_view(at, "Ask next")
    assert var not in {button_node(b.key) for b in tab.button}
    assert_ask_next(at, scenario)
    assert_causes_view(at, scenario)


def test_cost_slider_moves_free_questions_ahead_of_trials_and_is_kept():
    at = start()
    tab = open_view(at, "Ask next")
    trials = {n for n in QUESTIONS if PRIORS.nodes[n].cost > 0}
    assert trials == {"calcium_trial", "magnesium_trial", "electrolyte_trial"}
    before = [button_node(b.key) for b in tab.button]
    assert trials & set(before), "with cost 0 a trial is among the top questions"
    at.slider(key="cost_weight").set_value(0.2)
    rerun(at)
    tab = shown_view(at, "Ask next")
    expected = assert_ask_next(at, Scenario(), cost_weight=0.2)
    costs = [q.cost for q in expected]
    first_trial = next(i for i, c in enumerate(costs) if c > 0)
    assert all(c > 0 for c in costs[first_trial:]), "a free question ranks below a trial"
    assert not trials & {button_node(b.key) for b in tab.button}
    # the slider changes only the order, never the posteriors; leaving the tab keeps it, and
    # the interview and the summary follow it
    assert_causes_view(at, Scenario(), cost_weight=0.2)
    summary, _ = summary_element(at)
    assert summary.value == escape_markdown(expected_summary(Scenario(), 0.2).text)
    step = next_step(PRIORS, expected, 0)
    assert step.variable == expected[0].variable and step.variable not in trials
    tab = open_view(at, "Interview")
    assert tab.button[0].key.startswith(f"iv_{step.variable}_")
    tab = open_view(at, "Ask next")
    assert at.slider(key="cost_weight").value == 0.2
    assert_ask_next(at, Scenario(), cost_weight=0.2)


# --- what-if -------------------------------------------------------------------------------------


def compare_shown(at: AppTest) -> pd.DataFrame:
    """The What-if table with its columns named as ``compare`` names them."""
    table = shown_view(at, "What-if").table[0].value
    assert list(table.columns) == ["cause", "A: your answers", "B: with the changes", "change"]
    return table.rename(columns={"A: your answers": "A", "B: with the changes": "B"})


def assert_what_if(at: AppTest, a: Scenario, b: Scenario) -> pd.DataFrame | None:
    """The What-if tab compares ``diagnose`` of A and B: the table and the chart, or, when B is
    A, says so and shows neither."""
    tab = shown_view(at, "What-if")
    if a == b:
        assert any("B is the same as A" in i.value for i in tab.info)
        assert not tab.get("vega_lite_chart") and not tab.table
        return None
    expected_b = diagnose(b.evidence, b.soft_evidence(PRIORS), do=b.do)
    expected = compare(MODEL, diagnose(a.evidence, a.soft_evidence(PRIORS)), expected_b)
    table = compare_shown(at)
    pd.testing.assert_frame_equal(
        table.reset_index(drop=True),
        expected[["cause", "A", "B", "change"]],
        check_exact=False,
        atol=1e-12,
        rtol=0,
    )
    moved = expected[expected["change"].abs() >= 0.0005]
    assert not moved.empty
    (chart,) = tab.get("vega_lite_chart")
    _, data, _ = chart_data(chart)
    assert set(data["scenario"]) == {"A: your answers", "B: with the changes"}
    for row in moved.itertuples():
        label = "\n".join(wrap(row.cause))
        got = data[data["cause"] == label].set_index("scenario")["value"]
        assert got["A: your answers"] == pytest.approx(row.A, abs=1e-12)
        assert got["B: with the changes"] == pytest.approx(row.B, abs=1e-12)
    assert len(data) == 2 * len(moved)
    return table


def test_what_if_b_equal_to_a_shows_an_info_and_no_chart():
    a = Scenario(evidence={"leg_cramp_side": "left"}, probably={"nocturnal_cramps": "yes"})
    at = start(to_query(a))
    open_view(at, "What-if")
    assert at.multiselect(key="b_changed").value == []
    assert_what_if(at, a, a)
    # picking a question but leaving it as in A keeps B equal to A
    at.multiselect(key="b_changed").select("leg_cramp_side")
    rerun(at)
    assert at.selectbox(key="b_leg_cramp_side").value == "left"
    assert_what_if(at, a, a)


def test_what_if_b_with_an_intervention_equals_diagnose_with_do():
    at = start()
    open_view(at, "What-if")
    at.multiselect(key="b_changed").select("calcium_supplements").select("leg_cramp_side")
    rerun(at)
    at.selectbox(key="b_calcium_supplements").select("yes")
    at.toggle(key="do_calcium_supplements").set_value(True)
    at.selectbox(key="b_leg_cramp_side").select("probably both")
    rerun(at)
    b = Scenario(do={"calcium_supplements": "yes"}, probably={"leg_cramp_side": "both"})
    assert_what_if(at, Scenario(), b)
    assert dict(at.query_params) == to_query(b, B_PREFIX)
    captions = [c.value for c in shown_view(at, "What-if").caption]
    assert escape_markdown(intervention_label(PRIORS, "calcium_supplements", "yes")) in captions
    assert captions[-1].startswith(escape_markdown("if you started or kept up: "))
    # observing calcium supplements is not setting them: the B column tells them apart
    at.toggle(key="do_calcium_supplements").set_value(False)
    rerun(at)
    seen = Scenario(evidence={"calcium_supplements": "yes"}, probably={"leg_cramp_side": "both"})
    assert_what_if(at, Scenario(), seen)
    observed = diagnose(seen.evidence, seen.soft_evidence(PRIORS)).posterior
    assert observed != diagnose(b.evidence, b.soft_evidence(PRIORS), do=b.do).posterior
    # scenario A stays as it was
    assert_causes_view(at, Scenario())


def test_what_if_sets_a_cause_in_b_from_the_url():
    a = Scenario(evidence={"nocturnal_cramps": "yes"})
    at = start(to_query(a), **{"b.do.calcium": "low", "b.strenuous_exercise": "~yes"})
    open_view(at, "What-if")
    assert sorted(at.multiselect(key="b_changed").value) == ["calcium", "strenuous_exercise"]
    assert at.toggle(key="do_calcium").value is True
    assert at.selectbox(key="b_strenuous_exercise").value == "probably yes"
    b = a.with_answer("calcium", "low", how="do").with_answer(
        "strenuous_exercise", "yes", how="probably"
    )
    table = assert_what_if(at, a, b).set_index("cause")
    assert table.loc["Calcium status: low", "B"] == pytest.approx(1.0)
    assert not text_lines(at)


def test_what_if_columns_follow_a_and_b_and_b_red_flags_show():
    at = start(leg_cramp_side="left", **{"b.neurological_condition": "yes"})
    tab = open_view(at, "What-if")
    assert at.multiselect(key="b_changed").value == ["neurological_condition"]
    assert at.selectbox(key="b_neurological_condition").value == "yes"
    a = Scenario(evidence={"leg_cramp_side": "left"})
    b = a.with_answer("neurological_condition", "yes")
    table = assert_what_if(at, a, b)
    assert list(table["change"]) == pytest.approx(list(table["B"] - table["A"]), abs=1e-12)
    flags = diagnose(b.evidence).red_flags
    assert [e.value for e in tab.error] == [flag_text(f, "Scenario B red flag: ") for f in flags]
    assert any(f.id == "neurological" for f in flags)
    # scenario A has no red flag: the B flag stays in the What-if tab
    assert at.success and "No red flag" in at.success[0].value


def test_reset_b_makes_b_equal_to_a():
    a = Scenario(evidence={"leg_cramp_side": "left"}, probably={"nocturnal_cramps": "yes"})
    at = start(to_query(a), **{"b.female": "yes"})
    open_view(at, "What-if")
    assert_what_if(at, a, a.with_answer("female", "yes"))
    (reset_b,) = [b for b in shown_view(at, "What-if").button if "Reset B" in b.label]
    reset_b.click()
    rerun(at)
    assert at.multiselect(key="b_changed").value == []
    assert_what_if(at, a, a)
    assert dict(at.query_params) == to_query(a)


# --- network -------------------------------------------------------------------------------------


def captured_downloads(monkeypatch) -> dict[str, tuple]:
    """Each download's file name -> (bytes or the callable that builds them, mime type), as the
    page hands them to Streamlit's media manager (AppTest cannot click through to a file)."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    built: dict[str, tuple] = {}
    add, add_deferred = MediaFileManager.add, MediaFileManager.add_deferred

    def capture(self, data, mimetype, coordinates, file_name=None, **kwargs):
        built[file_name] = (data, mimetype)
        return add(self, data, mimetype, coordinates, file_name, **kwargs)

    def capture_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        built[file_name] = (data_callable, mimetype)
        return add_deferred(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add", capture)
    monkeypatch.setattr(MediaFileManager, "add_deferred", capture_deferred)
    return built


def as_json(spec: dict) -> dict:
    return json.loads(json.dumps(spec))


def test_network_tab_draws_the_cause_neighbourhood_and_tables(monkeypatch):
    built = captured_downloads(monkeypatch)
    scenario = Scenario(evidence={"female": "yes"}, probably={"toe_cramps": "yes"})
    at = start(to_query(scenario))
    shown = expected_view(scenario)
    top = shown.diagnosis.ranked()[0]["cause"]
    tab = open_view(at, "Network")
    assert at.selectbox(key="net_cause").value == top
    assert not tab.get("graphviz_chart")
    for centre in (top, "magnesium"):
        if centre != top:
            at.selectbox(key="net_cause").select(centre)
            rerun(at)
            tab = shown_view(at, "Network")
        (chart,) = tab.get("vega_lite_chart")
        spec, _, named = chart_data(chart)
        nodes, links = neighbourhood(MODEL, shown, centre)
        expected = as_json(neighbourhood_chart(nodes, links))
        assert spec["layer"] == expected["layer"] and spec["height"] == expected["height"]
        assert list(named["nodes"]["text"]) == list(nodes["text"])
        assert list(named["nodes"]["value"]) == pytest.approx(list(nodes["value"]), abs=1e-12)
        assert len(named["links"]) == len(links)
    # the table starts on the cause shown (magnesium, chosen last), then is chosen on its own
    assert at.selectbox(key="net_node_magnesium").value == "magnesium"

    at.selectbox(key="net_node_magnesium").select("leg_cramp_side")
    rerun(at)
    tab = shown_view(at, "Network")
    table = tab.dataframe[0].value
    expected = node_table(MODEL, "leg_cramp_side")
    spec = PRIORS.nodes["leg_cramp_side"]
    assert list(table.columns) == [PRIORS.nodes[p].label for p in spec.parents] + [
        f"P({state_word(s)})" for s in spec.states
    ]
    for parent in spec.parents:
        assert list(table[PRIORS.nodes[parent].label]) == [state_word(s) for s in expected[parent]]
    for s in spec.states:
        assert list(table[f"P({state_word(s)})"]) == pytest.approx(
            list(expected[f"P({s})"]), abs=1e-12
        )
    text = " ".join(m.value for m in tab.markdown)
    for claim in node_claims(MODEL, "leg_cramp_side"):
        assert f"**{claim['id']}**" in text
    (dot,) = tab.get("download_button")
    assert dot.proto.label == "Download the whole network (Graphviz DOT)"
    data, mime = built["crampnet-network.dot"]
    assert mime == "text/vnd.graphviz"
    assert (data if isinstance(data, str) else data.decode()) == network_dot(MODEL, shown)


# --- downloads -----------------------------------------------------------------------------------


def test_download_tab_offers_the_case(monkeypatch):
    built = captured_downloads(monkeypatch)
    scenario = Scenario(evidence={"leg_cramp_side": "right"}, probably={"female": "yes"})
    at = start(to_query(scenario))
    tab = open_view(at, "Download")
    assert tab.get("download_button")[0].proto.label.startswith("Download this case")
    assert any("crampnet diagnose" in c.value for c in tab.caption)
    data, mime = built["crampnet-case.json"]
    assert mime == "application/json"
    data = data if isinstance(data, str) else data.decode()
    assert data == case_json(MODEL, expected_view(scenario))
    payload = json.loads(data)
    assert payload["intervals"]["draws"] == PAGE_DRAWS
    assert payload["case"] == scenario.to_case(PRIORS)


def test_download_tab_offers_the_report_as_html_and_pdf_with_the_page_numbers(
    monkeypatch, tmp_path
):

    from model.reports.content import build_report
    from model.reports.html import report_html

    built = captured_downloads(monkeypatch)
    scenario = Scenario(evidence={"leg_cramp_side": "left"}, probably={"nocturnal_cramps": "yes"})
    at = start(to_query(scenario))
    tab = open_view(at, "Download")
    labels = [b.label for b in tab.get("download_button")]
    assert labels == [
        "Download this case and its posterior (JSON)",
        "Download the report (HTML)",
        "Download the report (PDF)",
    ]
    assert {name: mime for name, (_, mime) in built.items()} == {
        "crampnet-case.json": "application/json",
        "crampnet-report.html": "text/html",
        "crampnet-report.pdf": "application/pdf",
    }
    rows = cause_rows(MODEL, expected_view(scenario))
    html = built["crampnet-report.html"][0]().decode("utf-8")
    assert html.startswith("<!DOCTYPE html>")
    names = re.findall(r"<tr><td class=\"num\">\d+</td><td>(.*?)</td>.*?</tr>", html)
    assert names == list(rows["cause"])
    for row in rows.itertuples():  # the report's intervals use its own 1000 draws
        assert f'<td class="num">{row.posterior:.3f}</td>' in html
    case = scenario.to_case(PRIORS)
    report = json.loads(re.search(r"<pre>(.*?)</pre>", html, re.S)[1].replace("&quot;", '"'))
    assert report == case
    day = re.search(r"Date: (\d{4}-\d{2}-\d{2})", html)[1]
    expected = build_report(MODEL, case["evidence"], case["soft_evidence"], date=day)
    assert html == report_html(expected)

    pdf = built["crampnet-report.pdf"][0]()
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    flat = " ".join(text.split())
    top = rows.iloc[0]
    assert f"{top.cause} {top.posterior:.3f}" in flat
    assert "page 1 of" in flat and PRIORS.meta.notice[:60] in flat


# --- the URL -------------------------------------------------------------------------------------


def test_query_params_restore_a_scenario():
    at = start(
        leg_cramp_side="left",
        nocturnal_cramps="~yes",
        **{"b.female": "yes", "b.toe_cramps": "~no"},
    )
    assert chosen(at, "leg_cramp_side") == "left"
    assert chosen(at, "nocturnal_cramps") == "probably yes"
    a = Scenario(evidence={"leg_cramp_side": "left"}, probably={"nocturnal_cramps": "yes"})
    assert_causes_view(at, a)
    changes = Scenario(evidence={"female": "yes"}, probably={"toe_cramps": "no"})
    assert address(at) == {**to_query(a), **to_query(changes, B_PREFIX)}
    open_view(at, "What-if")
    assert sorted(at.multiselect(key="b_changed").value) == ["female", "toe_cramps"]
    assert at.selectbox(key="b_toe_cramps").value == "probably no"
    b = a.with_answer("female", "yes").with_answer("toe_cramps", "no", how="probably")
    assert_what_if(at, a, b)  # B is A's answers with B's changes
    assert dict(at.query_params) == {**to_query(a), **to_query(changes, B_PREFIX)}
    assert not text_lines(at)
    assert PROBLEMS_HEADER not in [m.value for m in at.markdown]


def test_query_params_restore_an_intervention_in_b():
    at = start(**{"b.do.calcium_supplements": "yes"})
    open_view(at, "What-if")
    assert at.toggle(key="do_calcium_supplements").value is True
    assert at.selectbox(key="b_calcium_supplements").value == "yes"
    assert_what_if(at, Scenario(), Scenario(do={"calcium_supplements": "yes"}))
    assert address(at) == {"b.do.calcium_supplements": "yes"}


def test_bad_query_params_show_text_lines_and_the_page_still_works():
    at = start(
        leg_cramp_side="sideways",
        nocturnal_cramps="yes",
        bogus="1",
        **{"b.nope": "yes", "b.female": "~maybe"},
    )
    lines = text_lines(at)
    assert len(lines) == 4 and all(line.startswith("ignored ") for line in lines)
    for key in ("leg_cramp_side=sideways", "bogus=1", "b.nope=yes", "b.female=maybe"):
        assert any(key in line for line in lines), (key, lines)
    assert PROBLEMS_HEADER in [m.value for m in at.markdown]
    assert chosen(at, "leg_cramp_side") == "not answered"
    assert_causes_view(at, Scenario(evidence={"nocturnal_cramps": "yes"}))
    # the bad parameters are dropped from the URL, the good one is kept; the problems stay
    # listed for the session
    assert address(at) == {"nocturnal_cramps": "yes"}
    answer(at, "female", "no")
    rerun(at)
    assert text_lines(at) == lines
    assert_causes_view(at, Scenario(evidence={"nocturnal_cramps": "yes", "female": "no"}))


def test_link_parameters_the_page_cannot_show_are_reported():
    at = start(
        {
            "do.calcium_supplements": "yes",
            "left_leg_cramps": "yes",
            "calcium": "low",
            "b.right_leg_cramps": "yes",
            "b.do.left_leg_cramps": "no",
            "nocturnal_cramps": "~yes",
        }
    )
    lines = text_lines(at)
    for key in (
        "do.calcium_supplements",
        "left_leg_cramps",
        "calcium",
        "b.right_leg_cramps",
        "b.do.left_leg_cramps",
    ):
        assert any(line.startswith(f"ignored {key}:") for line in lines), (key, lines)
    assert len(lines) == 5
    assert address(at) == {"nocturnal_cramps": "~yes"}
    assert_causes_view(at, Scenario(probably={"nocturnal_cramps": "yes"}))


HOSTILE = [
    ("[Click here](http://example.org)", "yes"),
    ("![t](http://example.org/t.png)", "yes"),
    ("female", "[Click here](http://example.org)"),
    ("b.female", "![t](http://example.org/t.png)"),
    ("b.left_leg_cramps", "yes"),
    ("b.right_leg_cramps", "yes"),
    ("do.female", "yes"),
    ("female", "maybe"),
    ("b.do.female", "~yes"),
    ("calcium", "low"),
    ("~female", "yes"),
    ("x" * 3000, "y" * 3000),
    ("leg_cramp_side", "left" * 1000),
    ("`code` **bold** _it_", "yes"),
    ("<img src=x onerror=alert(1)>", "<script>alert(1)</script>"),
    ("b.<b>bold</b>", "yes"),
    ("$x^2$ :material/warning: #head", "yes"),
    ("line\nbreak\\", "tab\tand | pipe"),
]


def names(line: str, key: str, value: str) -> bool:
    """Whether a problem line is about the parameter ``key=value`` (a "probably" answer is
    named without its ``~``)."""
    said = (f"ignored {key}={value}: ", f"ignored {key}={value.removeprefix('~')}: ")
    return line.startswith((*said, f"ignored {key}: "))


def assert_only_text_lines_name(at: AppTest, bad: dict[str, str], kept: dict[str, str]) -> None:
    """The page used ``kept`` and named each of ``bad`` in a text line, and nothing from ``bad``
    reached any other element: it sends the same strings as a page opened with ``kept``.
    Both pages have run once (a widget's first run also sends the value it starts with)."""
    lines = text_lines(at)
    for key, value in bad.items():
        assert any(names(line, key, value) for line in lines), (key, lines)
    assert len(lines) == len(bad)
    assert address(at) == kept
    clean = start(kept)
    assert not text_lines(clean)
    assert shown_strings(at) == shown_strings(clean)


@pytest.mark.parametrize(("key", "value"), HOSTILE, ids=lambda v: repr(v)[:40])
def test_hostile_link_parameters_reach_only_a_text_line(key, value):
    at = start({key: value, "nocturnal_cramps": "yes"})
    assert_only_text_lines_name(at, {key: value}, {"nocturnal_cramps": "yes"})
    strings = shown_strings(at)
    for raw in (key, value):
        if set(raw) & set("[]()<>`!*$#|\n\\") and len(raw) > 3:  # markup, not an id
            assert not any(raw in s for s in strings), raw
    for marker in ("](http", "<img", "<script", "<b>", "`code`"):
        assert not any(marker in s for s in strings), marker
    assert_causes_view(at, Scenario(evidence={"nocturnal_cramps": "yes"}))


# --- impossible answers --------------------------------------------------------------------------


def test_no_sidebar_answers_can_be_impossible():
    """Only tables no answer can contradict have zero entries, so no answer set is impossible.

    A zero in a node's table can make answers impossible only if the node is asked, or if a
    child of a hidden node has zeros too. So: an asked node with zeros has only hidden parents
    (each without zeros, and parent of no other such node) and every state reachable; a hidden
    node with zeros (a definition, like the salt-correctable sodium) is never asked and its
    children's tables have no zeros, whatever it is.
    """
    zero_nodes = [n for n, t in MODEL.engine.tables.items() if (t == 0).any()]
    assert "leg_cramp_side" in zero_nodes, "expected the deterministic leg_cramp_side table"
    children = {
        n: [c for c, spec in PRIORS.nodes.items() if n in spec.parents] for n in PRIORS.nodes
    }
    seen_parents: set[str] = set()
    for node in zero_nodes:
        spec = PRIORS.nodes[node]
        if node not in QUESTIONS:
            assert spec.kind == "intermediate", node
            for child in children[node]:
                assert not (MODEL.engine.tables[child] == 0).any(), (node, child)
            continue
        for parent in spec.parents:
            assert parent not in QUESTIONS and parent not in zero_nodes
            assert parent not in seen_parents
            assert PRIORS.nodes[parent].kind == "intermediate"
            seen_parents.add(parent)
        table = MODEL.engine.tables[node].reshape(len(spec.states), -1)
        assert (table.max(axis=1) > 0).all(), f"{node}: some state is never possible"
    # and the page's error path itself is tested below, by forcing an impossible view


def test_impossible_answers_show_an_error_not_an_exception(monkeypatch):
    import streamlit

    conflict = {"leg_cramp_side": "none", "left_leg_cramps": "yes"}
    with pytest.raises(ImpossibleEvidenceError):
        view(MODEL, Scenario(evidence=conflict))

    def impossible(*args, **kwargs):
        raise ImpossibleEvidenceError(conflict)

    monkeypatch.setattr(model.diagnosis.view, "view", impossible)
    streamlit.cache_resource.clear()  # the page caches views across sessions
    at = start(leg_cramp_side="none")
    (error,) = at.error
    assert error.value.startswith("These answers cannot be scored together")
    assert escape_markdown("leg_cramp_side=none") in error.value
    assert at.warning[0].value == escape_markdown(PRIORS.meta.notice)
    assert not at.get("button_group") and not at.metric and not at.table
    monkeypatch.undo()
    rerun(at)
    assert_causes_view(at, Scenario(evidence={"leg_cramp_side": "none"}))


def test_every_question_answered():
    scenario = Scenario(evidence={n: PRIORS.nodes[n].states[-1] for n in QUESTIONS})
    at = start(to_query(scenario))
    assert at.sidebar.markdown[0].value == f"**{len(QUESTIONS)} of {len(QUESTIONS)} answered.**"
    assert_causes_view(at, scenario)
    step = assert_interview(open_view(at, "Interview"), scenario)
    assert step.done and step.reason == "Every question is answered: nothing left to ask."
    tab = open_view(at, "Ask next")
    assert any("nothing left to ask" in i.value for i in tab.info)
    assert not [m for m in tab.markdown if m.value.startswith("| question")]
    assert not tab.button
    summary, _ = summary_element(at)
    assert summary.value.endswith(escape_markdown("Every question is answered."))


# --- reset ---------------------------------------------------------------------------------------


def test_reset_clears_every_answer():
    at = start(leg_cramp_side="left", **{"b.female": "yes"})
    answer(at, "blood_thinners", "probably yes")
    rerun(at)
    open_view(at, "What-if")
    assert at.multiselect(key="b_changed").value == ["female"]
    (reset,) = [b for b in at.sidebar.button if b.label == "Reset all answers"]
    reset.click()
    rerun(at)
    assert all(q["chosen"] == "not answered" for q in questions_shown(at).values())
    assert address(at) == {}
    assert at.multiselect(key="b_changed").value == []
    assert_what_if(at, Scenario(), Scenario())
    assert_causes_view(at, Scenario())


# --- random answer sets and random links ---------------------------------------------------------


@st.composite
def sidebar_answers(draw) -> dict[str, str]:
    nodes = draw(st.lists(st.sampled_from(QUESTIONS), unique=True, min_size=1, max_size=8))
    out = {}
    for node in nodes:
        state = draw(st.sampled_from(PRIORS.nodes[node].states))
        out[node] = draw(st.sampled_from([state, f"probably {state}"]))
    return out


@settings(
    max_examples=6,
    deadline=None,
    database=None,  # tests write only to temporary folders
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(choices=sidebar_answers(), via_link=st.booleans())
def test_random_answers_give_the_model_numbers(choices, via_link):
    scenario = scenario_of(choices)
    if via_link:
        at = start(to_query(scenario))
    else:
        at = start()
        for node, choice in choices.items():
            answer(at, node, choice)
        rerun(at)
    for node in QUESTIONS:
        assert chosen(at, node) == choices.get(node, "not answered")
    assert_causes_view(at, scenario)
    assert address(at) == to_query(scenario)
    d = diagnose(scenario.evidence, scenario.soft_evidence(PRIORS))
    assert [e.value for e in at.main.error] == [flag_text(f) for f in d.red_flags]
    summary, _ = summary_element(at)
    assert summary.value == escape_markdown(expected_summary(scenario).text)
    top = d.ranked()[0]
    tab = open_view(at, "Why")
    assert at.selectbox(key="why_cause").value == "top"
    assert_why_tab(tab, scenario, top["cause"], top["state"])


ALL_STATES = sorted({s for node in PRIORS.nodes.values() for s in node.states})
ANY_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=24)
LINK_KEYS = st.builds(
    str.__add__,
    st.sampled_from(["", "", "", "b.", "b.", "do.", "b.do.", "~", "b.~", "b.b."]),
    st.one_of(st.sampled_from(list(PRIORS.nodes)), ANY_TEXT),
).filter(lambda k: k.lower() not in ("embed", "embed_options"))  # Streamlit keeps these
LINK_VALUES = st.one_of(
    st.sampled_from(ALL_STATES),
    st.sampled_from(ALL_STATES).map("~".__add__),
    ANY_TEXT,
)


def valid_alone(key: str, value: str) -> bool:
    """A parameter the page would use if it were the only one naming its node."""
    if key.startswith("b.do."):
        node = key.removeprefix("b.do.")
        return node in SETTABLE_B and value in PRIORS.nodes[node].states
    if key.startswith("b."):
        node, allowed = key.removeprefix("b."), SETTABLE_B
    else:
        node, allowed = key, QUESTIONS
    return node in allowed and value.removeprefix("~") in PRIORS.nodes[node].states


def node_named(key: str) -> tuple[str, str]:
    """(scenario, node) a parameter speaks of: ``b.do.x`` and ``b.x`` are both B's x."""
    scenario = "b" if key.startswith("b.") else "a"
    return scenario, key.removeprefix("b.").removeprefix("do.")


@settings(
    max_examples=12,
    deadline=None,
    database=None,  # tests write only to temporary folders
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(params=st.dictionaries(LINK_KEYS, LINK_VALUES, max_size=6))
@example(params={"female": "yes", "do.female": "no"})  # one node twice in A
@example(params={"b.do.female": "no", "b.female": "~yes", "b.x": "[a](http://b)"})
def test_random_links_use_the_valid_answers_and_name_the_rest(params):
    at = start(params)
    kept = address(at)
    lines = text_lines(at)
    speaks = [node_named(k) for k in params]
    for key, value in params.items():
        named = any(names(line, key, value) for line in lines)
        used = kept.get(key) == value
        assert named != used, (key, value, lines, kept)  # each one used or named, never both
        if valid_alone(key, value) and speaks.count(node_named(key)) == 1:
            assert used, (key, value)
        if used:
            assert valid_alone(key, value)
    assert set(kept) <= set(params)
    assert len(lines) == len(params) - len(kept)
    # nothing from the link reached any element but a text line: the page sends what a page
    # opened with only the used answers sends; and the causes are those of the used answers
    clean = start(kept)
    assert shown_strings(at) == shown_strings(clean)
    a, problems = from_query(PRIORS, kept)
    assert not problems
    assert_causes_view(at, a)


@pytest.mark.parametrize(
    ("evidence", "caution"),
    [
        ({"nocturnal_cramps": "yes", "dialysis": "yes"}, "calcium_trial_kidneys"),
        ({"knee_grinding": "yes", "nocturnal_cramps": "yes"}, "calcium_trial_high_calcium"),
    ],
)
def test_a_trial_that_may_harm_is_never_suggested_without_its_caution(evidence, caution):
    """The calcium trial ranks first here; Ask next, the interview and the summary each show
    the caution of priors/red_flags.yaml beside it, in the page's own words."""
    scenario = Scenario(evidence=evidence)
    rule = PRIORS.cautions[caution]
    text = f"**Caution: {escape_markdown(rule.title)}.** {escape_markdown(rule.message)}"
    at = start(to_query(scenario))
    summary, _ = summary_element(at)
    assert escape_markdown(f"read its caution first ({rule.title})") in summary.value
    assert expected_view(scenario).questions[0].variable == rule.trial
    ask = open_view(at, "Ask next")
    assert [w.value for w in ask.warning] == [text]
    interview = open_view(at, "Interview")
    assert [w.value for w in interview.warning] == [text]


# --- what putting a cause right would stop, and answers that pull apart ---------------------------

IF_FIXED_VIGNETTE = {  # the README's: two rankings that differ
    "nocturnal_cramps": "yes",
    "cramps_during_exercise": "yes",
    "cramps_after_exercise": "yes",
}
PULLING_APART = {  # the pair the model finds least likely together (1.8 times), and one more
    "bicarbonate_loading": "yes",
    "stomach_cramps": "no",
    "nocturnal_cramps": "yes",
}


def test_causes_view_ranks_by_what_putting_it_right_would_stop():
    scenario = Scenario(evidence=IF_FIXED_VIGNETTE)
    at = start(to_query(scenario))
    tab = open_view(at, "Causes")
    radio = tab.radio(key="rank_by")
    assert radio.value == "probability" and list(radio.options) == [
        "how probable",
        "what putting it right would stop",
    ]
    radio.set_value("if fixed")
    rerun(at)
    tab, table = causes_table(at)
    shown = expected_view(scenario)
    rows = cause_rows(MODEL, shown, "if fixed")
    assert table.value == markdown_table(cause_table(rows, "if fixed"))
    header, body = parse_table(table.value)
    order = shown.diagnosis.ranked_if_fixed()
    assert [cells[0] for cells in body] == [f"{PRIORS.nodes[c].label}: {s}" for c, s in order]
    assert order[0] == ("exercise_overload", "yes")  # not the most probable: calcium low
    stop_at = header.index("fixing stops")
    top = shown.diagnosis.if_fixed[order[0]]
    assert body[0][stop_at] == f"{top.expected_disablement:.1f} of 3"
    assert body[0][header.index("all stop (in 100)")] == str(per_hundred(top.p_all_stop))
    _, data, _ = chart_data(tab.get("vega_lite_chart")[0])
    assert list(data["stops"]) == pytest.approx(
        [shown.diagnosis.if_fixed[cs].expected_disablement for cs in order]
    )
    # the choice survives a tab switch
    open_view(at, "Why")
    assert open_view(at, "Causes").radio(key="rank_by").value == "if fixed"


def test_summary_says_what_putting_a_cause_right_would_stop():
    scenario = Scenario(evidence=IF_FIXED_VIGNETTE)
    at = start(to_query(scenario))
    summary, _ = summary_element(at)
    assert summary.value == escape_markdown(expected_summary(scenario).text)
    text = summary.value.replace("\\", "")
    assert "If 'Calcium status: low' were the only thing put right, about 0.5 of your 3" in text
    assert "By what a fix would stop, 'Exercise overload: yes' comes first: about 0.7." in text


def test_answers_that_pull_apart_get_a_notice_naming_them():
    at = start(to_query(Scenario(evidence=PULLING_APART)))
    conflict = diagnose(PULLING_APART, draws=2).conflict
    assert conflict.answers == ("bicarbonate_loading", "stomach_cramps")
    (notice,) = [w for w in at.warning if "double-check" in w.value.replace("\\", "")]
    for variable in conflict.answers:
        label = answer_label(PRIORS, variable, PULLING_APART[variable])
        assert escape_markdown(label) in notice.value
    assert escape_markdown(answer_label(PRIORS, "nocturnal_cramps", "yes")) not in notice.value
    quiet = start(to_query(Scenario(evidence=IF_FIXED_VIGNETTE)))
    assert not [w for w in quiet.warning if "double" in w.value]
    assert not [c for c in quiet.caption if "double" in c.value]


# --- the case book ------------------------------------------------------------------------------


def test_case_book_saves_opens_follows_up_and_compares(case_book_in_tmp):
    from model.diagnosis.casebook import timeline, top_over_time
    from model.readwrite.casebook import CaseBook
    from model.reports.charts import timeline_chart
    from model.reports.wording import step_words

    scenario = Scenario(evidence={"leg_cramp_side": "left", "nocturnal_cramps": "yes"})
    at = start(to_query(scenario))
    open_view(at, "Case book")
    assert at.button(key="cb_save").disabled  # a label first
    at.text_input(key="cb_label").input("night cramps")
    rerun(at)
    at.button(key="cb_save").click()
    rerun(at)
    book = CaseBook(f"sqlite:///{case_book_in_tmp}")
    (saved,) = book.list()
    case = book.get(saved.id)
    assert case.label == "night cramps"
    assert case.answers().to_case() == {"evidence": scenario.evidence}
    assert case.entries[0].model == MODEL.identity
    expected_posterior = diagnose(scenario.evidence, draws=2).posterior
    for key, p in case.entries[0].posterior.items():
        cause, state = key.split("=")
        assert p == pytest.approx(expected_posterior[cause][state], abs=1e-12)
    # a follow-up: a new answer in the sidebar, kept as a change of answers
    answer(at, "toe_cramps", "yes")
    rerun(at)
    at.button(key="cb_follow").click()
    rerun(at)
    at.button(key="cb_gone").click()
    rerun(at)
    case = book.get(saved.id)
    assert [e.kind for e in case.entries] == ["answers", "set", "outcome"]
    assert case.entries[1].data == {"set": {"toe_cramps": "yes"}}
    tab = shown_view(at, "Case book")
    steps = timeline(MODEL, case)
    assert [t.value[18:] for t in tab.text] == [step_words(PRIORS, s) for s in steps]
    assert "_" not in " ".join(t.value for t in tab.text)  # labels, never ids
    (chart,) = tab.get("vega_lite_chart")
    assert (
        json.loads(chart.proto.spec)["layer"]
        == timeline_chart(top_over_time(MODEL, steps))["layer"]
    )
    # opening it puts its answers in the sidebar; a second case compares side by side
    reset_at = start()
    open_view(reset_at, "Case book")
    reset_at.button(key="cb_open").click()
    rerun(reset_at)
    assert chosen(reset_at, "toe_cramps") == "yes"
    assert chosen(reset_at, "leg_cramp_side") == "left"
    reset_at.text_input(key="cb_label").input("second")
    rerun(reset_at)
    open_view(reset_at, "Case book")
    reset_at.button(key="cb_save").click()
    rerun(reset_at)
    tab = open_view(reset_at, "Case book")
    assert len(tab.get("vega_lite_chart")) >= 1
    assert reset_at.selectbox(key="cb_compare").options

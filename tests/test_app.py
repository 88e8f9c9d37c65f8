"""The what-if explorer page (``app.py``) driven through Streamlit's AppTest.

Every panel is exercised and its numbers must equal the model API's for the same answers:
``model.explorer`` (``view``, ``cause_rows``, ``why``, ``compare``, ``network_dot``,
``node_table``) and ``diagnose``. AppTest runs the script in this process, so the page's
cached model is the same ``default_model()`` the expected numbers come from.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Dataframe, Error, Metric, Success, Warning

import model.explorer
from model import ImpossibleEvidenceError, default_model, diagnose
from model.explorer import cause_rows, compare, network_dot, node_claims, node_table, view, why
from model.questions import rank_questions
from model.scenario import B_PREFIX, Scenario, to_query

APP = str(Path(__file__).parent.parent / "app.py")
MODEL = default_model()
PRIORS = MODEL.priors
QUESTIONS = [n for ids in PRIORS.questions().values() for n in ids]
CAUSES_TAB, WHY_TAB, NEXT_TAB, WHATIF_TAB, NETWORK_TAB, DOWNLOAD_TAB = range(6)
LABELS = {f"{PRIORS.nodes[c].label}: {s}": (c, s) for c, s in MODEL.abnormal_states()}
SHOWN = ["cause", "posterior", "low", "high", "prior", "change"]


def start(**params: str) -> AppTest:
    """A fresh page, opened with ``params`` as its query string."""
    at = AppTest.from_file(APP, default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def answer(at: AppTest, node: str, choice: str) -> None:
    """Pick ``choice`` ("left", "probably yes", "not answered") in the sidebar; no rerun."""
    at.sidebar.selectbox(key=f"q_{node}").select(choice)


def walk(node):
    """Every element under ``node``, in page order."""
    yield node
    for child in getattr(node, "children", {}).values():
        yield from walk(child)


def first_index(elements: list, kind: type) -> int:
    return next(i for i, e in enumerate(elements) if isinstance(e, kind))


def assert_causes_tab(at: AppTest, scenario: Scenario, cost_weight: float = 0.0) -> None:
    """The Causes tab shows exactly ``cause_rows`` and ``diagnose`` for ``scenario``."""
    tab = at.tabs[CAUSES_TAB]
    expected = cause_rows(MODEL, view(MODEL, scenario, cost_weight=cost_weight))
    table = tab.dataframe[0].value
    assert list(table.columns) == SHOWN
    pd.testing.assert_frame_equal(
        table.reset_index(drop=True), expected[SHOWN], check_exact=False, atol=1e-12, rtol=0
    )
    d = diagnose(scenario.evidence, scenario.soft_evidence(PRIORS), do=scenario.do)
    ranked = d.ranked()
    assert list(table["posterior"]) == pytest.approx([r["posterior"] for r in ranked], abs=1e-12)
    metrics = tab.metric
    assert len(metrics) == 3
    for metric, row in zip(metrics, ranked, strict=False):
        assert metric.label == f"{PRIORS.nodes[row['cause']].label}: {row['state']}"
        assert metric.value == f"{row['posterior']:.3f}"
    assert tab.get("vega_lite_chart"), "the Causes chart is missing"


# --- layout: the notice and red flags come first -----------------------------------------------


def test_notice_and_red_flags_come_before_any_number():
    at = start()
    elements = list(walk(at.main))
    assert at.title[0].value.startswith("crampnet")
    notice = first_index(elements, Warning)
    assert elements[notice].value == PRIORS.meta.notice
    assert "Not medical advice" in elements[notice].value
    ok = first_index(elements, Success)
    assert "No red flag" in elements[ok].value
    assert notice < ok < first_index(elements, Metric) < first_index(elements, Dataframe)
    assert [t.label for t in at.tabs] == [
        "Causes",
        "Why",
        "Ask next",
        "What-if",
        "Network",
        "Download",
    ]

    answer(at, "neurological_condition", "yes")
    answer(at, "leg_cramp_side", "left")
    answer(at, "low_potassium_intake", "yes")
    rerun(at)
    elements = list(walk(at.main))
    flags = diagnose(
        {"neurological_condition": "yes", "leg_cramp_side": "left", "low_potassium_intake": "yes"}
    ).red_flags
    assert {f["id"] for f in flags} >= {"neurological", "cardiovascular"}
    shown = [e for e in elements if isinstance(e, Error)]
    assert [e.value for e in shown[: len(flags)]] == [
        f"**{f['id']}**: {f['message']}" for f in flags
    ]
    flag_at = elements.index(shown[0])
    assert first_index(elements, Warning) < flag_at < first_index(elements, Metric)
    assert flag_at < first_index(elements, Dataframe)
    assert not at.success


def test_debug_expander_times_the_rerun_and_names_the_model():
    at = start()
    timing = [m for m in at.metric if m.label == "server time for this rerun"]
    assert len(timing) == 1 and timing[0].value.endswith(" ms")
    assert float(timing[0].value.removesuffix(" ms")) > 0
    assert any(PRIORS.sha256 in c.value for c in at.caption)


# --- causes ------------------------------------------------------------------------------------


def test_prior_page_equals_the_model_prior():
    at = start()
    assert_causes_tab(at, Scenario())
    assert all(s.value == "not answered" for s in at.sidebar.selectbox)
    assert {s.key for s in at.sidebar.selectbox} == {f"q_{n}" for n in QUESTIONS}
    assert dict(at.query_params) == {}


def test_sidebar_answers_drive_the_causes_table():
    at = start()
    options = at.sidebar.selectbox(key="q_leg_cramp_side").options
    assert options == [
        "not answered",
        "none",
        "left",
        "right",
        "both",
        "probably none",
        "probably left",
        "probably right",
        "probably both",
    ]
    answer(at, "leg_cramp_side", "left")
    rerun(at)
    assert_causes_tab(at, Scenario(evidence={"leg_cramp_side": "left"}))
    answer(at, "nocturnal_cramps", "probably yes")
    answer(at, "calcium_trial", "improved")
    rerun(at)
    scenario = Scenario(
        evidence={"leg_cramp_side": "left", "calcium_trial": "improved"},
        probably={"nocturnal_cramps": "yes"},
    )
    assert_causes_tab(at, scenario)
    assert dict(at.query_params) == to_query(scenario)
    # back to "not answered" drops the answer everywhere
    answer(at, "calcium_trial", "not answered")
    rerun(at)
    scenario = scenario.with_answer("calcium_trial", None)
    assert_causes_tab(at, scenario)
    assert dict(at.query_params) == to_query(scenario)


# --- why ---------------------------------------------------------------------------------------


def test_why_tab_equals_the_posterior_and_its_explanation():
    at = start()
    answer(at, "blood_thinners", "yes")
    answer(at, "leg_cramp_side", "probably right")
    rerun(at)
    scenario = Scenario(evidence={"blood_thinners": "yes"}, probably={"leg_cramp_side": "right"})
    shown = view(MODEL, scenario)
    tab = at.tabs[WHY_TAB]
    chooser = tab.selectbox(key="why_cause")
    assert chooser.options == list(cause_rows(MODEL, shown)["id"])
    chooser.select("calcium=low")
    rerun(at)
    tab = at.tabs[WHY_TAB]
    reason = why(MODEL, shown, "calcium", "low")
    (metric,) = tab.metric
    assert metric.label == "Calcium status: low"
    assert metric.value == f"{reason['posterior']:.3f}"
    assert reason["posterior"] == pytest.approx(
        diagnose(scenario.evidence, scenario.soft_evidence(PRIORS)).posterior["calcium"]["low"],
        abs=1e-12,
    )
    moves = tab.dataframe[0].value
    assert list(moves["change"]) == pytest.approx(
        [c["delta"] for c in reason["contributions"]], abs=1e-12
    )
    assert list(moves["without this answer"]) == pytest.approx(
        [c["without"] for c in reason["contributions"]], abs=1e-12
    )
    assert set(moves["answer"]) == {"blood_thinners = yes", "leg_cramp_side = probably right"}
    text = " ".join(m.value for m in tab.markdown)
    for claim in reason["claims"]:
        assert f"**{claim['id']}**" in text
    assert "**C24**" in text and "**C35**" in text


def test_why_tab_on_the_prior_says_so():
    at = start()
    tab = at.tabs[WHY_TAB]
    assert tab.metric[0].value == f"{MODEL.prior['calcium']['low']:.3f}"
    assert any("this is the prior" in i.value for i in tab.info)
    assert any("No answer is linked" in c.value for c in tab.caption)


# --- ask next ----------------------------------------------------------------------------------


def button_node(key: str) -> str:
    body = key.removeprefix("ask_")
    matches = [n for n in QUESTIONS if any(body == f"{n}_{s}" for s in PRIORS.nodes[n].states)]
    assert len(matches) == 1, key
    return matches[0]


def test_ask_next_lists_rank_questions_and_a_button_answers():
    at = start()
    answer(at, "leg_cramp_side", "left")
    rerun(at)
    scenario = Scenario(evidence={"leg_cramp_side": "left"})
    expected = rank_questions(MODEL.engine, scenario.evidence)
    tab = at.tabs[NEXT_TAB]
    ranked = tab.dataframe[0].value
    assert list(ranked["label"]) == [q["label"] for q in expected]
    assert list(ranked["info_gain"]) == pytest.approx([q["info_gain"] for q in expected])
    assert list(ranked["score"]) == pytest.approx([q["score"] for q in expected])
    top = expected[0]
    assert tab.markdown[0].value.startswith(f"**{top['label']}**")
    assert tab.metric[0].value == f"{top['info_gain']:.3f} bits"
    keys = [b.key for b in tab.button]
    order = list(dict.fromkeys(button_node(k) for k in keys))
    assert order == [q["variable"] for q in expected[:8]]
    first = keys[0]
    assert first == f"ask_{top['variable']}_{PRIORS.nodes[top['variable']].states[0]}"

    var, state = top["variable"], PRIORS.nodes[top["variable"]].states[0]
    at.button(key=first).click()
    rerun(at)
    assert at.sidebar.selectbox(key=f"q_{var}").value == state
    scenario = scenario.with_answer(var, state)
    assert_causes_tab(at, scenario)
    assert dict(at.query_params) == to_query(scenario)
    assert var not in {button_node(b.key) for b in at.tabs[NEXT_TAB].button}


def test_cost_slider_moves_free_questions_ahead_of_trials():
    at = start()
    trials = {n for n in QUESTIONS if PRIORS.nodes[n].cost > 0}
    assert trials == {"calcium_trial", "magnesium_trial", "electrolyte_trial"}
    before = [button_node(b.key) for b in at.tabs[NEXT_TAB].button]
    assert trials & set(before), "with cost 0 a trial is among the top questions"
    at.slider(key="cost_weight").set_value(0.2)
    rerun(at)
    ranked = at.tabs[NEXT_TAB].dataframe[0].value
    expected = rank_questions(MODEL.engine, {}, cost_weight=0.2)
    assert list(ranked["label"]) == [q["label"] for q in expected]
    assert list(ranked["score"]) == pytest.approx([q["score"] for q in expected])
    costs = list(ranked["cost"])
    first_trial = next(i for i, c in enumerate(costs) if c > 0)
    assert all(c > 0 for c in costs[first_trial:]), "a free question ranks below a trial"
    after = [button_node(b.key) for b in at.tabs[NEXT_TAB].button]
    assert not trials & set(after)
    # the slider changes only the order, never the posteriors
    assert_causes_tab(at, Scenario(), cost_weight=0.2)


# --- what-if -----------------------------------------------------------------------------------


def compare_shown(at: AppTest) -> pd.DataFrame:
    table = at.tabs[WHATIF_TAB].dataframe[0].value
    assert list(table.columns) == ["cause", "A", "B", "change"]
    return table


def assert_b_column(at: AppTest, b: Scenario) -> None:
    expected = diagnose(b.evidence, b.soft_evidence(PRIORS), do=b.do)
    table = compare_shown(at).set_index("cause")
    for c, s in MODEL.abnormal_states():
        label = f"{PRIORS.nodes[c].label}: {s}"
        assert table.loc[label, "B"] == pytest.approx(expected.posterior[c][s], abs=1e-12)


def test_what_if_b_with_an_intervention_equals_diagnose_with_do():
    at = start()
    at.multiselect(key="b_changed").select("calcium_supplements").select("leg_cramp_side")
    rerun(at)
    at.selectbox(key="b_calcium_supplements").select("yes")
    at.toggle(key="do_calcium_supplements").set_value(True)
    at.selectbox(key="b_leg_cramp_side").select("probably both")
    rerun(at)
    b = Scenario(do={"calcium_supplements": "yes"}, probably={"leg_cramp_side": "both"})
    expected_b = diagnose(b.evidence, b.soft_evidence(PRIORS), do=b.do)
    expected = compare(MODEL, diagnose({}), expected_b)
    table = compare_shown(at)
    pd.testing.assert_frame_equal(
        table.reset_index(drop=True),
        expected[["cause", "A", "B", "change"]],
        check_exact=False,
        atol=1e-12,
        rtol=0,
    )
    assert dict(at.query_params) == to_query(b, B_PREFIX)
    # observing calcium supplements is not setting them: the B column tells them apart
    at.toggle(key="do_calcium_supplements").set_value(False)
    rerun(at)
    seen = Scenario(evidence={"calcium_supplements": "yes"}, probably={"leg_cramp_side": "both"})
    observed = diagnose(seen.evidence, seen.soft_evidence(PRIORS))
    table = compare_shown(at).set_index("cause")
    for c, s in MODEL.abnormal_states():
        label = f"{PRIORS.nodes[c].label}: {s}"
        assert table.loc[label, "B"] == pytest.approx(observed.posterior[c][s], abs=1e-12)
    assert observed.posterior != expected_b.posterior
    # scenario A stays as it was
    assert_causes_tab(at, Scenario())


def test_what_if_columns_follow_a_and_b_and_b_red_flags_show():
    at = start(leg_cramp_side="left", **{"b.neurological_condition": "yes"})
    assert at.multiselect(key="b_changed").value == ["neurological_condition"]
    assert at.selectbox(key="b_neurological_condition").value == "yes"
    a = diagnose({"leg_cramp_side": "left"})
    table = compare_shown(at)
    for row in table.itertuples():
        cause, state = next(
            (c, s)
            for c, s in MODEL.abnormal_states()
            if row.cause == f"{PRIORS.nodes[c].label}: {s}"
        )
        got_a, got_b = row.A, row.B
        assert got_a == pytest.approx(a.posterior[cause][state], abs=1e-12)
        assert row.change == pytest.approx(got_b - got_a, abs=1e-12)
    errors = [e.value for e in at.tabs[WHATIF_TAB].error]
    assert any(e.startswith("Scenario B red flag **neurological**") for e in errors)
    # scenario A has no red flag: the B flag stays in the What-if tab
    assert at.success and "No red flag" in at.success[0].value


def test_copy_a_to_b_makes_b_equal_to_a():
    at = start(leg_cramp_side="left", nocturnal_cramps="~yes")
    at.tabs[WHATIF_TAB].button[0].click()
    rerun(at)
    table = compare_shown(at)
    assert list(table["B"]) == pytest.approx(list(table["A"]), abs=1e-12)


# --- network -----------------------------------------------------------------------------------


def test_network_tab_draws_the_model_graph_and_tables():
    at = start(female="yes", toe_cramps="~yes")
    scenario = Scenario(evidence={"female": "yes"}, probably={"toe_cramps": "yes"})
    shown = view(MODEL, scenario)
    (chart,) = at.tabs[NETWORK_TAB].get("graphviz_chart")
    spec = chart.proto.spec
    assert spec == network_dot(MODEL, shown, mode="posterior")
    for node in PRIORS.nodes:
        assert f"    {node} [" in spec
    at.radio(key="net_mode").set_value("change")
    rerun(at)
    assert at.tabs[NETWORK_TAB].get("graphviz_chart")[0].proto.spec == network_dot(
        MODEL, shown, mode="change"
    )
    at.selectbox(key="net_node").select("calcium")
    rerun(at)
    tab = at.tabs[NETWORK_TAB]
    table = tab.dataframe[0].value
    pd.testing.assert_frame_equal(
        table.reset_index(drop=True), node_table(MODEL, "calcium"), check_exact=False, atol=1e-12
    )
    text = " ".join(m.value for m in tab.markdown)
    for claim in node_claims(MODEL, "calcium"):
        assert f"**{claim['id']}**" in text


def test_download_tab_offers_the_case():
    at = start(leg_cramp_side="right")
    button = at.tabs[DOWNLOAD_TAB].get("download_button")[0]  # then the reports (see below)
    assert "Download" in button.proto.label
    assert any("crampnet diagnose" in c.value for c in at.tabs[DOWNLOAD_TAB].caption)


# --- the URL -----------------------------------------------------------------------------------


def test_query_params_restore_a_scenario():
    at = start(
        leg_cramp_side="left",
        nocturnal_cramps="~yes",
        **{"b.female": "yes", "b.toe_cramps": "~no"},
    )
    assert at.sidebar.selectbox(key="q_leg_cramp_side").value == "left"
    assert at.sidebar.selectbox(key="q_nocturnal_cramps").value == "probably yes"
    a = Scenario(evidence={"leg_cramp_side": "left"}, probably={"nocturnal_cramps": "yes"})
    assert_causes_tab(at, a)
    assert sorted(at.multiselect(key="b_changed").value) == ["female", "toe_cramps"]
    assert at.selectbox(key="b_toe_cramps").value == "probably no"
    changes = Scenario(evidence={"female": "yes"}, probably={"toe_cramps": "no"})
    b = a.with_answer("female", "yes").with_answer("toe_cramps", "no", how="probably")
    assert_b_column(at, b)  # B is A's answers with B's changes
    assert dict(at.query_params) == {**to_query(a), **to_query(changes, B_PREFIX)}
    assert not at.info


def test_query_params_restore_an_intervention_in_b():
    at = start(**{"b.do.calcium_supplements": "yes"})
    assert at.toggle(key="do_calcium_supplements").value is True
    assert at.selectbox(key="b_calcium_supplements").value == "yes"
    assert_b_column(at, Scenario(do={"calcium_supplements": "yes"}))
    assert dict(at.query_params) == {"b.do.calcium_supplements": "yes"}


def test_bad_query_params_show_an_info_and_the_page_still_works():
    at = start(
        leg_cramp_side="sideways",
        nocturnal_cramps="yes",
        bogus="1",
        **{"b.nope": "yes", "b.female": "~maybe"},
    )
    infos = [i.value for i in at.info]
    assert len([i for i in infos if i.startswith("From the link: ignored")]) == 4
    joined = " ".join(infos)
    for key in ("leg_cramp_side=sideways", "bogus=1", "b.nope=yes", "b.female=maybe"):
        assert key in joined, (key, infos)
    assert at.sidebar.selectbox(key="q_leg_cramp_side").value == "not answered"
    assert_causes_tab(at, Scenario(evidence={"nocturnal_cramps": "yes"}))
    # the bad parameters are dropped from the URL, the good one is kept
    assert dict(at.query_params) == {"nocturnal_cramps": "yes"}
    answer(at, "female", "no")
    rerun(at)
    assert_causes_tab(at, Scenario(evidence={"nocturnal_cramps": "yes", "female": "no"}))


def test_link_parameters_the_page_cannot_show_are_reported():
    at = start(**{"do.calcium_supplements": "yes", "left_leg_cramps": "yes", "calcium": "low"})
    joined = " ".join(i.value for i in at.info)
    for key in ("calcium_supplements", "left_leg_cramps", "calcium=low"):
        assert key in joined


# --- impossible answers ----------------------------------------------------------------------


def test_no_sidebar_answers_can_be_impossible():
    """Only nodes whose parents are all hidden have zero entries, so no answer set is impossible.

    A zero in a node's table can make answers impossible only through its parents: when every
    parent is unanswerable (hidden), has a table without zeros and is no parent of another
    table with zeros, each state of the node can be explained by some parent configuration.
    """
    zero_nodes = [n for n, t in MODEL.engine.tables.items() if (t == 0).any()]
    assert zero_nodes, "expected the deterministic leg_cramp_side table"
    seen_parents: set[str] = set()
    for node in zero_nodes:
        spec = PRIORS.nodes[node]
        assert node in QUESTIONS
        for parent in spec.parents:
            assert parent not in QUESTIONS and parent not in zero_nodes
            assert parent not in seen_parents
            assert PRIORS.nodes[parent].kind == "intermediate"
            seen_parents.add(parent)
        table = MODEL.engine.tables[node].reshape(len(spec.states), -1)
        assert (table.max(axis=1) > 0).all(), f"{node}: some state is never possible"
    # and the page's error path itself is tested below, by forcing an impossible view


def test_impossible_answers_show_an_error_not_an_exception(monkeypatch):
    conflict = {"leg_cramp_side": "none", "left_leg_cramps": "yes"}
    with pytest.raises(ImpossibleEvidenceError):
        view(MODEL, Scenario(evidence=conflict))

    def impossible(*args, **kwargs):
        raise ImpossibleEvidenceError(conflict)

    monkeypatch.setattr(model.explorer, "view", impossible)
    at = start(leg_cramp_side="none")
    (error,) = at.error
    assert error.value.startswith("These answers cannot be scored together")
    assert "leg_cramp_side=none" in error.value
    assert "Not medical advice" in at.warning[0].value
    assert not at.tabs and not at.dataframe
    monkeypatch.undo()
    rerun(at)
    assert_causes_tab(at, Scenario(evidence={"leg_cramp_side": "none"}))


def test_every_question_answered():
    at = AppTest.from_file(APP, default_timeout=60)
    for node in QUESTIONS:
        at.query_params[node] = PRIORS.nodes[node].states[-1]
    at.run()
    assert not at.exception


# --- reset -------------------------------------------------------------------------------------


def test_reset_clears_every_answer():
    at = start(leg_cramp_side="left", **{"b.female": "yes"})
    answer(at, "blood_thinners", "probably yes")
    rerun(at)
    assert at.multiselect(key="b_changed").value == ["female"]
    (reset,) = [b for b in at.sidebar.button if b.label == "Reset all answers"]
    reset.click()
    rerun(at)
    assert all(s.value == "not answered" for s in at.sidebar.selectbox)
    assert dict(at.query_params) == {}
    assert at.multiselect(key="b_changed").value == []
    assert_causes_tab(at, Scenario())
    table = compare_shown(at)
    assert (table["change"] == 0).all()


# --- random answer sets ------------------------------------------------------------------------


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
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(choices=sidebar_answers(), via_link=st.booleans())
def test_random_answers_give_the_model_numbers(choices, via_link):
    scenario = Scenario()
    for node, choice in choices.items():
        state = choice.removeprefix("probably ")
        how = "probably" if choice.startswith("probably ") else "sure"
        scenario = scenario.with_answer(node, state, how=how)
    if via_link:
        at = start(**to_query(scenario))
    else:
        at = start()
        for node, choice in choices.items():
            answer(at, node, choice)
        rerun(at)
    for node in QUESTIONS:
        assert at.sidebar.selectbox(key=f"q_{node}").value == choices.get(node, "not answered")
    assert_causes_tab(at, scenario)
    assert dict(at.query_params) == to_query(scenario)
    d = diagnose(scenario.evidence, scenario.soft_evidence(PRIORS))
    flags = [e.value for e in at.main.error if not e.value.startswith("Scenario B")]
    assert flags == [f"**{f['id']}**: {f['message']}" for f in d.red_flags]
    cause, state = at.selectbox(key="why_cause").value.split("=")
    (metric,) = at.tabs[WHY_TAB].metric
    assert metric.label == f"{PRIORS.nodes[cause].label}: {state}"
    assert metric.value == f"{d.posterior[cause][state]:.3f}"


# --- the report downloads (HTML and PDF, built on click) ----------------------------------------


def deferred_downloads(monkeypatch) -> dict[str, tuple]:
    """Capture each deferred download's file name, callable and type as the page registers it.

    AppTest cannot click through to a download's bytes; the page hands the callable that
    builds them to Streamlit's media manager, so the test takes it from there and calls it.
    """
    from streamlit.runtime.media_file_manager import MediaFileManager

    built: dict[str, tuple] = {}
    original = MediaFileManager.add_deferred

    def capture(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        built[file_name] = (data_callable, mimetype)
        return original(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", capture)
    return built


def test_download_tab_offers_the_report_as_html_and_pdf_with_the_page_numbers(
    monkeypatch, tmp_path
):
    import json
    import re
    import subprocess

    from model.report import build_report
    from model.report_html import report_html

    built = deferred_downloads(monkeypatch)
    scenario = Scenario(evidence={"leg_cramp_side": "left"}, probably={"nocturnal_cramps": "yes"})
    at = start(**to_query(scenario))
    labels = [b.label for b in at.tabs[DOWNLOAD_TAB].get("download_button")]
    assert labels == [
        "Download this case and its posterior (JSON)",
        "Download the report (HTML)",
        "Download the report (PDF)",
    ]
    assert {name: mime for name, (_, mime) in built.items()} == {
        "crampnet-report.html": "text/html",
        "crampnet-report.pdf": "application/pdf",
    }
    shown = at.tabs[CAUSES_TAB].dataframe[0].value
    html = built["crampnet-report.html"][0]().decode("utf-8")
    assert html.startswith("<!DOCTYPE html>")
    rows = re.findall(r"<tr><td class=\"num\">\d+</td><td>(.*?)</td>.*?</tr>", html)
    assert rows == list(shown["cause"])
    for row in shown.itertuples():
        assert f'<td class="num">{row.posterior:.3f}</td>' in html
        assert f'<td class="num">{row.low:.3f} to {row.high:.3f}</td>' in html
    case = scenario.to_case(PRIORS)
    report = json.loads(re.search(r"<pre>(.*?)</pre>", html, re.S)[1].replace("&quot;", '"'))
    assert report == case
    day = re.search(r"Date: (\d{4}-\d{2}-\d{2})", html)[1]
    expected = build_report(MODEL, case["evidence"], case["soft_evidence"], date=day)
    assert html == report_html(expected)

    pdf = built["crampnet-report.pdf"][0]()
    assert pdf.startswith(b"%PDF")
    (tmp_path / "r.pdf").write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-layout", str(tmp_path / "r.pdf"), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    flat = " ".join(text.split())
    top = shown.iloc[0]
    assert f"{top.cause} {top.posterior:.3f} {top.low:.3f} to {top.high:.3f}" in flat
    assert "page 1 of" in flat and PRIORS.meta.notice[:60] in flat

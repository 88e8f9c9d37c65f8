"""The explorer in a real browser: ``streamlit run app.py`` driven by headless Debian chromium.

What it needs: Debian's ``chromium`` at /usr/bin/chromium (``make test`` installs it through
``make system`` when it can) and the Python packages ``playwright`` and
``axe-playwright-python`` (dev dependencies; the latter carries axe-core's own script). It
does not use ``playwright install``. Without /usr/bin/chromium the tests fail rather than
skip, so no run can pass without having looked at the page.

The story: answers in the sidebar, then through the interview; every view is visited; the
summary and the Why view follow the top cause; no label in a chart is cut off or shows an id;
What-if shows A and B with a legend; axe-core finds no serious or critical violation in any
view, at 1400 px and at 390 px. Screenshots go to a temporary folder, or to ``docs/`` with
``UPDATE_SCREENSHOTS=1`` (``make docs``), for the README.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.browser import (
    ROOT,
    answer,
    choose,
    chromium,
    missing_browser,
    open_page,
    streamlit_server,
    view_button,
    view_panel,
)
from model import default_model, diagnose
from model.diagnosis.scenario import Scenario
from model.diagnosis.view import PAGE_DRAWS, view
from model.reports.explorer import cause_rows
from model.reports.wording import answer_label, cause_label, state_word

TIMEOUT_MS = 30_000
VIEWS = ["Causes", "Interview", "Why", "Ask next", "What-if", "Network", "Case book", "Download"]
MODEL = default_model()
PRIORS = MODEL.priors
# the internal ids a person must never read: node ids and states with an underscore
IDS = {n for n in PRIORS.nodes if "_" in n} | {
    s for spec in PRIORS.nodes.values() for s in spec.states if "_" in s
}


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[str]:
    """The explorer, its case book a file of this session's temporary folder."""
    book = tmp_path_factory.mktemp("casebook") / "cases.sqlite3"
    before = os.environ.get("CRAMPNET_DB")
    os.environ["CRAMPNET_DB"] = f"sqlite:///{book}"
    try:
        with streamlit_server(ROOT / "app.py", tmp_path_factory.mktemp("streamlit") / "log") as url:
            yield url
    finally:
        if before is None:
            os.environ.pop("CRAMPNET_DB", None)
        else:
            os.environ["CRAMPNET_DB"] = before


@pytest.fixture(scope="session")
def browser():
    problem = missing_browser()
    if problem:
        pytest.fail(problem, pytrace=False)
    with chromium() as b:
        yield b


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS"):
        return ROOT / "docs"
    return tmp_path_factory.mktemp("screenshots")


def open_app(browser, server, width=1400, query=""):
    page, _ = open_page(browser, f"{server}/{query}", width=width, height=2400)
    page.context.set_default_timeout(TIMEOUT_MS)
    return page


def shown(scenario: Scenario):
    return view(MODEL, scenario, draws=PAGE_DRAWS)


def top_label(scenario: Scenario) -> str:
    top = shown(scenario).diagnosis.ranked()[0]
    return cause_label(PRIORS, top["cause"], top["state"])


def open_view(page, name: str) -> None:
    from playwright.sync_api import expect

    view_button(page, name).click()
    expect(view_button(page, name)).to_have_attribute("aria-checked", "true")
    expect(view_panel(page, name)).to_be_visible()
    expect(page.locator('[data-testid="stApp"]')).to_have_attribute(
        "data-test-script-state", "notRunning"
    )


def chart_texts(page, index: int = 0) -> list[str]:
    """Every text drawn in a Vega-Lite chart (multi-line labels joined by spaces)."""
    chart = page.locator('[data-testid="stVegaLiteChart"]').nth(index)
    chart.locator("svg text").first.wait_for()
    return chart.evaluate(
        """(el) => [...el.querySelectorAll('svg text')].map((t) => {
             const spans = [...t.querySelectorAll('tspan')];
             return spans.length ? spans.map((s) => s.textContent).join(' ') : t.textContent;
           })"""
    )


def assert_labels_whole(texts: list[str], labels: list[str]) -> None:
    """Each label appears whole (wrapped lines joined), nothing ends in an ellipsis."""
    assert not [t for t in texts if t.endswith("…")], texts
    joined = {" ".join(t.split()) for t in texts}
    missing = [label for label in labels if " ".join(label.split()) not in joined]
    assert not missing, (missing, sorted(joined))


def assert_no_ids(page) -> None:
    """No internal id (``calcium_trial``, ``not_tried``) in the main area's visible text."""
    text = page.locator('[data-testid="stMain"]').inner_text()
    body = text.split("Debug: timings")[0]  # the debug expander names files and hashes
    seen = sorted(IDS & set(re.findall(r"[a-z_]+", body)))
    assert not seen, seen


def assert_accessible(page, where: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{where}: {bad}"


def test_a_whole_story_in_a_real_browser(browser, server, shots, tmp_path):
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    page = open_app(browser, server)
    main = page.locator('[data-testid="stMain"]')

    # before any answer: the notice, then the summary naming the most probable cause
    expect(page.get_by_text(PRIORS.meta.notice[:40])).to_be_visible()
    scenario = Scenario()
    expect(main).to_contain_text(f"The most common is {top_label(scenario)}")

    # answers in the sidebar
    for node, state in (("leg_cramp_side", "left"), ("nocturnal_cramps", "yes")):
        answer(page, PRIORS.nodes[node].label, state_word(state))
        scenario = scenario.with_answer(node, state)
        expected = cause_rows(MODEL, shown(scenario)).iloc[0]
        expect(main).to_contain_text(f" at {expected.posterior:.2f}")  # the summary's number
        expect(main).to_contain_text(f"Your answers point most to {top_label(scenario)}")
    expect(page).to_have_url(re.compile(r"leg_cramp_side=left"))
    expect(page.get_by_text("2 of 49 answered.")).to_be_visible()
    rows = cause_rows(MODEL, shown(scenario))
    assert_labels_whole(chart_texts(page), list(rows["cause"]))
    assert_no_ids(page)
    assert_accessible(page, "Causes")
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.screenshot(path=str(shots / "explorer.png"), full_page=False)

    # Why follows the top cause, with every answer's label whole
    open_view(page, "Why")
    reason = shown(scenario).diagnosis.ranked()[0]
    panel = view_panel(page, "Why")
    expect(panel.locator('[data-testid="stMetricLabel"]').first).to_have_text(top_label(scenario))
    expect(panel).to_contain_text("need not add up")
    labels = [answer_label(PRIORS, n, s) for n, s in scenario.evidence.items()]
    assert_labels_whole(chart_texts(page), labels)
    assert_no_ids(page)
    assert_accessible(page, "Why")
    assert reason["cause"] == "calcium"

    # toe cramps when still for long make another cause the top one: Why follows it
    for node in ("toe_cramps", "cramps_when_immobile"):
        answer(page, PRIORS.nodes[node].label, "yes")
        scenario = scenario.with_answer(node, "yes")
    new_top = top_label(scenario)
    assert new_top != cause_label(PRIORS, "calcium", "low")
    expect(panel.locator('[data-testid="stMetricLabel"]').first).to_have_text(new_top)

    # the interview asks the most useful question; its buttons answer it
    open_view(page, "Interview")
    interview = view_panel(page, "Interview")
    for _ in range(3):
        q = shown(scenario).questions[0]
        node = PRIORS.nodes[q.variable]
        answered = len(scenario.answered())
        expect(interview).to_contain_text(
            f"{answered} answered, {len(shown(scenario).questions)} left"
        )
        expect(interview.get_by_role("heading")).to_contain_text(node.question)
        states = [s for s in node.states if s != "not_tried"]
        interview.get_by_role("button", name=state_word(states[-1]), exact=True).click()
        scenario = scenario.with_answer(q.variable, states[-1])
        expect(page).to_have_url(re.compile(rf"{q.variable}={states[-1]}"))
    expected = cause_rows(MODEL, shown(scenario)).iloc[0]
    expect(main).to_contain_text(f"Your answers point most to {top_label(scenario)}")
    assert_no_ids(page)
    assert_accessible(page, "Interview")

    # ask next: full labels, answers in words
    open_view(page, "Ask next")
    ask = view_panel(page, "Ask next")
    for q in shown(scenario).questions[:3]:
        expect(ask).to_contain_text(PRIORS.nodes[q.variable].label)
    assert_no_ids(page)
    assert_accessible(page, "Ask next")
    # the effort weight re-ranks at once (it reruns the page, not only the view)
    light = view(MODEL, scenario, cost_weight=0.2, draws=PAGE_DRAWS).questions
    first, moved = shown(scenario).questions[0].variable, light[0].variable
    assert first != moved, "the story should have a trial first that effort demotes"
    ask.get_by_role("slider").press("End")  # the largest weight, 0.2
    expect(ask.get_by_role("slider")).to_have_value("0.2")
    heading = ask.locator('[data-testid="stMarkdownContainer"] strong')
    expect(heading.first).to_have_text(PRIORS.nodes[moved].label)
    ask.get_by_role("slider").press("Home")
    expect(heading.first).to_have_text(PRIORS.nodes[first].label)

    # what-if: B changes one answer; A and B side by side with a legend
    open_view(page, "What-if")
    whatif = view_panel(page, "What-if")
    expect(whatif).to_contain_text("B is the same as A")
    pick = page.get_by_role("combobox", name="What to change in B")
    pick.click()
    pick.fill(PRIORS.nodes["nocturnal_cramps"].label)  # the long list is virtual: filter it
    page.get_by_role("option", name=PRIORS.nodes["nocturnal_cramps"].label, exact=True).click()
    page.keyboard.press("Escape")
    choose(page, f"B: {PRIORS.nodes['nocturnal_cramps'].label}", "no")
    texts = chart_texts(page)
    assert_labels_whole(texts, ["A: your answers", "B: with the changes"])
    b = diagnose(
        {**scenario.evidence, "nocturnal_cramps": "no"},
        model=MODEL,
    )
    moved = [
        cause_label(PRIORS, c, s)
        for c, s in MODEL.abnormal_states()
        if abs(b.posterior[c][s] - shown(scenario).diagnosis.posterior[c][s]) >= 0.0005
    ]
    assert moved
    assert_labels_whole(texts, moved)
    assert_no_ids(page)
    assert_accessible(page, "What-if")

    # network: the top cause with its links, states named
    open_view(page, "Network")
    top = shown(scenario).diagnosis.ranked()[0]
    texts = chart_texts(page)
    assert any(t.startswith(cause_label(PRIORS, top["cause"], top["state"])) for t in texts)
    assert_accessible(page, "Network")

    # download: the case and the model's posterior for it
    open_view(page, "Download")
    assert_accessible(page, "Download")
    with page.expect_download() as info:
        page.get_by_role("button", name=re.compile("Download this case")).click()
    path = tmp_path / "case.json"
    info.value.save_as(path)
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert payload["case"] == {"evidence": scenario.evidence}
    expected_posterior = diagnose(scenario.evidence, model=MODEL).posterior
    for cause, dist in expected_posterior.items():
        for s, value in dist.items():
            assert payload["result"]["posterior"][cause][s] == pytest.approx(value, abs=1e-9)
    page.context.close()


def test_a_phone_sized_page_is_usable(browser, server, shots):
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    page = open_app(browser, server, width=390, query="?leg_cramp_side=left&nocturnal_cramps=yes")
    scenario = Scenario({"leg_cramp_side": "left", "nocturnal_cramps": "yes"})
    main = page.locator('[data-testid="stMain"]')
    expect(main).to_contain_text(f"Your answers point most to {top_label(scenario)}")
    expect(main).to_contain_text("Interview view")
    rows = cause_rows(MODEL, shown(scenario))
    assert_labels_whole(chart_texts(page), list(rows["cause"]))
    # nothing wider than the screen in the main area
    overflow = main.evaluate("(el) => el.scrollWidth - el.clientWidth")
    assert overflow <= 1, f"the main area is {overflow} px wider than the screen"
    assert_accessible(page, "Causes at 390 px")
    page.screenshot(path=str(shots / "explorer-phone.png"), full_page=False)
    # the second ranking: what putting each cause right would stop, whole and on screen
    page.get_by_text("what putting it right would stop").click()
    page.get_by_text("Show the numbers as a table").click()  # the table is drawn on demand
    order = shown(scenario).diagnosis.ranked_if_fixed()
    first = cause_label(PRIORS, *order[0])
    expect(main.locator("table tbody tr").first).to_contain_text(first)
    assert_labels_whole(chart_texts(page), [cause_label(PRIORS, *cs) for cs in order])
    overflow = main.evaluate("(el) => el.scrollWidth - el.clientWidth")
    assert overflow <= 1, f"ranked by fixing, the main area is {overflow} px too wide"
    assert_accessible(page, "Causes ranked by fixing at 390 px")
    # the interview answers inline, with buttons a thumb can hit
    open_view(page, "Interview")
    button = view_panel(page, "Interview").get_by_role("button").first
    box = button.bounding_box()
    assert box and box["height"] >= 32 and box["width"] >= 120
    assert_accessible(page, "Interview at 390 px")
    page.context.close()


def test_a_hostile_link_renders_nothing_from_the_url(browser, server):
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    query = (
        "?%5BClick%20here%5D(http%3A%2F%2Fexample.org)=yes"
        "&!%5Bt%5D(http%3A%2F%2Fexample.org%2Ft.png)=yes&b.left_leg_cramps=yes"
        "&leg_cramp_side=left"
    )
    page = open_app(browser, server, query=query)
    main = page.locator('[data-testid="stMain"]')
    expect(main).to_contain_text("Some parts of the link were ignored")
    expect(main).to_contain_text("b.left_leg_cramps")
    assert main.locator('a[href^="http://example.org"]').count() == 0
    assert main.locator('img[src^="http://example.org"]').count() == 0
    fetched = page.evaluate("performance.getEntriesByType('resource').map((e) => e.name)")
    assert not [u for u in fetched if "example.org" in u]
    page.context.close()


def test_a_pinned_cause_survives_view_switches(browser, server):
    """The views rerun on their own (a fragment): a choice in a view not shown is kept."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    page = open_app(browser, server, query="?leg_cramp_side=left")
    pinned = cause_label(PRIORS, "dehydration", "yes")
    open_view(page, "Why")
    choose(page, "Explain which cause?", pinned)
    panel = view_panel(page, "Why")
    expect(panel.locator('[data-testid="stMetricLabel"]').first).to_have_text(pinned)
    for name in ("Causes", "Network", "Why"):
        open_view(page, name)
    expect(panel.locator('[data-testid="stMetricLabel"]').first).to_have_text(pinned)
    expect(page.get_by_role("combobox", name="Explain which cause?")).to_have_value(pinned)
    page.context.close()


def test_a_saved_case_comes_back_after_a_reload(browser, server):
    """Save a case, reload the page with no answers, open the case, add a follow-up: the
    sidebar holds its answers again and the timeline shows both steps, in words, with its
    chart."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    label = "browser story"
    page = open_app(browser, server, query="?leg_cramp_side=right&nocturnal_cramps=yes")
    open_view(page, "Case book")
    panel = view_panel(page, "Case book")
    panel.get_by_label("A label for these answers (no name needed)").fill(label)
    panel.get_by_label("A label for these answers (no name needed)").press("Enter")
    panel.get_by_role("button", name="Save these answers as a case").click()
    expect(panel).to_contain_text("Saved as case")
    page.context.close()

    page = open_app(browser, server)  # a new visit: no answers in the address
    open_view(page, "Case book")
    panel = view_panel(page, "Case book")
    expect(panel).to_contain_text(label)
    panel.get_by_role("button", name="Open it in the sidebar").click()
    side = PRIORS.nodes["leg_cramp_side"].label
    expect(page.get_by_role("combobox", name=side, exact=True)).to_have_value("right")
    answer(page, PRIORS.nodes["toe_cramps"].label, "yes")
    open_view(page, "Case book")
    panel = view_panel(page, "Case book")
    panel.get_by_role("button", name="Add the answers now as a follow-up").click()
    expect(panel).to_contain_text("changed: Toe cramps: yes")
    expect(panel).to_contain_text("answers: Which leg cramps: right; Cramps at night: yes")
    expect(panel.locator('[data-testid="stVegaLiteChart"] svg').first).to_be_visible()
    assert_no_ids(page)
    assert_accessible(page, "Case book")
    page.context.close()

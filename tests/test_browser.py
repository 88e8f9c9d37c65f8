"""The explorer in a real browser: ``streamlit run app.py`` driven by headless Chromium.

What it needs: Debian's ``chromium`` at /usr/bin/chromium (``apt-get install -y chromium``;
``.ci/run`` installs it) and the Python ``playwright`` package (a dev dependency). It does not
use ``playwright install``: it launches the system Chromium. Without /usr/bin/chromium the
test fails rather than skips, so CI cannot pass without having looked at the page.

The session fixture starts the app on a free local port, polls ``/_stcore/health`` until the
server answers, and stops it at the end. The test answers two questions in the sidebar, waits
until the page shows the model's posterior for them (computed in this process), answers the
top "Ask next" question with its first button, downloads the case JSON and compares its
posterior with ``diagnose``, and saves a screenshot to ``docs/explorer.png``.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from model import default_model, diagnose
from model.explorer import cause_rows, view
from model.scenario import Scenario

ROOT = Path(__file__).parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = ROOT / "docs" / "explorer.png"
TIMEOUT_MS = 30_000
START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[str]:
    """The app served by ``streamlit run`` on 127.0.0.1; yields its base URL."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--server.headless",
        "true",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"streamlit exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200 and answer.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"streamlit not healthy after {START_TIMEOUT_S} s:\n{log_path.read_text()}"
                )
            time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(
            "Debian chromium is missing: apt-get install -y chromium (.ci/run installs it)",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 3000}, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(server)
    yield page
    context.close()


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the Streamlit selectbox labelled ``label`` (a combobox and listbox)."""
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("listbox").get_by_role("option", name=option, exact=True).click()
    expect_value(page.get_by_role("combobox", name=label, exact=True), option)


def expect_value(locator, value: str) -> None:
    from playwright.sync_api import expect

    expect(locator).to_have_value(value)


def top_posterior(scenario: Scenario) -> str:
    """The first metric of the Causes tab: the most probable cause state, 3 decimals."""
    return f"{cause_rows(default_model(), view(default_model(), scenario)).iloc[0].posterior:.3f}"


def test_answers_ask_next_download_and_screenshot(page, tmp_path):
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    model = default_model()
    priors = model.priors
    first_metric = page.locator('[data-testid="stMetricValue"]').first
    expect(first_metric).to_have_text(top_posterior(Scenario()))
    expect(page.get_by_text(priors.meta.notice[:40])).to_be_visible()

    # two answers in the sidebar
    choose(page, priors.nodes["leg_cramp_side"].label, "left")
    scenario = Scenario(evidence={"leg_cramp_side": "left"})
    expect(first_metric).to_have_text(top_posterior(scenario))
    choose(page, priors.nodes["nocturnal_cramps"].label, "yes")
    scenario = scenario.with_answer("nocturnal_cramps", "yes")
    expect(first_metric).to_have_text(top_posterior(scenario))
    expect(page).to_have_url(re.compile(r"leg_cramp_side=left"))
    expect(page).to_have_url(re.compile(r"nocturnal_cramps=yes"))

    # the screenshot: the Causes tab after the answers, chart drawn
    expect(page.locator('[data-testid="stVegaLiteChart"]').first).to_be_visible()
    page.evaluate("document.activeElement && document.activeElement.blur()")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert 0 < SCREENSHOT.stat().st_size < 1_000_000

    # the top "Ask next" question, answered with its first button
    top = view(model, scenario).questions[0]
    var, state = top["variable"], priors.nodes[top["variable"]].states[0]
    page.get_by_role("tab", name="Ask next").click()
    panel = page.get_by_role("tabpanel", name="Ask next")
    expect(panel.locator("strong").first).to_have_text(top["label"])
    button = panel.locator('[data-testid="stButton"] button').first
    expect(button).to_have_text(state)
    expect(page.locator(f".st-key-ask_{var}_{state} button")).to_have_text(state)
    button.click()
    scenario = scenario.with_answer(var, state)
    page.get_by_role("tab", name="Causes").click()
    expect(first_metric).to_have_text(top_posterior(scenario))
    expect(page).to_have_url(re.compile(rf"{var}={state}"))

    # the download is the case and the model's posterior for it
    page.get_by_role("tab", name="Download").click()
    with page.expect_download() as info:
        page.get_by_role("button", name=re.compile("Download this case")).click()
    download = info.value
    assert download.suggested_filename == "crampnet-case.json"
    path = tmp_path / "case.json"
    download.save_as(path)
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert payload["case"] == {"evidence": scenario.evidence}
    expected = diagnose(scenario.evidence, model=model).posterior
    for cause, dist in expected.items():
        for s, value in dist.items():
            assert payload["result"]["posterior"][cause][s] == pytest.approx(value, abs=1e-9)

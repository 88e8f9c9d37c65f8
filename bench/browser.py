"""What a person waits for in a real browser: a Streamlit page served locally, driven by
headless Debian chromium through playwright.

Shared by ``make bench`` (the ``browser`` section of ``bench.json``) and
``tests/test_browser.py``. A page has *settled* when Streamlit's script state is
``notRunning`` again after a rerun and one animation frame has been drawn: the moment a person
sees the answer's effect. Everything is timed inside the page (``performance.now()``), from the
``click`` event on the option (the ``input`` event of the explorer's native selects) to that
frame, so playwright's own round trips do not count.
When a rerun triggers another one (a query-string update, a widget callback), the last settle
within a quiet window counts.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from model.reports.explorer import view_key

ROOT = Path(__file__).resolve().parent.parent
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
START_TIMEOUT_S = 90
QUIET_MS = 400  # no new rerun for this long after a settle: the page is done

# Installed before any page script: records every change of the script state, and the time
# of the animation frame after each change to notRunning, and of the last click.
OBSERVER_JS = """
(() => {
  window.__crampnet = {clicks: [], runs: [], settles: []};
  const rec = window.__crampnet;
  const frame = () => requestAnimationFrame(() => rec.settles.push(performance.now()));
  const start = () => rec.clicks.push(performance.now());
  document.addEventListener('click', start, true);
  // a native select answers without a click on the page: its input event (composed, so it
  // leaves the component's shadow root) is the moment the option is chosen
  document.addEventListener('input', start, true);
  // Every message from the server (deltas, script finished) counts as activity, and the
  // frame after it as a settle: a fast rerun can start and finish within one render, so
  // the script-state attribute alone may never change.
  const Socket = window.WebSocket;
  window.WebSocket = function (...args) {
    const ws = new Socket(...args);
    ws.addEventListener('message', () => {
      rec.runs.push(performance.now());
      setTimeout(frame, 0);
    });
    return ws;
  };
  window.WebSocket.prototype = Socket.prototype;
  Object.assign(window.WebSocket, Socket);
  const watch = (app) => {
    new MutationObserver((records) => {
      const state = app.getAttribute('data-test-script-state');
      if (records.some((r) => r.oldValue === 'running') || state === 'running') {
        rec.runs.push(performance.now());
      }
      if (state === 'notRunning') frame();
    }).observe(app, {
      attributes: true, attributeOldValue: true, attributeFilter: ['data-test-script-state'],
    });
  };
  const find = () => {
    const app = document.querySelector('[data-testid="stApp"]');
    if (app) { watch(app); } else { setTimeout(find, 5); }
  };
  find();
})();
"""

# True once the page has settled after time ``since`` (ms, page clock) and stayed quiet.
SETTLED_JS = """
([since, quiet]) => {
  const rec = window.__crampnet;
  const app = document.querySelector('[data-testid="stApp"]');
  if (!rec || !app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const runs = rec.runs.filter((t) => t >= since);
  const settles = rec.settles.filter((t) => t >= since);
  if (!runs.length || !settles.length) return false;
  const last = settles[settles.length - 1];
  if (runs[runs.length - 1] > last) return false;
  return performance.now() - last >= quiet;
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(script: Path, log_path: Path) -> Iterator[str]:
    """``streamlit run script`` on a free port of 127.0.0.1; yields its base URL once healthy."""
    port = free_port()
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
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
                raise RuntimeError(
                    f"streamlit exited with {process.returncode}:\n{log_path.read_text()}"
                )
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                    if answer.status == 200 and answer.read().strip() == b"ok":
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
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


def missing_browser() -> str | None:
    """Why the real-browser checks cannot run here, or None when they can."""
    if not Path(CHROMIUM).exists():
        return (
            f"Debian chromium is missing at {CHROMIUM}: `make system` installs it "
            "(apt-get install chromium, as root or through sudo)"
        )
    return None


@contextmanager
def chromium() -> Iterator[object]:
    """Headless Debian chromium through playwright (``playwright install`` is not used)."""
    problem = missing_browser()
    if problem:
        raise RuntimeError(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url: str, *, width: int = 1400, height: int = 2400, timeout_ms=15_000):
    """A new page on ``url`` with the settle observer installed; returns (page, load_ms)."""
    context = browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True
    )
    context.set_default_timeout(timeout_ms)
    context.add_init_script(OBSERVER_JS)
    page = context.new_page()
    page.goto(url)
    load_ms = wait_settled(page, 0.0, timeout_ms=timeout_ms)
    return page, load_ms


def page_now(page) -> float:
    return page.evaluate("performance.now()")


def wait_settled(page, since: float, *, timeout_ms: float = 60_000) -> float:
    """Wait until the page settles after ``since`` (page clock, ms); the settle time in ms
    counted from the last click or input after ``since`` (from ``since`` itself when none)."""
    page.wait_for_function(SETTLED_JS, arg=[since, QUIET_MS], timeout=timeout_ms, polling=50)
    return page.evaluate(
        """(since) => {
          const rec = window.__crampnet;
          const clicks = rec.clicks.filter((t) => t >= since);
          const start = clicks.length ? clicks[clicks.length - 1] : since;
          const settles = rec.settles.filter((t) => t >= since);
          return settles[settles.length - 1] - start;
        }""",
        since,
    )


def timed(page, action) -> float:
    """Milliseconds from the last click (or input) ``action`` makes to the page settling."""
    since = page_now(page)
    action()
    return wait_settled(page, since)


def choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the Streamlit selectbox labelled ``label``."""
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("listbox").get_by_role("option", name=option, exact=True).click()


def answer(page, label: str, option: str) -> None:
    """Pick ``option`` for the explorer's question labelled ``label`` (a native select of the
    sidebar's questions component, ``model/reports/questions_form.py``)."""
    page.get_by_label(label, exact=True).select_option(label=option)


# A story of answers in the explorer's open sidebar group ("Where and when it cramps"): each
# one a new scenario for the engine, none impossible.
APP_ANSWERS: tuple[tuple[str, str], ...] = (
    ("Which leg cramps", "left"),
    ("Cramps at night", "yes"),
    ("Cramps during exercise", "no"),
    ("Cramps after exercise", "no"),
    ("Cramp within minutes of starting", "no"),
    ("Front of the thigh", "no"),
    ("Toe cramps", "yes"),
    ("Hand or arm cramps", "no"),
    ("Back spasms", "no"),
    ("Neck spasms", "no"),
    ("Cramps when still for long", "yes"),
    ("A short walk ends them", "probably yes"),
    ("Restless legs", "no"),
    ("Jerks when falling asleep", "no"),
    ("Knees grind", "no"),
    ("Burning muscles", "no"),
    ("Stomach cramps", "no"),
    ("Which leg cramps", "both"),
    ("Cramps at night", "probably yes"),
    ("Toe cramps", "no"),
    ("Cramps during exercise", "yes"),
    ("Which leg cramps", "right"),
    ("Cramps when still for long", "not answered"),
    ("Cramps at night", "no"),
)
BARE_ANSWERS: tuple[tuple[str, str], ...] = tuple(
    (f"Question {i % 12 + 1}", ("yes", "no")[(i // 12) % 2]) for i in range(len(APP_ANSWERS))
)


def time_answers(browser, url: str, answers, pick=choose, *, width: int = 1400) -> dict:
    """Open ``url``, then answer each (label, option) in turn with ``pick``: the initial load
    and every answer's settle time, in ms."""
    page, load_ms = open_page(browser, url, width=width)
    waits = []
    try:
        for label, option in answers:
            try:
                waits.append(timed(page, partial(pick, page, label, option)))
            except Exception as exc:
                raise RuntimeError(f"answering {label!r} with {option!r}: {exc}") from exc
    finally:
        page.context.close()
    return {"load_ms": load_ms, "answer_ms": waits}


def _summary(values: list[float]) -> dict:
    return {
        "n": len(values),
        "median_ms": statistics.median(values),
        "min_ms": min(values),
        "max_ms": max(values),
    }


def view_button(page, name: str):
    """The explorer's button for view ``name`` (a radio in the group labelled "View")."""
    return page.get_by_role("radiogroup", name="View").get_by_role("radio", name=name, exact=True)


def view_panel(page, name: str):
    """The panel the explorer draws view ``name`` in (a container keyed :func:`view_key`)."""
    return page.locator(f".st-key-{view_key(name)}")


def _explorer_actions(browser, url: str) -> dict[str, list[float]]:
    """View switches, Ask-next clicks and resets in the explorer, each timed to the settle."""
    from playwright.sync_api import expect

    page, _ = open_page(browser, url)
    out: dict[str, list[float]] = {"view_switch": [], "ask_next_click": [], "reset": []}
    try:
        for _ in range(2):
            answer(page, *APP_ANSWERS[0])
            for name in ("Why", "Ask next", "What-if", "Network", "Interview", "Causes"):
                out["view_switch"].append(timed(page, view_button(page, name).click))
            timed(page, view_button(page, "Ask next").click)
            for _ in range(3):
                button = view_panel(page, "Ask next").locator('[data-testid="stButton"] button')
                expect(button.first).to_be_visible()
                out["ask_next_click"].append(timed(page, button.first.click))
            reset = page.get_by_role("button", name="Reset all answers")
            out["reset"].append(timed(page, reset.click))
            view_button(page, "Causes").click()
    finally:
        page.context.close()
    return out


def browser_section(log=print, loads: int = 3, rounds: int = 2) -> dict:
    """``bench.json``'s ``browser`` section: what a person waits in headless chromium for the
    explorer and for a bare page of a dozen selectboxes, measured the same way in one run.

    The pages are measured in turns, ``rounds`` times over (the bare page's answers, then the
    explorer's answers and actions, each on a server of its own started for the round, so
    that no round finds what an earlier one computed in a cache): a machine that slows down
    or speeds up during the run (a shared one does, by a fifth between minutes) then weighs
    on both alike. Medians are over every round; each round's bare median and ratios are
    kept too."""
    import tempfile

    result: dict = {
        "method": (
            "headless Debian chromium through playwright on this machine; each wait from the "
            "click event on the option (the input event of the explorer's native selects; "
            "the click on a view or button) to the first animation frame after "
            "the page's last server message and script state notRunning, timed in the page "
            f"(quiet window {QUIET_MS} ms, not counted). Initial load: navigation start to "
            "the same settle, on a server that has served one page already (the explorer's "
            "first page loads the model). Bare page: bench/bare_page.py, 12 selectboxes in the "
            f"sidebar. The two pages are measured in turns, {rounds} rounds of each, each "
            "round on servers started for it."
        ),
        "answers": len(APP_ANSWERS) * rounds,
        "rounds": rounds,
    }
    pages = {
        "bare": (ROOT / "bench" / "bare_page.py", BARE_ANSWERS, choose),
        "app": (ROOT / "app.py", APP_ANSWERS, answer),
    }
    waits: dict[str, dict[str, list[float]]] = {name: {"load": []} for name in pages}
    by_round = []
    with tempfile.TemporaryDirectory() as tmp, chromium() as browser:
        for k in range(rounds):
            medians = {}
            for name, (script, answers, pick) in pages.items():
                log(f"browser: round {k + 1} of {rounds}, {name} page: {len(answers)} answers")
                # a fresh server each round: nothing an earlier round computed is cached
                with streamlit_server(script, Path(tmp) / f"{name}{k}.log") as url:
                    time_answers(browser, url, (), pick)  # the server's first page loads it
                    timing = time_answers(browser, url, answers, pick)
                    waits[name]["load"].append(timing["load_ms"])
                    waits[name].setdefault("answer", []).extend(timing["answer_ms"])
                    medians[(name, "answer")] = statistics.median(timing["answer_ms"])
                    if name == "app":
                        log(f"browser: round {k + 1}, view switches, ask-next clicks and resets")
                        for action, values in _explorer_actions(browser, url).items():
                            waits[name].setdefault(action, []).extend(values)
                            medians[(name, action)] = statistics.median(values)
                    for _ in range(max(loads - rounds, 0) if k == rounds - 1 else 0):
                        waits[name]["load"].append(time_answers(browser, url, (), pick)["load_ms"])
            bare = medians[("bare", "answer")]
            by_round.append(
                {"bare_answer_ms": bare}
                | {a: medians[(n, a)] / bare for n, a in medians if n == "app"}
            )
    for name in pages:
        result[name] = {kind: _summary(values) for kind, values in waits[name].items()}
    bare = result["bare"]["answer"]["median_ms"]
    result["ratio_answer_median"] = result["app"]["answer"]["median_ms"] / bare
    result["ratio_by_action"] = {
        action: result["app"][action]["median_ms"] / bare
        for action in ("answer", "view_switch", "ask_next_click", "reset")
    }
    result["ratio_by_round"] = by_round
    result["target_ratio"] = 2.0
    result["met"] = max(result["ratio_by_action"].values()) <= result["target_ratio"]
    return result


def section(run) -> dict:
    """``bench.json``'s ``browser`` key for :mod:`bench.run`: :func:`browser_section`, with
    the server time of a rerun beside it (:mod:`bench.app_rerun`, measured once per run)."""
    from bench.app_rerun import rerun_summary

    server = rerun_summary(run)
    timings = browser_section(run.log, run.settings.browser_loads, run.settings.browser_rounds)
    return {"browser": {**timings, "server_rerun_ms": server}}


if __name__ == "__main__":  # python bench/browser.py: this section alone, printed
    import json

    print(json.dumps(browser_section(log=lambda m: print(m, file=sys.stderr)), indent=2))

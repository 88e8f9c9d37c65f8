"""``app_rerun_ms``: the server time of an explorer rerun after one answer changes, as the page
itself reports it (its debug metric times the script from top to bottom), through streamlit's
``AppTest``. The ``browser`` section shows the same figure beside its own."""

from __future__ import annotations

import json

from bench.common import ROOT, SEED, Run, sample_evidence, summary
from model.reports.questions_form import EVENT


def send_answers(app, answers: object):
    """Run ``app`` (an ``AppTest`` of the explorer) sending ``answers`` as the sidebar's
    questions component sends a change: its ``answer`` event. AppTest has no driver for
    ``st.components.v2``; this is the trigger widget the browser's component sets."""
    from streamlit.components.v2.bidi_component.main import _make_trigger_id

    (element,) = app.sidebar.get("bidi_component")
    states = app._tree.get_widget_states()
    event = states.widgets.add()
    event.id = _make_trigger_id(element.proto.id, "events")
    event.json_trigger_value = json.dumps([{"event": EVENT, "value": answers}])
    return app._run(states)


def rerun_times(run: Run) -> list[float]:
    """Milliseconds of the page's reruns, one answer set each."""
    from streamlit.testing.v1 import AppTest

    n = run.settings.app_reruns
    run.log(f"app: {n} reruns of app.py after a single answer each")
    app = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    app.run()
    times = []
    for evidence in sample_evidence(run.model, n, SEED + 3):
        variable, state = next(iter(evidence.items()))
        send_answers(app, {variable: state})
        shown = [m.value for m in app.metric if m.label == "server time for this rerun"]
        if shown and not app.exception:
            times.append(float(shown[0].split()[0]))
    return times


def rerun_summary(run: Run) -> dict[str, float]:
    """The summary of :func:`rerun_times`, measured once per run."""
    return run.once("app_rerun_ms", lambda: summary(rerun_times(run)))


def section(run: Run) -> dict:
    return {"app_rerun_ms": rerun_summary(run)}

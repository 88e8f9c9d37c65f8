"""``app_rerun_ms``: the server time of an explorer rerun after one answer changes, as the page
itself reports it (its debug metric times the script from top to bottom), through streamlit's
``AppTest``. The ``browser`` section shows the same figure beside its own."""

from __future__ import annotations

from bench.common import ROOT, SEED, Run, sample_evidence, summary


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
        app.sidebar.selectbox(key=f"q_{variable}").select(state).run()
        shown = [m.value for m in app.metric if m.label == "server time for this rerun"]
        if shown and not app.exception:
            times.append(float(shown[0].split()[0]))
    return times


def rerun_summary(run: Run) -> dict[str, float]:
    """The summary of :func:`rerun_times`, measured once per run."""
    return run.once("app_rerun_ms", lambda: summary(rerun_times(run)))


def section(run: Run) -> dict:
    return {"app_rerun_ms": rerun_summary(run)}

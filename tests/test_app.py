"""The first explorer page, driven through Streamlit's AppTest: numbers equal the API's."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from model import diagnose

APP = str(Path(__file__).parent.parent / "app.py")


@pytest.fixture
def app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60).run()


def test_page_shows_notice_first_and_prior_ranking(app):
    assert not app.exception
    assert "Not medical advice" in app.warning[0].value
    shown = app.dataframe[0].value
    expected = diagnose({}).ranked()
    assert list(shown["posterior"]) == pytest.approx([r["posterior"] for r in expected], abs=1e-12)


def test_answers_move_the_posterior_like_the_api(app):
    app.sidebar.selectbox(key="q_leg_cramp_side").select("left").run()
    app.sidebar.selectbox(key="q_neurological_condition").select("yes").run()
    assert not app.exception
    assert any("neurological" in e.value for e in app.error)
    api = diagnose({"leg_cramp_side": "left", "neurological_condition": "yes"}).ranked()
    shown = app.dataframe[0].value
    assert list(shown["cause"]) == [f"{r['cause']} = {r['state']}" for r in api]
    assert list(shown["posterior"]) == pytest.approx([r["posterior"] for r in api], abs=1e-12)


def test_not_tried_changes_nothing(app):
    before = list(app.dataframe[0].value["posterior"])
    app.sidebar.selectbox(key="q_calcium_trial").select("not_tried").run()
    assert list(app.dataframe[0].value["posterior"]) == pytest.approx(before, abs=1e-12)

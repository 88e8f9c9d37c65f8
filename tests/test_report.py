"""Exported posterior reports (``model.reports.content*``, ``crampnet report``): JSON, HTML, PDF,
batches.

The JSON validates against ``docs/report.schema.json``; the HTML parses, keeps the required
section order and holds the numbers ``view`` / ``diagnose`` give, and loads nothing from the
network; the PDF turns into non-blank PNG pages with pypdfium2 and numbers its pages; a
unicode case and an empty case both render; a case table gives one report per usable row and
an index that accounts for every row. Both rankings (by probability, and by what putting a
cause right alone would stop) and the answers that pull apart hold ``diagnose``'s numbers and
read in words, never ids. With ``UPDATE_SCREENSHOTS=1`` it also writes
``docs/report-page.png`` for the README.
"""

from __future__ import annotations

import csv
import html as htmllib
import json
import math
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pdfpages import pdf_pages, pdf_text
from PIL import Image, ImageStat

from model import EvidenceError, ImpossibleEvidenceError, default_model, diagnose
from model.cli.crampnet import main
from model.diagnosis.view import view
from model.readwrite.casefile import read_case
from model.reports.content import (
    IF_FIXED_MIN,
    IF_FIXED_SHOWN,
    SECTION_TITLES,
    SECTIONS,
    build_report,
    report_json,
    scenario_of,
)
from model.reports.html import report_html
from model.reports.pdf import report_pdf
from model.reports.render import render
from model.reports.text import ranks_first, shown_sections
from model.reports.wording import conflict_notice, conflict_sentence, if_fixed_sentence

ROOT = Path(__file__).parent.parent
SCHEMA = json.loads((ROOT / "docs" / "report.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
EXAMPLE = ROOT / "tests" / "data" / "example_case.json"
PAGE_PNG = ROOT / "docs" / "report-page.png"
MODEL = default_model()
PRIORS = MODEL.priors
DATE = "2026-03-14"
UNICODE_ID = "Zoë Ωμέγα №7 ✓ <b>&"
FLAGGED = {"neurological_condition": "yes", "leg_cramp_side": "left", "low_potassium_intake": "yes"}
# two features, no answers pulling apart: low calcium would stop about 1.3 of the 2
FEATURED = {"leg_cramp_side": "left", "nocturnal_cramps": "yes"}
# three features: dehydration is about as probable as poor circulation but would stop little
THREE = {
    "leg_cramp_side": "both",
    "nocturnal_cramps": "yes",
    "toe_cramps": "yes",
    "low_fluid_intake": "yes",
}
# Two answers that clearly pull apart (factor >= 2), whichever answers Jensen's measure names
# (with two, the pair is all of them). No pair of sure answers reaches twice in the current
# priors (the strongest, bicarbonate loading without stomach cramps, is 1.8 times), so the
# case sets a cause by intervention: with dehydration set, cramps in the right leg and no
# change on calcium are 2.4 times less likely together than one by one.
PAIRED = {"leg_cramp_side": "right", "calcium_trial": "no_change"}
PAIRED_DO = {"dehydration": "yes"}
# Sure answers only: cramps in neither leg, yet calcium and magnesium trials that both helped
# (no pair reaches twice; the three together are about 2.2 times less likely than apart).
CONFLICTED = {
    "leg_cramp_side": "none",
    "nocturnal_cramps": "yes",
    "calcium_trial": "improved",
    "magnesium_trial": "improved",
}
# a slight conflict (1.4 times): named in a muted line, not a notice
SLIGHT = {"leg_cramp_side": "none", "nocturnal_cramps": "yes"}


def example_report(**kwargs) -> dict:
    evidence, soft, do, _ = read_case(EXAMPLE)
    return build_report(MODEL, evidence, soft, do, date=DATE, **kwargs)


def validate(report: dict) -> None:
    VALIDATOR.validate(json.loads(report_json(report)))


# --- the JSON report ---------------------------------------------------------------------------


def test_schema_is_valid_draft_2020_12_and_describes_every_property():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert list(SCHEMA["properties"]) == SCHEMA["required"]

    def walk(node, path="$"):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is False, path
                for name, sub in node["properties"].items():
                    assert sub.get("description"), f"{path}.{name} has no description"
            for key, sub in node.items():
                walk(sub, f"{path}.{key}")
        elif isinstance(node, list):
            for sub in node:
                walk(sub, path)

    walk(SCHEMA)


@pytest.mark.parametrize(
    "evidence, soft, do",
    [
        ({}, None, None),
        (FLAGGED, None, None),
        ({"leg_cramp_side": "right"}, {"nocturnal_cramps": {"yes": 4.0, "no": 1.0}}, None),
        ({"leg_cramp_side": "both"}, None, {"calcium_supplements": "yes"}),
    ],
)
def test_reports_validate_against_the_schema(evidence, soft, do):
    report = build_report(MODEL, evidence, soft, do, date=DATE, case_id="c-1")
    validate(report)
    assert list(report) == SCHEMA["required"]
    validate(example_report())


@st.composite
def answers(draw) -> tuple[dict, dict]:
    """A few hard and soft answers drawn from the network's own questions and states."""
    nodes = [n for ids in PRIORS.questions().values() for n in ids]
    chosen = draw(st.lists(st.sampled_from(nodes), max_size=6, unique=True))
    hard, soft = {}, {}
    for node in chosen:
        states = PRIORS.nodes[node].states
        if draw(st.booleans()):
            hard[node] = draw(st.sampled_from(states))
        else:
            weights = draw(
                st.lists(st.floats(0.05, 1.0), min_size=len(states), max_size=len(states))
            )
            soft[node] = dict(zip(states, weights, strict=True))
    return hard, soft


@given(answers())
def test_generated_evidence_gives_valid_reports_with_the_api_numbers(drawn):
    hard, soft = drawn
    try:
        expected = diagnose(hard, soft, model=MODEL)
    except ImpossibleEvidenceError:
        with pytest.raises(ImpossibleEvidenceError):
            build_report(MODEL, hard, soft, date=DATE)
        return
    report = build_report(MODEL, hard, soft, date=DATE)
    validate(report)
    rows = report["causes"]["rows"]
    assert [(r["cause"], r["state"]) for r in rows] == [
        (r["cause"], r["state"]) for r in expected.ranked()
    ]
    assert [r["posterior"] for r in rows] == [r["posterior"] for r in expected.ranked()]
    # the same draws (DRAWS, seed 0) as diagnose: the same shares, exactly
    assert [r["rank_first"] for r in rows] == [
        expected.rank_first[(r["cause"], r["state"])] for r in rows
    ]
    assert sum(r["rank_first"] for r in rows) == pytest.approx(1.0, abs=1e-12)
    assert [f["id"] for f in report["red_flags"]] == [f.id for f in expected.red_flags]
    assert {a["variable"] for a in report["answers"]} == set(hard) | set(soft)
    assert_if_fixed_and_conflict(report, expected)


def test_report_holds_the_explorer_numbers_and_is_deterministic_for_a_date():
    evidence, soft, do, _ = read_case(EXAMPLE)
    report = example_report()
    shown = view(MODEL, scenario_of(evidence, soft, do))
    for row in report["causes"]["rows"]:
        interval = shown.intervals[row["cause"]][row["state"]]
        assert row["posterior"] == shown.diagnosis.posterior[row["cause"]][row["state"]]
        assert (row["low"], row["high"]) == (interval["low"], interval["high"])
        assert row["rank_first"] == shown.rank_first[(row["cause"], row["state"])]
    assert {(r["cause"], r["state"]) for r in report["causes"]["rows"]} == set(shown.rank_first)
    assert report["causes"]["interval_draws"] == shown.draws
    assert report["causes"]["interval_level"] == 0.9
    assert [q["variable"] for q in report["next_questions"]] == [
        q.variable for q in shown.questions[: len(report["next_questions"])]
    ]
    assert report["model"]["sha256"] == PRIORS.sha256
    assert report["notice"] == PRIORS.meta.notice
    assert report_json(report) == report_json(example_report())
    assert report["case"] == json.loads(EXAMPLE.read_text(encoding="utf-8"))
    # answers in plain words: the question, and soft answers say how they lean
    words = {a["variable"]: a for a in report["answers"]}
    assert words["leg_cramp_side"]["question"] == PRIORS.nodes["leg_cramp_side"].question
    assert words["magnesium_trial"]["words"].startswith("leaning to no_change")
    probably = build_report(MODEL, soft={"nocturnal_cramps": {"yes": 4.0, "no": 1.0}}, date=DATE)
    assert probably["answers"][0]["words"] == "probably yes"


def test_remedies_are_only_the_source_remedy_claims_of_the_top_causes():
    report = example_report(top=4)
    top = list(dict.fromkeys(r["cause"] for r in report["causes"]["rows"][:4]))
    assert [c["cause"] for c in report["remedies"]["causes"]] == top
    assert "not advice" in report["remedies"]["label"]
    for item in report["remedies"]["causes"]:
        expected = [cid for cid, c in PRIORS.claims.items() if item["cause"] in c.remedy_for]
        assert [c["id"] for c in item["claims"]] == expected
        for claim in item["claims"]:
            assert claim["text"] == PRIORS.claims[claim["id"]].text


def test_why_lists_the_moves_and_the_claims_on_the_links():
    report = example_report()
    first = report["why"][0]
    top = report["causes"]["rows"][0]
    assert (first["cause"], first["state"]) == (top["cause"], top["state"])
    expected = diagnose(*read_case(EXAMPLE)[:2], model=MODEL).explanation
    moves = [c.to_dict() for c in expected[(top["cause"], top["state"])].contributions]
    assert [m["variable"] for m in first["moves"]] == [m["variable"] for m in moves]
    assert [m["delta"] for m in first["moves"]] == [m["delta"] for m in moves]
    assert first["claims"] and all(re.fullmatch(r"C\d+", c["id"]) for c in first["claims"])


def test_bad_input_raises_named_errors():
    with pytest.raises(EvidenceError, match="leg_cramp_sid"):
        build_report(MODEL, {"leg_cramp_sid": "left"}, date=DATE)
    with pytest.raises(ImpossibleEvidenceError):
        build_report(MODEL, {"leg_cramp_side": "none", "left_leg_cramps": "yes"}, date=DATE)
    with pytest.raises(Exception, match="YYYY-MM-DD"):
        build_report(MODEL, {}, date="14/03/2026")


# --- the second ranking (what putting a cause right would stop) and answers that pull apart -----


def assert_if_fixed_and_conflict(report: dict, expected) -> None:
    """The report's counterfactual and conflict numbers are ``diagnose``'s, exactly."""
    for row in report["causes"]["rows"]:
        measure = expected.if_fixed[(row["cause"], row["state"])]
        assert row["expected_disablement"] == measure.expected_disablement
        assert row["p_all_stop"] == measure.p_all_stop
        assert row["expected_sufficiency"] == measure.expected_sufficiency
    section = report["if_fixed"]
    order = [
        cs
        for cs in expected.ranked_if_fixed()
        if expected.if_fixed[cs].expected_disablement > IF_FIXED_MIN
    ][:IF_FIXED_SHOWN]
    assert [(r["cause"], r["state"]) for r in section["rows"]] == order
    assert [r["rank"] for r in section["rows"]] == list(range(1, len(order) + 1))
    stops = [r["expected_disablement"] for r in section["rows"]]
    assert stops == sorted(stops, reverse=True)
    for row in section["rows"]:
        measure = expected.if_fixed[(row["cause"], row["state"])]
        assert row["expected_disablement"] == measure.expected_disablement
        assert row["p_all_stop"] == measure.p_all_stop
        assert row["expected_sufficiency"] == measure.expected_sufficiency
        assert row["posterior"] == expected.posterior[row["cause"]][row["state"]]
        assert row["label"] == f"{PRIORS.nodes[row['cause']].label}: {row['state']}"
        assert row["sentence"] == if_fixed_sentence(PRIORS, row["cause"], row["state"], measure)
    features = {m.features for m in expected.if_fixed.values()}
    assert features == {section["features"]}
    conflict = report["conflict"]
    assert conflict["value"] == expected.conflict.value
    assert [a["variable"] for a in conflict["answers"]] == list(expected.conflict.answers)
    assert conflict["factor"] == (
        math.exp(expected.conflict.answers_value) if expected.conflict.answers else 1.0
    )
    assert conflict["notice"] == conflict_notice(expected.conflict)
    given = {**expected.evidence, **expected.soft_evidence}
    assert conflict["sentence"] == conflict_sentence(PRIORS, given, expected.conflict)


@pytest.mark.parametrize(
    "evidence, soft, do",
    [
        ({}, None, None),
        (FEATURED, None, None),
        (THREE, None, None),
        (CONFLICTED, None, None),
        (PAIRED, None, PAIRED_DO),
        (SLIGHT, {"cramps_during_exercise": {"yes": 4.0, "no": 1.0}}, None),
        *[read_case(EXAMPLE)[:3]],
    ],
)
def test_if_fixed_and_conflict_are_the_numbers_of_diagnose(evidence, soft, do):
    report = build_report(MODEL, evidence, soft, do, date=DATE)
    validate(report)
    assert_if_fixed_and_conflict(report, diagnose(evidence, soft, do=do, model=MODEL))


def test_if_fixed_ranks_by_what_a_fix_would_stop_not_by_probability():
    report = build_report(MODEL, THREE, date=DATE)
    section = report["if_fixed"]
    assert section["features"] == 3.0 and section["rows"]
    assert "not a diagnosis" in section["meaning"] and "counterfactual" in section["meaning"]
    assert section["sentence"] == section["rows"][0]["sentence"]
    # both rankings differ: a probable cause that would stop little is lower (or left out)
    by_probability = [(r["cause"], r["state"]) for r in report["causes"]["rows"]]
    by_fix = [(r["cause"], r["state"]) for r in section["rows"]]
    assert by_fix != by_probability[: len(by_fix)]
    assert ("dehydration", "yes") in by_probability[:3]
    assert ("dehydration", "yes") not in by_fix[:3]
    assert len(by_fix) <= IF_FIXED_SHOWN
    assert all(r["expected_disablement"] > IF_FIXED_MIN for r in section["rows"])


def section_text(doc: Collector, name: str) -> str:
    return " ".join(" ".join(doc.text.get(name, [])).split())


def flat_pdf(report: dict) -> str:
    """The PDF's text on one line, with typographic apostrophes made plain."""
    return " ".join(pdf_text(report_pdf(report)).split()).replace("\u2019", "'")


def test_html_and_pdf_show_both_rankings_in_order():
    report = build_report(MODEL, FEATURED, date=DATE)
    section = report["if_fixed"]
    top = section["rows"][0]
    assert (top["cause"], top["state"]) == ("calcium", "low")
    doc = parse(report_html(report))
    assert doc.sections == shown_sections(report) == [s for s in SECTIONS if s != "conflict"]
    text = section_text(doc, "if_fixed")
    assert SECTION_TITLES["if_fixed"] in text
    assert top["sentence"] in text and "not a diagnosis" in text
    cells = doc.cells["if_fixed"]
    assert len(cells) == len(section["rows"])
    for row, got in zip(section["rows"], cells, strict=True):
        assert got[0] == row["label"]
        x = row["expected_disablement"]
        assert got[1] == (f"{x:.2f} of 2" if x < 0.095 else f"{x:.1f} of 2")
        assert re.fullmatch(r"\d+ in 100", got[2])
        assert got[4] == f"{row['posterior']:.3f}"
    assert cells[0][1:3] == ["1.3 of 2", "51 in 100"]
    flat = flat_pdf(report)
    order = [SECTION_TITLES[s] for s in shown_sections(report) if s != "notice"]
    positions = [flat.index(title) for title in order]
    assert positions == sorted(positions)
    assert top["sentence"] in flat
    assert "Calcium status: low 1.3 of 2 51 in 100" in flat
    assert SECTION_TITLES["conflict"] not in flat and "double-check" not in flat


def test_answers_that_pull_apart_are_named_in_words_in_every_format():
    report = build_report(MODEL, PAIRED, do=PAIRED_DO, date=DATE)
    conflict = report["conflict"]
    assert conflict["factor"] >= 2 and conflict["notice"] is True
    assert [a["variable"] for a in conflict["answers"]] == ["leg_cramp_side", "calcium_trial"]
    assert [a["label"] for a in conflict["answers"]] == ["Which leg cramps", "Calcium trial"]
    sentence = conflict["sentence"]
    assert sentence.startswith("Please double-check")
    assert "'Which leg cramps: right' and 'Calcium trial: no change'" in sentence
    html = report_html(report)
    doc = parse(html)
    assert doc.sections == list(SECTIONS)
    assert section_text(doc, "conflict") == f"{SECTION_TITLES['conflict']} {sentence}"
    assert f'<p class="conflict">{htmllib.escape(sentence)}</p>' in html
    flat = flat_pdf(report)
    before = flat.index(SECTION_TITLES["red_flags"]) < flat.index(SECTION_TITLES["conflict"])
    assert before and flat.index(SECTION_TITLES["conflict"]) < flat.index("Your answers question")
    assert sentence in flat
    # sure answers alone: every answer named is in the sentence, by its label
    named = build_report(MODEL, CONFLICTED, date=DATE)["conflict"]
    assert len(named["answers"]) >= 2
    for a in named["answers"]:
        said = f"'{a['label']}: {CONFLICTED[a['variable']].replace('_', ' ')}'"
        assert said in named["sentence"]
    # a slight conflict is a muted line; none at all, no section
    slight = build_report(MODEL, SLIGHT, date=DATE)
    assert 1 < slight["conflict"]["factor"] < 2 and slight["conflict"]["notice"] is False
    assert f'<p class="muted">{htmllib.escape(slight["conflict"]["sentence"])}</p>' in (
        report_html(slight)
    )
    calm = build_report(MODEL, FEATURED, date=DATE)
    assert calm["conflict"]["answers"] == [] and calm["conflict"]["sentence"] is None
    assert calm["conflict"]["factor"] == 1.0 and calm["conflict"]["notice"] is False
    calm_html = report_html(calm)
    assert 'id="conflict"' not in calm_html and "double-check" not in calm_html


@pytest.mark.parametrize(
    "evidence, do",
    [(CONFLICTED, None), (PAIRED, PAIRED_DO), (THREE, None), (SLIGHT, None)],
)
def test_new_sections_read_labels_never_ids(evidence, do):
    report = build_report(MODEL, evidence, do=do, date=DATE)
    doc = parse(report_html(report))
    ids = [n for n in PRIORS.nodes if "_" in n] + ["no_change", "not_tried"]
    shown = [name for name in ("conflict", "if_fixed") if name in doc.sections]
    assert shown == (["conflict", "if_fixed"] if report["conflict"]["answers"] else ["if_fixed"])
    for name in shown:
        text = section_text(doc, name)
        assert text, name
        assert not re.search(r"\w=\w", text), (name, text)  # like calcium=low
        assert not [i for i in ids if i in text], (name, text)


# --- HTML ----------------------------------------------------------------------------------------


class Collector(HTMLParser):
    """Tags, section ids in order, text per section, and every URL-bearing attribute."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.sections: list[str] = []
        self.text: dict[str, list[str]] = {"head": []}
        self.urls: list[str] = []
        self.cells: dict[str, list[list[str]]] = {}
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        attrs = dict(attrs)
        for name in ("src", "href", "xlink:href", "action", "data"):
            if name in attrs:
                self.urls.append(attrs[name])
        if tag == "section":
            self.sections.append(attrs["id"])
            self.text[attrs["id"]] = []
            self.cells[attrs["id"]] = []
        elif tag == "tr":
            self._row = []
        elif tag == "td":
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._row is not None:
            self._row.append("".join(self._cell or []).strip())
            self._cell = None
        elif tag == "tr" and self._row and self.sections:
            self.cells[self.sections[-1]].append(self._row)
            self._row = None

    def handle_data(self, data):
        self.text[self.sections[-1] if self.sections else "head"].append(data)
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> Collector:
    parser = Collector()
    parser.feed(html)
    parser.close()
    return parser


def test_html_parses_in_order_and_holds_the_api_numbers():
    report = example_report()
    html = report_html(report)
    doc = parse(html)
    assert doc.sections == list(SECTIONS)
    head = " ".join(doc.text["head"])
    assert report["title"] in head and DATE in head and PRIORS.sha256 in head
    assert PRIORS.meta.notice in " ".join(doc.text["notice"])
    evidence, soft, do, _ = read_case(EXAMPLE)
    shown = view(MODEL, scenario_of(evidence, soft, do))
    ranked = shown.diagnosis.ranked()
    rows = doc.cells["causes"]
    assert len(rows) == len(ranked)
    for cells, row in zip(rows, ranked, strict=True):
        interval = shown.intervals[row["cause"]][row["state"]]
        assert cells[1] == f"{PRIORS.nodes[row['cause']].label}: {row['state']}"
        assert cells[2] == f"{row['posterior']:.3f}"
        assert cells[3] == f"{interval['low']:.3f} to {interval['high']:.3f}"
        share = shown.rank_first[(row["cause"], row["state"])]
        count = re.fullmatch(r"(\d+) of 100", cells[4]).group(1)
        assert abs(int(count) - 100 * share) <= 0.5 + 1e-9
        assert cells[5] == f"{row['prior']:.3f}"
    causes_text = " ".join(doc.text["causes"])
    assert "ranks first in" in causes_text and "plausible versions of the model" in causes_text
    assert "svg" in doc.tags  # the chart, inline
    why_text = " ".join(doc.text["why"])
    for item in report["why"]:
        for claim in item["claims"]:
            assert claim["id"] in why_text
    remedies = " ".join(doc.text["remedies"])
    assert "not advice" in remedies
    case_text = "".join(doc.text["case"])
    assert json.loads(case_text[case_text.index("{") :]) == report["case"]


def test_html_loads_nothing_from_the_network_and_escapes_text():
    report = build_report(MODEL, FLAGGED, date=DATE, case_id=UNICODE_ID)
    html = report_html(report)
    doc = parse(html)
    assert doc.urls and all(u.startswith("#") for u in doc.urls)  # the chart's own ids only
    assert not re.search(r"https?:|//[a-z]", html, re.IGNORECASE)
    assert not {"script", "link", "img", "iframe", "object"} & set(doc.tags)
    assert "<b>&" not in html and "&lt;b&gt;&amp;" in html
    assert UNICODE_ID in " ".join(doc.text["head"])
    # red flags come before any number, each one shown
    flags = " ".join(doc.text["red_flags"])
    for flag in diagnose(FLAGGED).red_flags:
        assert flag.message in flags
    assert doc.sections.index("red_flags") < doc.sections.index("causes")


def test_empty_case_renders_everywhere():
    report = build_report(MODEL, {}, date=DATE)
    validate(report)
    assert report["answers"] == [] and report["case"] == {"evidence": {}}
    doc = parse(report_html(report))
    assert doc.sections == [s for s in SECTIONS if s != "conflict"]  # no answers, no conflict
    assert "No answers" in " ".join(doc.text["answers"])
    assert all(item["moves"] == [] for item in report["why"])
    # no feature reported: nothing a fix could stop, said in words instead of a table
    assert report["if_fixed"]["rows"] == [] and report["if_fixed"]["features"] == 0.0
    assert "no cramp feature" in report["if_fixed"]["sentence"]
    assert report["if_fixed"]["sentence"] in " ".join(doc.text["if_fixed"])
    assert doc.cells["if_fixed"] == []
    assert render(report, "pdf").startswith(b"%PDF")


# --- PDF -----------------------------------------------------------------------------------------


def test_pdf_pages_are_a4_not_blank_numbered_and_in_order(tmp_path):
    report = build_report(MODEL, FLAGGED, date=DATE, case_id=UNICODE_ID)
    pdf = report_pdf(report)
    assert pdf.startswith(b"%PDF") and pdf == report_pdf(report)  # reproducible
    pages = pdf_pages(pdf, tmp_path)
    assert len(pages) >= 1
    for page in pages:
        image = Image.open(page).convert("L")
        assert abs(image.width / image.height - 210 / 297) < 0.01  # A4
        assert ImageStat.Stat(image).var[0] > 100, f"{page.name} looks blank"
    text = pdf_text(pdf)
    for n in range(1, len(pages) + 1):
        assert f"page {n} of {len(pages)}" in text
    flat = " ".join(text.split())
    assert "Zoë Ωμέγα №7 ✓" in flat  # unicode survives (DejaVu Sans)
    assert "Not medical advice and not a diagnosis" in flat
    order = [
        "Red flags (read these first)",
        "Your answers",
        "Causes ranked",
        "What moved the top causes",
        "Questions or trials that would tell the most",
        "What the source says about remedies",
        "The case, for reproduction",
    ]
    positions = [flat.index(title) for title in order]
    assert positions == sorted(positions)
    top = report["causes"]["rows"][0]
    shown = f"{top['posterior']:.3f} {top['low']:.3f} to {top['high']:.3f}"
    assert f"{top['label']} {shown} {ranks_first(top)} {top['prior']:.3f}" in flat
    assert "ranks first in" in flat and "plausible versions of the model" in flat
    for flag in report["red_flags"]:
        assert flat.index(flag["id"]) < flat.index("Causes ranked")


def test_report_page_png_for_the_readme(tmp_path):
    """The first page of the example case's PDF at 100 dpi; copied to docs/report-page.png for
    the README only with ``UPDATE_SCREENSHOTS=1`` (``make docs``): tests write to temporary
    folders."""
    report = example_report(title="crampnet report: tests/data/example_case.json")
    pages = pdf_pages(render(report, "pdf"), tmp_path, dpi=100)
    if os.environ.get("UPDATE_SCREENSHOTS"):
        shutil.copyfile(pages[0], PAGE_PNG)
    image = Image.open(pages[0])
    assert image.size == (827, 1170)
    assert ImageStat.Stat(image.convert("L")).var[0] > 100


# --- the command line ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def built_model_once(monkeypatch):
    """``crampnet`` builds its model on every call (seconds); reuse the one built here."""
    monkeypatch.setattr("model.cli.crampnet.load_model", lambda priors=None: MODEL)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_writes_each_format_from_the_suffix(tmp_path, capsys):
    case = tmp_path / "case.json"
    case.write_text(
        json.dumps({"id": UNICODE_ID, **json.loads(EXAMPLE.read_text())}, ensure_ascii=False),
        encoding="utf-8",
    )
    for suffix in ("json", "html", "pdf"):
        out = tmp_path / f"out.{suffix}"
        code, _, err = run(capsys, "report", str(case), "-o", str(out), "--date", DATE)
        assert code == 0, err
        assert f"wrote {out}" in err
    got = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    expected = example_report(case_id=UNICODE_ID)
    assert got == json.loads(report_json(expected))
    assert got["title"] == f"crampnet report: {UNICODE_ID}"
    assert (tmp_path / "out.html").read_text(encoding="utf-8") == report_html(expected)
    assert (tmp_path / "out.pdf").read_bytes().startswith(b"%PDF")
    code, _, _ = run(
        capsys,
        "report",
        str(case),
        "-o",
        str(tmp_path / "x.dat"),
        "--format",
        "json",
        "--date",
        DATE,
    )
    assert code == 0 and json.loads((tmp_path / "x.dat").read_text(encoding="utf-8")) == got


def test_cli_errors_are_one_line_with_file_and_line(tmp_path, capsys):
    case = tmp_path / "bad.json"
    case.write_text('{"evidence": {\n  "leg_cramp_sid": "left"\n}}\n', encoding="utf-8")
    code, _, err = run(capsys, "report", str(case), "-o", str(tmp_path / "r.html"))
    assert code == 2
    assert err.strip().count("\n") == 0
    assert f"{case}:2: unknown variable 'leg_cramp_sid'" in err
    assert not (tmp_path / "r.html").exists()
    code, _, err = run(capsys, "report", str(EXAMPLE), "-o", str(tmp_path / "r.txt"))
    assert code == 2 and "cannot tell the report format" in err and ".pdf" in err
    code, _, err = run(
        capsys, "report", str(EXAMPLE), "-o", str(tmp_path / "r.html"), "--date", "x"
    )
    assert code == 2 and "YYYY-MM-DD" in err


def write_cases(path: Path) -> list[dict]:
    rows = [
        {"id": "Anna Müller", "leg_cramp_side": "left", "nocturnal_cramps": "yes"},
        {"id": "bad", "leg_cramp_side": "right", "nocturnal_cramps": "maybe"},
        {"id": "", "leg_cramp_side": "both", "neurological_condition": "yes"},
        {"id": "impossible", "leg_cramp_side": "none", "left_leg_cramps": "yes"},
        {"id": "../../Anna Müller", "leg_cramp_side": "", "nocturnal_cramps": ""},
    ]
    columns = [
        "id",
        "leg_cramp_side",
        "nocturnal_cramps",
        "neurological_condition",
        "left_leg_cramps",
    ]
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return rows


def test_cli_batch_accounts_for_every_row_and_exits_3(tmp_path, capsys):
    table = tmp_path / "cases.csv"
    rows = write_cases(table)
    out = tmp_path / "reports"
    code, _, err = run(capsys, "report", str(table), "-o", str(out), "--date", DATE)
    assert code == 3
    assert f"{table}:row 2 (line 3): " in err and "'maybe'" in err
    assert f"{table}:row 4 (line 5): " in err and "cannot all be true" in err
    files = sorted(p.name for p in out.iterdir())
    assert files == ["Anna-Muller-2.html", "Anna-Muller.html", "index.html", "row-3.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.csv", "reports"]
    doc = parse((out / "index.html").read_text(encoding="utf-8"))
    body = [r for r in (out / "index.html").read_text(encoding="utf-8").split("<tr")[2:]]
    assert len(body) == len(rows)
    index = (out / "index.html").read_text(encoding="utf-8")
    assert sorted(doc.urls) == sorted(f for f in files if f != "index.html")
    expected = diagnose({"leg_cramp_side": "left", "nocturnal_cramps": "yes"}, model=MODEL)
    top = expected.ranked()[0]
    label = f"{PRIORS.nodes[top['cause']].label}: {top['state']} {top['posterior']:.3f}"
    assert label in index
    assert "neurological" in body[2] and "row-3.html" in body[2]
    assert "no report" in body[1] and "no report" in body[3]
    report = parse((out / "Anna-Muller.html").read_text(encoding="utf-8"))
    assert report.cells["causes"][0][2] == f"{top['posterior']:.3f}"


def test_cli_batch_json_lines_to_json_reports(tmp_path, capsys):
    table = tmp_path / "cases.jsonl"
    table.write_text(
        '{"id": "a", "leg_cramp_side": "left"}\n{"id": "b", "calcium_trial": "improved"}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    code, _, err = run(
        capsys, "report", str(table), "-o", str(out), "--format", "json", "--date", DATE
    )
    assert code == 0, err
    for case_id, evidence in (
        ("a", {"leg_cramp_side": "left"}),
        ("b", {"calcium_trial": "improved"}),
    ):
        got = json.loads((out / f"{case_id}.json").read_text(encoding="utf-8"))
        validate(got)
        assert got == json.loads(
            report_json(build_report(MODEL, evidence, date=DATE, case_id=case_id))
        )
    code, _, err = run(capsys, "report", str(table), "-o", str(table), "--date", DATE)
    assert code == 2 and "not a directory" in err


def test_a_trial_that_may_harm_carries_its_caution_in_every_format():
    """On dialysis the calcium trial ranks first; the report lists it with the caution of
    priors/red_flags.yaml in the JSON, the HTML and the PDF, never without."""
    report = build_report(MODEL, {"nocturnal_cramps": "yes", "dialysis": "yes"}, date="2026-01-01")
    first = report["next_questions"][0]
    rule = MODEL.priors.cautions["calcium_trial_kidneys"]
    assert first["variable"] == rule.trial
    assert first["cautions"] == [{"title": rule.title, "message": rule.message}]
    assert all(not q["cautions"] for q in report["next_questions"] if q["kind"] == "question")
    line = f"Caution: {rule.title}. {rule.message}"
    assert line.replace("'", "&#x27;") in report_html(report)
    text = " ".join(pdf_text(report_pdf(report)).split())
    assert " ".join(line.replace("'", "’").split()) in text.replace("'", "’")


# --- a case book's case: the report with its timeline ------------------------------------------

BEFORE = {"version": "0.0.1", "sha256": "0" * 64}  # a model that showed other numbers then
NOTE = "Blood test <b>low</b> & repeat in May"


def at(day: int, hour: int = 9):
    import datetime as dt

    return dt.datetime(2026, 3, day, hour, 30, tzinfo=dt.UTC)


def casebook_case(tmp_path):
    """A case in a temporary SQLite case book: first answers, a change (one answer new, one
    taken back) shown then by an older model, a confirmed cause with a note, a last change,
    the cramps gone."""
    from model.diagnosis.casebook import posterior_of
    from model.readwrite.casebook import CaseBook

    book = CaseBook(f"sqlite:///{tmp_path}/b.sqlite3")
    first = {
        "evidence": {"leg_cramp_side": "left", "nocturnal_cramps": "yes"},
        "soft_evidence": {"toe_cramps": {"yes": 4.0, "no": 1.0}},
    }
    case_id = book.add(
        "night cramps", first, at=at(1), model=MODEL.identity, posterior=posterior_of(MODEL, first)
    )
    second = {**first, "evidence": {"leg_cramp_side": "left", "calcium_trial": "improved"}}
    shown = {k: p / 2 for k, p in posterior_of(MODEL, second).items()}
    book.update(
        case_id,
        {"calcium_trial": "improved", "nocturnal_cramps": None},
        at=at(5),
        model=BEFORE,
        posterior=shown,
    )
    book.update(
        case_id,
        outcomes=[{"outcome": "confirmed", "variable": "calcium", "state": "low"}],
        note=NOTE,
        at=at(9),
    )
    third = {**second, "evidence": {**second["evidence"], "low_fluid_intake": "yes"}}
    book.update(
        case_id,
        {"low_fluid_intake": "yes"},
        at=at(12),
        model=MODEL.identity,
        posterior=posterior_of(MODEL, third),
    )
    book.update(case_id, outcomes=[{"outcome": "cramps_gone"}], at=at(20))
    return book, book.get(case_id)


def test_case_book_report_has_the_timeline_in_order_with_the_numbers_of_cases_show(tmp_path):
    from model.cli.cases import timeline
    from model.cli.cases_report import case_report

    _, case = casebook_case(tmp_path)
    report = case_report(MODEL, case, date=DATE)
    validate(report)
    assert list(report) == SCHEMA["required"]
    assert report["title"] == f"crampnet report: case {case.id}, night cramps"
    # the main body is the case's latest answers
    latest = case.answers().to_case()
    assert report["case"] == {"id": str(case.id), **latest}
    assert report == build_report(
        MODEL,
        latest["evidence"],
        latest["soft_evidence"],
        date=DATE,
        title=report["title"],
        case_id=str(case.id),
        timeline=timeline(MODEL, case),
    )
    section = report["timeline"]
    steps = section["steps"]
    assert [(s["step"], s["kind"], s["when"]) for s in steps] == [
        (1, "answers", "2026-03-01 09:30"),
        (2, "set", "2026-03-05 09:30"),
        (3, "outcome", "2026-03-09 09:30"),
        (4, "note", "2026-03-09 09:30"),
        (5, "set", "2026-03-12 09:30"),
        (6, "outcome", "2026-03-20 09:30"),
    ]
    assert [s["words"] for s in steps] == [
        "answers: Which leg cramps: left; Cramps at night: yes; Toe cramps: probably yes",
        "changed: Calcium trial: improved; Cramps at night: taken back",
        "outcome: Calcium status: low confirmed",
        f"note: {NOTE}",
        "changed: Drinks little: yes",
        "outcome: the cramps are gone",
    ]
    # the numbers are those of `crampnet cases show` (timeline): the top three now, each
    # followed cause state at every change of answers, the stored ones where they differ
    expected = timeline(MODEL, case)
    followed = [f"{c['cause']}={c['state']}" for c in section["followed"]]
    for step, want in zip(steps, expected, strict=True):
        if "posterior_now" not in want:
            assert step["top"] is step["followed_posteriors"] is step["then"] is None
            continue
        now = want["posterior_now"]
        top = sorted(now, key=lambda k: -now[k])[:3]
        assert [f"{r['cause']}={r['state']}" for r in step["top"]] == top
        assert [r["posterior"] for r in step["top"]] == [now[k] for k in top]
        assert [r["label"] for r in step["top"]] == [
            f"{PRIORS.nodes[k.split('=')[0]].label}: {k.split('=')[1]}" for k in top
        ]
        assert set(top) <= set(followed)
        assert step["followed_posteriors"] == [now[k] for k in followed]
        assert (step["then"] is not None) == want["posterior_then_differs"]
    then = steps[1]["then"]
    assert then["model"] == BEFORE
    stored = expected[1]["posterior"]
    assert [r["posterior"] for r in then["top"]] == sorted(stored.values(), reverse=True)[:3]
    # every followed cause state is among the top three at some step, once
    tops = {f"{r['cause']}={r['state']}" for s in steps if s["top"] for r in s["top"]}
    assert set(followed) == tops and len(followed) == len(set(followed))
    # any other report leaves the section null, and no rendering shows it
    plain = build_report(MODEL, latest["evidence"], latest["soft_evidence"], date=DATE)
    assert plain["timeline"] is None and "timeline" not in shown_sections(plain)
    assert json.loads(render(report, "json")) == json.loads(report_json(report))


def test_case_book_report_shows_the_timeline_in_html_and_pdf_in_words(tmp_path):
    from model.cli.cases_report import case_report

    _, case = casebook_case(tmp_path)
    report = case_report(MODEL, case, date=DATE)
    steps = report["timeline"]["steps"]
    html = report_html(report)
    doc = parse(html)
    assert doc.sections == shown_sections(report)
    assert doc.sections.index("if_fixed") + 1 == doc.sections.index("timeline")
    assert doc.sections.index("timeline") + 1 == doc.sections.index("why")
    text = section_text(doc, "timeline")
    assert text.startswith(SECTION_TITLES["timeline"])
    block = html[html.index('<section id="timeline">') : html.index('<section id="why">')]
    assert block.count("<svg") == 1  # the figure of the top causes over time
    for cause in report["timeline"]["followed"]:
        assert cause["label"] in block  # the chart's legend names each line by its label
    cells = doc.cells["timeline"]
    assert [c[0] for c in cells] == [str(s["step"]) for s in steps]
    assert cells[2][2] == "Outcome: Calcium status: low confirmed"
    assert cells[3][2] == f"Note: {NOTE}" and cells[5][2] == "Outcome: the cramps are gone"
    assert cells[0][3].startswith("Calcium status: low 0.")
    assert cells[1][4].endswith("(model 0.0.1, priors 000000000000)")
    assert [c[4] for i, c in enumerate(cells) if i != 1] == [""] * 5
    assert "<b>low</b>" not in html and "Blood test &lt;b&gt;low&lt;/b&gt; &amp; repeat" in html
    # labels only, never raw ids (the note's own words aside)
    ids = [n for n in PRIORS.nodes if "_" in n] + ["no_change", "not_tried"]
    assert not re.search(r"\w=\w", text), text
    assert not [i for i in ids if i in text], text
    # the PDF: the section in its place with the same words, and one more figure
    flat = flat_pdf(report)
    titles = [SECTION_TITLES[s] for s in ("if_fixed", "timeline", "why")]
    positions = [flat.index(t) for t in titles]
    assert positions == sorted(positions)
    timeline_text = flat[positions[1] : positions[2]]
    for s in steps:
        assert s["words"][:1].upper() + s["words"][1:8] in timeline_text
    assert "Outcome: Calcium status: low confirmed" in timeline_text
    assert NOTE in timeline_text and "model 0.0.1, priors 000000000000" in timeline_text
    assert not re.search(r"\w=\w", timeline_text)
    assert not [i for i in ids if i in timeline_text]
    pdf = report_pdf(report)
    without = report_pdf({**report, "timeline": None})
    assert pdf.count(b"/Subtype /Image") > without.count(b"/Subtype /Image")
    assert pdf == report_pdf(report)  # reproducible


def cases_parser():
    """``crampnet cases`` with only the report action, as ``cases.add_command`` registers it."""
    import argparse

    from model.cli.cases_report import add_report_action

    parser = argparse.ArgumentParser(prog="crampnet cases")
    actions = parser.add_subparsers(dest="action", required=True)

    def action(name, handler, help_text):
        sub = actions.add_parser(name, help=help_text)
        sub.add_argument("--db", metavar="URL")
        sub.add_argument("--priors", metavar="DIR")
        sub.set_defaults(handler=handler)
        return sub

    add_report_action(action)
    return parser


def test_cases_report_command_writes_each_format_from_the_suffix(tmp_path, capsys):
    from model.cli.cases_report import case_report
    from model.errors import UsageError
    from model.readwrite.casebook import CaseBookError

    book, case = casebook_case(tmp_path)
    expected = case_report(MODEL, case, date=DATE)
    parser = cases_parser()

    def command(*argv):
        args = parser.parse_args(["report", *argv, "--db", book.url, "--date", DATE])
        return args.handler(args, MODEL)

    for suffix in ("json", "html", "pdf"):
        out = tmp_path / f"case.{suffix}"
        assert command(str(case.id), "-o", str(out)) == 0
        assert f"wrote {out} ({suffix}, case {case.id}, 6 steps)" in capsys.readouterr().err
    assert json.loads((tmp_path / "case.json").read_text(encoding="utf-8")) == json.loads(
        report_json(expected)
    )
    assert (tmp_path / "case.html").read_text(encoding="utf-8") == report_html(expected)
    assert (tmp_path / "case.pdf").read_bytes() == report_pdf(expected)
    with pytest.raises(CaseBookError, match="no case 999"):
        command("999", "-o", str(tmp_path / "none.html"))
    with pytest.raises(UsageError, match="report format"):
        command(str(case.id), "-o", str(tmp_path / "case.txt"))
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("b.")) == [
        "case.html",
        "case.json",
        "case.pdf",
    ]

"""``crampnet score``: every input row comes back, in order, scored or with its error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_casefile import write

from model import default_model
from model.cli.crampnet import main
from model.diagnosis.batch import probability_columns, score_file
from model.diagnosis.crampmodel import diagnose
from model.diagnosis.red_flags import flag_masks, flag_targets, raised_flags
from model.errors import ImpossibleEvidenceError, UsageError
from model.inference.uncertainty import posterior_intervals
from model.readwrite.casefile import FORMATS
from model.readwrite.tables import FORMULA_START

SUFFIX = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet"}
# left leg cramping is how leg_cramp_side=left comes about: these two cannot both hold
IMPOSSIBLE = {"leg_cramp_side": "left", "left_leg_cramps": "no"}
MIXED = [
    {"id": "a-ü", "leg_cramp_side": "left", "nocturnal_cramps": "yes"},
    {"id": "b", "leg_cramp_side": "lft"},  # unknown state
    {"id": "c", **IMPOSSIBLE},  # impossible answers
    {"id": "d"},  # no answers: the prior
    {"id": "e 日本", "calcium": "low", "low_potassium_intake": "yes", "leg_cramp_side": "both"},
]
MIXED_COLUMNS = [
    "id",
    "leg_cramp_side",
    "nocturnal_cramps",
    "left_leg_cramps",
    "calcium",
    "low_potassium_intake",
]


def read_output(path: Path) -> pd.DataFrame:
    """A scored file as a frame (CSV cells as text; red_flags as lists)."""
    if path.suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        p = [c for c in frame.columns if c.startswith("p_")]
        frame[p] = frame[p].astype(float)
        frame["red_flags"] = [[] if pd.isna(f) else f.split(";") for f in frame["red_flags"]]
        return frame
    if path.suffix == ".jsonl":
        text = path.read_text(encoding="utf-8")
        rows = [json.loads(line) for line in text.splitlines()]
        # each JSON row says what its numbers are: the model's notice, then set aside here
        notice = default_model().priors.meta.notice
        assert all(row.pop("notice") == notice for row in rows)
        return pd.DataFrame(rows)
    frame = pq.read_table(path).to_pandas()
    frame["red_flags"] = [list(f) for f in frame["red_flags"]]
    return frame


def missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def assert_scored_like_diagnose(model, row: pd.Series, evidence: dict[str, str]) -> None:
    expected = diagnose(evidence, model=model, top=0)
    for name, cause, state, _ in probability_columns(model):
        assert row[name] == pytest.approx(expected.posterior[cause][state], abs=1e-9), name
    assert list(row["red_flags"]) == [f.id for f in expected.red_flags]
    assert missing(row["error"])


@pytest.mark.parametrize("fmt", FORMATS)
def test_mixed_file_every_row_in_place_exit_3(model, tmp_path, capsys, fmt):
    source = tmp_path / f"cases{SUFFIX[fmt]}"
    write(MIXED, source, MIXED_COLUMNS)
    output = tmp_path / f"scored{SUFFIX[fmt]}"
    assert main(["score", str(source), "-o", str(output)]) == 3
    out = read_output(output)
    assert list(out["id"]) == [r["id"] for r in MIXED]
    assert list(out.columns[: len(MIXED_COLUMNS)]) == MIXED_COLUMNS
    assert list(out.columns[-2:]) == ["red_flags", "error"]
    assert_scored_like_diagnose(
        model, out.iloc[0], {"leg_cramp_side": "left", "nocturnal_cramps": "yes"}
    )
    assert_scored_like_diagnose(model, out.iloc[3], {})
    assert_scored_like_diagnose(
        model, out.iloc[4], {k: v for k, v in MIXED[4].items() if k != "id"}
    )
    assert "'lft'" in out["error"][1] and "did you mean left?" in out["error"][1]
    assert "cannot all be true" in out["error"][2]
    assert "leg_cramp_side=left" in out["error"][2] and "left_leg_cramps=no" in out["error"][2]
    p = [name for name, *_ in probability_columns(model)]
    assert out.loc[[1, 2], p].isna().all().all()  # no numbers on an error row
    assert list(out["red_flags"][1]) == [] and list(out["red_flags"][2]) == []
    err = capsys.readouterr().err
    line = {"csv": " (line 3)", "jsonl": " (line 2)", "parquet": ""}[fmt]
    assert f"{source}:row 2{line}: unknown state 'lft' for leg_cramp_side" in err
    assert f"{source}:row 3" in err and "left_leg_cramps=no" in err
    assert "scored 3 of 5 row(s), 2 failed" in err


def test_all_good_exit_0_and_chunking_changes_nothing(model, tmp_path):
    rows = [r for r in MIXED if r["id"] in ("a-ü", "d", "e 日本")] * 3
    source = tmp_path / "cases.csv"
    write(rows, source, MIXED_COLUMNS)
    whole, chunked = tmp_path / "whole.csv", tmp_path / "chunked.csv"
    assert main(["score", str(source), "-o", str(whole)]) == 0
    summary = score_file(source, chunked, model, chunk_rows=2)
    assert (summary.rows, summary.failed) == (9, 0)
    a, b = read_output(whole), read_output(chunked)
    p = [name for name, *_ in probability_columns(model)]
    assert a.drop(columns=p).equals(b.drop(columns=p))  # batching differs only in rounding
    np.testing.assert_allclose(a[p].to_numpy(), b[p].to_numpy(), rtol=0, atol=1e-12)


def test_unknown_column_is_an_error_up_front(model, tmp_path, capsys):
    source = tmp_path / "cases.csv"
    source.write_text("id,noctural_cramps,toe_cramps\n1,yes,no\n", encoding="utf-8")
    output = tmp_path / "scored.csv"
    assert main(["score", str(source), "-o", str(output)]) == 2
    err = capsys.readouterr().err
    assert "noctural_cramps" in err and "did you mean nocturnal_cramps" in err
    assert err.count("\n") == 1 and not output.exists()
    assert main(["score", str(source), "-o", str(output), "--ignore-columns"]) == 0
    out = read_output(output)
    assert list(out["noctural_cramps"]) == ["yes"]  # kept, not used
    assert_scored_like_diagnose(model, out.iloc[0], {"toe_cramps": "no"})


def test_help_documents_exit_status(capsys):
    with pytest.raises(SystemExit) as done:
        main(["score", "-h"])
    assert done.value.code == 0
    assert "3 when some rows failed" in " ".join(capsys.readouterr().out.split())


def test_empty_inputs_give_valid_empty_outputs(model, tmp_path):
    ours = [name for name, *_ in probability_columns(model)] + ["red_flags", "error"]
    zero = tmp_path / "zero.csv"
    zero.write_bytes(b"")
    header = tmp_path / "header.csv"
    header.write_text("id,nocturnal_cramps\n", encoding="utf-8")
    assert main(["score", str(zero), "-o", str(tmp_path / "via-cli.csv")]) == 0
    for source in (zero, header):
        for fmt in FORMATS:
            output = tmp_path / f"{source.stem}-out{SUFFIX[fmt]}"
            summary = score_file(source, output, model)
            assert (summary.rows, summary.failed) == (0, 0)
            inputs = [] if source is zero else ["id", "nocturnal_cramps"]
            if fmt == "parquet":
                table = pq.read_table(output)
                assert table.num_rows == 0 and table.column_names == inputs + ours
            elif fmt == "csv":
                assert output.read_text().splitlines() == [",".join(inputs + ours)]
            else:
                assert output.read_text() == ""


def test_results_columns_in_the_input_are_refused(model, tmp_path):
    source = tmp_path / "cases.csv"
    source.write_text("id,p_calcium_low\n1,0.5\n")
    with pytest.raises(UsageError, match="p_calcium_low already hold results"):
        score_file(source, tmp_path / "out.csv", model, ignore_columns=True)
    with pytest.raises(UsageError, match="overwrite the input"):
        score_file(source, source, model)


def test_intervals_are_posterior_intervals_per_row(model, tmp_path):
    rows = [MIXED[0], MIXED[1], MIXED[3]]
    source = tmp_path / "cases.jsonl"
    write(rows, source, MIXED_COLUMNS)
    output = tmp_path / "scored.parquet"
    summary = score_file(source, output, model, intervals=True, draws=40)
    assert (summary.rows, summary.failed) == (3, 1)
    out = read_output(output)
    for r, evidence in [(0, {"leg_cramp_side": "left", "nocturnal_cramps": "yes"}), (2, {})]:
        expected = posterior_intervals(model.drawn(40), model.causes, evidence)
        for name, cause, state, kind in probability_columns(model, intervals=True):
            if kind != "p":
                assert out[name][r] == pytest.approx(expected[cause][state][kind], abs=1e-12)
    assert out.loc[1, [c for c in out.columns if c.startswith("p_")]].isna().all()


def test_real_subprocess(tmp_path):
    source = tmp_path / "cases.csv"
    write(MIXED, source, MIXED_COLUMNS)
    output = tmp_path / "scored.parquet"
    crampnet = Path(sys.executable).parent / "crampnet"
    done = subprocess.run(
        [str(crampnet), "score", str(source), "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr
    assert "row 2 (line 3): unknown state 'lft'" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(pq.read_table(output).column("id").to_pylist()) == [r["id"] for r in MIXED]
    # what the numbers are travels with them: in the file's schema and on stderr
    model = default_model()
    metadata = pq.read_schema(output).metadata
    assert metadata[b"crampnet.notice"].decode() == model.priors.meta.notice
    assert json.loads(metadata[b"crampnet.model"]) == model.identity
    assert f"crampnet: {model.priors.meta.notice}" in done.stderr


# --- hypothesis: generated case files, good and bad cells, every format -----------------------

CELL_COLUMNS = [
    "leg_cramp_side",
    "left_leg_cramps",
    "nocturnal_cramps",
    "calcium_trial",
    "calcium",
    "low_potassium_intake",
    "neurological_condition",
]
BAD_CELLS = ["maybe", "NA", "Yes", "lft", "ñø", "1"]


@st.composite
def case_tables(draw, model):
    columns = ["id"] + draw(st.lists(st.sampled_from(CELL_COLUMNS), unique=True, max_size=5))
    text = st.text(
        st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=6
    )
    rows = []
    for _ in range(draw(st.integers(0, 8))):
        row = {"id": draw(text)}
        for c in columns[1:]:
            kind = draw(st.sampled_from(["state", "state", "missing", "bad"]))
            if kind == "state":
                row[c] = draw(st.sampled_from(model.priors.nodes[c].states))
            elif kind == "bad":
                row[c] = draw(st.sampled_from(BAD_CELLS))
        rows.append(row)
    return columns, rows


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), fmt_in=st.sampled_from(FORMATS), fmt_out=st.sampled_from(FORMATS))
def test_generated_files_round_trip(model, tmp_path_factory, data, fmt_in, fmt_out):
    columns, rows = data.draw(case_tables(model))
    folder = tmp_path_factory.mktemp("gen")
    source, output = folder / f"in{SUFFIX[fmt_in]}", folder / f"out{SUFFIX[fmt_out]}"
    write(rows, source, columns)
    summary = score_file(source, output, model)
    out = read_output(output) if rows else None
    assert summary.rows == len(rows)
    failed = 0
    for r, row in enumerate(rows):
        got = out.iloc[r]
        shown = row["id"]
        if fmt_out == "csv" and shown.startswith(FORMULA_START):  # defused for spreadsheets
            shown = "'" + shown
        assert str(got["id"]) == shown or (missing(got["id"]) and not row["id"].strip())
        bad = [
            (c, v) for c, v in row.items() if c != "id" and v not in model.priors.nodes[c].states
        ]
        evidence = {c: v for c, v in row.items() if c != "id"}
        if bad:
            failed += 1
            for c, v in bad:
                assert f"unknown state {v!r} for {c}" in got["error"]
            continue
        try:
            expected = model.engine.posteriors(model.causes, evidence)
        except ImpossibleEvidenceError:
            failed += 1
            assert "cannot all be true" in got["error"]
            assert all(missing(got[name]) for name, *_ in probability_columns(model))
            continue
        assert missing(got["error"])
        for name, cause, state, _ in probability_columns(model):
            assert got[name] == pytest.approx(expected[cause][state], abs=1e-9)
    assert summary.failed == failed


# --- red flags: one rule for a file and a single case ----------------------------------------


def reference_raised(priors, evidence, posterior) -> list[str]:
    """The per-case rule as it read before vectorising: the oracle for flag_masks."""

    def holds(c) -> bool:
        if any(evidence.get(v) not in s for v, s in c.evidence.items()):
            return False
        if c.evidence_any and not any(evidence.get(v) in s for v, s in c.evidence_any.items()):
            return False
        return all(posterior[v][s] > c.above for v, s in c.posterior.items())

    return [f for f, flag in priors.red_flags.items() if any(holds(c) for c in flag.when_any)]


@st.composite
def flag_cases(draw, model):
    priors = model.priors
    mentioned = sorted(
        {
            v
            for f in priors.red_flags.values()
            for c in f.when_any
            for v in (*c.evidence, *c.evidence_any)
        }
    )
    evidence = {}
    for v in draw(st.lists(st.sampled_from(mentioned), unique=True)):
        evidence[v] = draw(st.sampled_from(priors.nodes[v].states))
    posterior = {}
    for v in flag_targets(priors):
        weights = draw(
            st.lists(
                st.floats(0.01, 1),
                min_size=len(priors.nodes[v].states),
                max_size=len(priors.nodes[v].states),
            )
        )
        posterior[v] = dict(
            zip(priors.nodes[v].states, np.array(weights) / sum(weights), strict=True)
        )
    return evidence, posterior


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_flag_masks_agree_with_the_single_case_rule(model, data):
    priors = model.priors
    cases = data.draw(st.lists(flag_cases(model), min_size=1, max_size=6))
    rows = len(cases)
    codes = {
        v: np.array([priors.nodes[v].states.index(e[v]) if v in e else -1 for e, _ in cases])
        for v in priors.nodes
    }
    marginals = {
        v: np.array([[p[v][s] for s in priors.nodes[v].states] for _, p in cases])
        for v in flag_targets(priors)
    }
    masks = flag_masks(priors, codes, marginals, rows)
    for r, (evidence, posterior) in enumerate(cases):
        expected = reference_raised(priors, evidence, posterior)
        assert [f for f in masks if masks[f][r]] == expected
        assert [f.id for f in raised_flags(priors, evidence, posterior)] == expected


def test_flags_raise_on_the_documented_answers(model):
    priors = model.priors
    post = {
        v: {s: 1.0 / len(priors.nodes[v].states) for s in priors.nodes[v].states}
        for v in flag_targets(priors)
    }
    ids = [f.id for f in raised_flags(priors, {"neurological_condition": "yes"}, post)]
    assert ids == ["neurological"]
    both = {"leg_cramp_side": "left", "low_potassium_intake": "yes"}
    assert [f.id for f in raised_flags(priors, both, post)] == ["cardiovascular"]
    nan = {v: {s: float("nan") for s in d} for v, d in post.items()}
    assert raised_flags(priors, {}, nan) == []

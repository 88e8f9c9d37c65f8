"""The ``crampnet`` command: output shapes, the numbers it prints, and its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DIAGNOSIS_KEYS

from model import default_model, diagnose
from model.cli.crampnet import main

ROOT = Path(__file__).parent.parent


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_diagnose_table_puts_notice_and_red_flags_before_numbers(capsys):
    code, out, err = run(
        capsys, "diagnose", "--set", "leg_cramp_side=left", "--set", "neurological_condition=yes"
    )
    assert code == 0 and err == ""
    assert out.startswith("NOTICE: Not medical advice")
    assert out.index("RED FLAGS") < out.index("posterior")
    title = default_model().priors.red_flags["neurological"].title
    assert f"! {title}." in out and "[neurological]" not in out  # a title, never the id
    first_row = next(line for line in out.splitlines() if line.strip().startswith("1  "))
    result = diagnose({"leg_cramp_side": "left", "neurological_condition": "yes"})
    top = result.ranked()[0]
    assert f"{top['cause']} = {top['state']}" in first_row
    assert f"{top['posterior']:.3f}" in first_row


def test_diagnose_table_has_a_column_of_how_often_each_cause_ranks_first(capsys):
    code, out, _ = run(capsys, "diagnose", "--set", "leg_cramp_side=left")
    assert code == 0
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if "cause = state" in line)
    assert lines[header].split()[-2:] == ["first", "in"]
    result = diagnose({"leg_cramp_side": "left"})
    rows = lines[header + 1 : header + 1 + len(result.ranked())]
    shown = []
    for line, row in zip(rows, result.ranked(), strict=True):
        assert f"{row['cause']} = {row['state']}" in line
        (cell,) = [w for w in line.split() if w.endswith("/100")]
        share = result.rank_first[(row["cause"], row["state"])]
        assert abs(int(cell.removesuffix("/100")) - 100 * share) <= 0.5 + 1e-9
        shown.append(int(cell.removesuffix("/100")))
    assert abs(sum(shown) - 100) <= len(shown) / 2  # each rounded by at most a half
    assert any("first in: in how many of 100 plausible versions" in line for line in lines)


def test_diagnose_json_has_exactly_the_documented_shape_and_the_api_numbers(capsys):
    code, out, _ = run(
        capsys, "diagnose", "--json", "--set", "leg_cramp_side=right", "--set", "dialysis=yes"
    )
    assert code == 0
    got = json.loads(out)
    assert list(got) == DIAGNOSIS_KEYS
    assert got["notice"] == default_model().priors.meta.notice
    assert set(got["model"]) == {"sha256", "version"}
    # dialysis: a calcium trial is never suggested without its caution
    assert [c["id"] for c in got["cautions"]["calcium_trial"]] == ["calcium_trial_kidneys"]
    abnormal = default_model().abnormal_states()
    assert list(got["rank_first"]) == [f"{c}={s}" for c, s in abnormal]
    expected = diagnose({"leg_cramp_side": "right", "dialysis": "yes"}).to_dict()
    assert got == json.loads(json.dumps(expected))


def test_diagnose_reads_a_case_file_with_soft_evidence(tmp_path, capsys):
    case = tmp_path / "case.json"
    case.write_text(
        json.dumps(
            {
                "evidence": {"leg_cramp_side": "right"},
                "soft_evidence": {
                    "magnesium_trial": {
                        "not_tried": 0,
                        "improved": 0.8,
                        "no_change": 0.2,
                        "worsened": 0,
                    }
                },
            }
        )
    )
    code, out, _ = run(capsys, "diagnose", str(case), "--json")
    assert code == 0
    got = json.loads(out)
    assert got["evidence"]["magnesium_trial"]["improved"] == 0.8
    api = diagnose(
        {"leg_cramp_side": "right"},
        {"magnesium_trial": {"not_tried": 0, "improved": 0.8, "no_change": 0.2, "worsened": 0}},
    )
    assert got["posterior"]["magnesium"]["low"] == pytest.approx(api.posterior["magnesium"]["low"])


def test_soft_flag_matches_case_file(capsys):
    code, out, _ = run(capsys, "diagnose", "--json", "--soft", "nocturnal_cramps=yes:0.8,no:0.2")
    assert code == 0
    api = diagnose(soft_evidence={"nocturnal_cramps": {"yes": 0.8, "no": 0.2}})
    assert json.loads(out)["posterior"]["calcium"]["low"] == pytest.approx(
        api.posterior["calcium"]["low"], abs=1e-12
    )


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["diagnose", "--set", "leg_cramp_sid=left"], "did you mean leg_cramp_side"),
        (["diagnose", "--set", "leg_cramp_side=middle"], "valid states: none, left, right, both"),
        (["diagnose", "--set", "leg_cramp_side"], "--set expects id=state"),
        (["diagnose", "--soft", "nocturnal_cramps=yes"], "--soft expects"),
        (
            ["diagnose", "--set", "leg_cramp_side=none", "--set", "left_leg_cramps=yes"],
            "leg_cramp_side=none, left_leg_cramps=yes",
        ),
        (["diagnose", "--bogus"], "unrecognized arguments: --bogus"),
        ([], "required: command"),
        (["export", "-o", "x.txt"], "--format must be one of bif, xmlbif"),
        (["diagnose", "no-such-file.json"], "no-such-file.json: cannot read"),
    ],
)
def test_usage_and_evidence_errors_are_one_line_exit_2(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("crampnet: error: ")
    assert needle in err
    assert "Traceback" not in err


def test_case_file_errors_name_the_file_and_line(tmp_path, capsys):
    case = tmp_path / "case.json"
    case.write_text(
        '{\n  "evidence": {\n    "leg_cramp_side": "left",\n    "calcum": "low"\n  }\n}\n'
    )
    code, _, err = run(capsys, "diagnose", str(case))
    assert code == 2
    assert f"{case}:4: unknown variable 'calcum'; did you mean calcium" in err
    case.write_text('{"evidence": {"leg_cramp_side": "left",}}')
    code, _, err = run(capsys, "diagnose", str(case))
    assert code == 2 and f"{case}:1: not valid JSON" in err


def test_schema_json_lists_every_node_with_its_question(capsys):
    code, out, _ = run(capsys, "schema", "--json")
    assert code == 0
    nodes = {n["id"]: n for n in json.loads(out)["nodes"]}
    assert nodes["leg_cramp_side"]["states"] == ["none", "left", "right", "both"]
    assert nodes["calcium"]["kind"] == "cause"
    for node in nodes.values():
        assert node["label"] and node["question"] and node["kind"]


def test_export_writes_bif_and_xmlbif(tmp_path, capsys):
    for fmt in ("bif", "xmlbif"):
        target = tmp_path / f"net.{fmt}"
        code, _, err = run(capsys, "export", "--format", fmt, "-o", str(target))
        assert code == 0 and "wrote" in err
        assert "leg_cramp_side" in target.read_text()


def test_claims_table_is_complete_and_docs_copy_is_current(capsys):
    code, out, err = run(capsys, "claims", "--markdown")
    assert code == 0 and err == ""
    assert (ROOT / "docs" / "claims.md").read_text() == out, (
        "docs/claims.md is stale: run `crampnet claims --markdown > docs/claims.md`"
    )


def test_invalid_priors_exit_1_with_the_problems(tmp_path, capsys):
    code, _, err = run(capsys, "validate", "--priors", str(tmp_path))
    assert code == 1
    assert "no model.yaml here" in err


def test_console_script_runs_without_traceback():
    result = subprocess.run(
        [sys.executable, "-m", "model.cli", "diagnose", "--set", "x=y"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("crampnet: error: unknown variable 'x'")

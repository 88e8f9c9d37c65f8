"""Hostile input that once gave wrong numbers or tracebacks, kept as regression tests
(issue 12). Each test failed before its fix."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from model import default_model, diagnose
from model.cli import main
from model.errors import PriorsError
from model.priors import default_priors_dir, load_priors

MODEL = default_model()
CONTEXT = MODEL.priors.ids("context")


@pytest.mark.parametrize("scale", [1e-161, 1e-100, 1.0, 1e100, 1e308])
def test_a_uniform_soft_answer_changes_nothing_at_any_scale(scale):
    """A likelihood equal for every state says nothing: at 1e-161 on four nodes the product
    underflowed and moved dehydration from 0.222 to 0.000; at 1e308 it overflowed."""
    soft = {v: {"yes": scale, "no": scale} for v in CONTEXT}
    prior = diagnose({}, model=MODEL).posterior
    posterior = diagnose({}, soft, model=MODEL).posterior
    for cause, dist in prior.items():
        for state, p in dist.items():
            assert posterior[cause][state] == pytest.approx(p, abs=1e-12)


@given(
    scale=st.floats(min_value=1e-300, max_value=1e300),
    ratio=st.floats(min_value=0.01, max_value=100.0),
    variables=st.lists(st.sampled_from(CONTEXT), min_size=1, max_size=6, unique=True),
)
def test_the_scale_of_soft_evidence_never_matters(scale, ratio, variables):
    base = {v: {"yes": ratio, "no": 1.0} for v in variables}
    scaled = {v: {"yes": ratio * scale, "no": scale} for v in variables}
    a = diagnose({}, base, model=MODEL).posterior
    b = diagnose({}, scaled, model=MODEL).posterior
    for cause, dist in a.items():
        for state, p in dist.items():
            assert b[cause][state] == pytest.approx(p, abs=1e-9)


@pytest.mark.parametrize("field", ["claims_file", "red_flags_file", "node_files"])
@pytest.mark.parametrize("name", ["../../../../etc/passwd", "/etc/passwd", "sub/../../x.yaml"])
def test_a_priors_manifest_cannot_name_files_outside_its_folder(tmp_path, field, name):
    """``claims_file: ../../../../etc/passwd`` was read and echoed in the error."""
    directory = tmp_path / "priors"
    shutil.copytree(default_priors_dir(), directory)
    manifest = directory / "model.yaml"
    data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    data[field] = [name] if field == "node_files" else name
    manifest.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(PriorsError) as info:
        load_priors(directory)
    message = str(info.value)
    assert "lies outside the priors folder" in message and name in message
    assert "root:" not in message  # nothing of the file itself


def bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["a0: &a0 [x]"]
    for k in range(1, levels):
        refs = ", ".join([f"*a{k - 1}"] * width)
        lines.append(f"a{k}: &a{k} [{refs}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "text, expected",
    [
        (bomb(), "aliases expand too far"),  # 9^9 values: hung `crampnet validate`
        ("loop: &l [*l]\n", "an alias refers to itself"),  # a RecursionError traceback
        ("x: " + "[" * 100_000 + "]" * 100_000 + "\n", "nest"),  # depth, not recursion
    ],
)
def test_hostile_yaml_in_a_priors_folder_is_one_problem(tmp_path, text, expected):
    directory = tmp_path / "priors"
    shutil.copytree(default_priors_dir(), directory)
    (directory / "claims.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(PriorsError) as info:
        load_priors(directory)
    assert expected in str(info.value) and "claims.yaml" in str(info.value)


def test_a_priors_file_that_is_not_utf8_is_one_problem(tmp_path):
    directory = tmp_path / "priors"
    shutil.copytree(default_priors_dir(), directory)
    (directory / "red_flags.yaml").write_bytes(b"red_flags:\n  x: \xff\xfe\n")
    with pytest.raises(PriorsError) as info:
        load_priors(directory)
    assert "red_flags.yaml: not UTF-8 text" in str(info.value)


def crampnet(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


SOFT = b'{"evidence": {}, "soft_evidence": {"female": {"yes": %s, "no": 1}}}'


@pytest.mark.parametrize(
    "content, expected",
    [
        (SOFT % ("1" * 400).encode(), "a number of 400 characters"),  # was OverflowError
        (SOFT % ("9" * 5000).encode(), "a number of 5000 characters"),  # was ValueError
        (SOFT % b"1e999", "too large for a number"),  # inf, then "not a likelihood"
        (b'{"evidence": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
        (b'{"evidence": {"female": "\xff"}}', "not UTF-8 text"),  # was UnicodeDecodeError
        (b'{"evidence": {"female": "yes", "female": "no"}}', "appears twice"),  # kept the last
    ],
)
def test_a_hostile_case_file_is_one_line_with_exit_2(tmp_path, capsys, content, expected):
    path = tmp_path / "case.json"
    path.write_bytes(content)
    code, out, err = crampnet(capsys, "diagnose", str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and expected in err and str(path) in err
    assert len(err) < 400  # a long value is never echoed whole


def test_a_case_file_may_start_with_a_byte_order_mark(tmp_path, capsys):
    """A BOM was refused in case JSON and accepted in CSV and JSON Lines."""
    path = tmp_path / "case.json"
    path.write_bytes(b'\xef\xbb\xbf{"evidence": {"female": "yes"}}')
    code, out, err = crampnet(capsys, "diagnose", str(path), "--json")
    assert code == 0 and err == ""
    assert json.loads(out)["evidence"] == {"female": "yes"}


def test_a_jsonl_line_with_a_key_twice_is_named(tmp_path, capsys):
    source = tmp_path / "cases.jsonl"
    source.write_text('{"female": "yes"}\n{"female": "yes", "female": "no"}\n', encoding="utf-8")
    code, _, err = crampnet(capsys, "score", str(source), "-o", str(tmp_path / "out.csv"))
    assert code == 2 and f"{source}:2:" in err and "appears twice" in err

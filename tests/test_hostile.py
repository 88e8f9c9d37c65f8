"""Hostile input that once gave wrong numbers or tracebacks, kept as regression tests
(issue 12). Each test failed before its fix."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from model import default_model, diagnose
from model.cli.crampnet import main
from model.errors import PriorsError
from model.knowledge.priors import default_priors_dir, load_priors

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


def test_bad_jsonl_lines_are_error_rows_in_place(tmp_path, capsys):
    """A key twice kept the last value silently; a line that is not JSON stopped the file."""
    source, output = tmp_path / "cases.jsonl", tmp_path / "out.csv"
    source.write_text(
        '{"female": "yes"}\nnot json\n{"female": "yes", "female": "no"}\n[1]\n{"female": "no"}\n',
        encoding="utf-8",
    )
    code, _, err = crampnet(capsys, "score", str(source), "-o", str(output))
    assert code == 3
    assert f"{source}:row 2 (line 2): not valid JSON" in err
    assert f"{source}:row 3 (line 3): not a usable case: the key 'female' appears twice" in err
    assert f"{source}:row 4 (line 4): each line must be a JSON object" in err
    rows = read_output(output)
    assert [bool(r["error"]) for r in rows] == [False, True, True, True, False]
    assert [r["female"] for r in rows] == ["yes", "", "", "", "no"]


def read_output(path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_csv_row_with_an_extra_field_is_an_error_in_place_not_a_shift(tmp_path, capsys):
    """Pandas made the first column the index: every answer moved one column, exit 0."""
    source, output = tmp_path / "r.csv", tmp_path / "o.csv"
    source.write_text("id,female,nocturnal_cramps\nanna,yes,no,yes\nben,no,yes\n")
    code, _, err = crampnet(capsys, "score", str(source), "-o", str(output))
    assert code == 3
    assert f"{source}:row 1 (line 2): 4 fields where the header has 3" in err
    rows = read_output(output)
    assert [r["id"] for r in rows] == ["", "ben"]
    assert "4 fields" in rows[0]["error"] and rows[1]["error"] == ""
    expected = diagnose({"female": "no", "nocturnal_cramps": "yes"}, model=MODEL).posterior
    assert float(rows[1]["p_calcium_low"]) == pytest.approx(expected["calcium"]["low"])


def test_a_csv_header_naming_a_column_twice_is_refused(tmp_path, capsys):
    """Pandas renamed the second one female.1, which was then dropped silently."""
    source = tmp_path / "d.csv"
    source.write_text("id,female,female\na,yes,no\n")
    code, _, err = crampnet(capsys, "score", str(source), "-o", str(tmp_path / "o.csv"))
    assert code == 2 and err.strip().endswith("the header names 'female' more than once")


@given(
    rows=st.lists(
        st.lists(st.sampled_from(["", "yes", "no", "maybe"]), min_size=0, max_size=5),
        min_size=1,
        max_size=12,
    )
)
def test_a_ragged_csv_scores_every_row_in_place(tmp_path_factory, rows):
    """Every input row is one output row, in order: scored when it has the header's three
    fields, an error naming its field count otherwise; never shifted."""
    folder = tmp_path_factory.mktemp("ragged")
    source, output = folder / "in.csv", folder / "out.csv"
    lines = ["female,nocturnal_cramps,toe_cramps"] + [",".join(r) for r in rows]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code = main(["score", str(source), "-o", str(output), "--no-progress"])
    assert code in (0, 3)
    out = read_output(output)
    assert len(out) == len(rows)
    for cells, row in zip(rows, out, strict=True):
        if ",".join(cells) == "":  # a blank line: a row with no answers
            cells = []
        if cells and len(cells) != 3:
            assert f"{len(cells)} fields where the header has 3" in row["error"]
        elif "maybe" not in cells:
            assert row["error"] == ""
            given_answers = dict(
                zip(["female", "nocturnal_cramps", "toe_cramps"], cells, strict=False)
            )
            assert {k: v for k, v in row.items() if k in given_answers} == (
                given_answers if cells else {k: "" for k in given_answers}
            )


def test_a_jsonl_file_of_blank_lines_is_as_many_rows(tmp_path, capsys):
    """Three blank lines came out as no rows at all."""
    source, output = tmp_path / "blank.jsonl", tmp_path / "out.csv"
    source.write_text("\n\n\n", encoding="utf-8")
    code, _, err = crampnet(capsys, "score", str(source), "-o", str(output))
    assert code == 0 and "scored 3 of 3" in err
    rows = read_output(output)
    prior = diagnose({}, model=MODEL).posterior["calcium"]["low"]
    assert len(rows) == 3 and all(float(r["p_calcium_low"]) == pytest.approx(prior) for r in rows)


@pytest.mark.parametrize("value", ["-3", "-1", "x", "1e3"])
def test_a_negative_or_non_whole_explain_is_refused(capsys, value):
    """``--explain -3`` was accepted while ``report --top -1`` was refused."""
    code, out, err = crampnet(capsys, "diagnose", "--explain", value)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "--explain" in err and "whole number >= 0" in err


def test_a_huge_cell_is_quoted_short(tmp_path, capsys):
    """A 10 MB cell was echoed whole into its one-line error."""
    source, output = tmp_path / "big.csv", tmp_path / "out.csv"
    source.write_text("female,nocturnal_cramps\n" + "y" * 10_000_000 + ",yes\nno,yes\n")
    code, _, err = crampnet(capsys, "score", str(source), "-o", str(output))
    assert code == 3 and "characters)" in err and len(err) < 2_000
    assert len(read_output(output)[0]["error"]) < 400


def test_a_huge_state_in_a_case_is_quoted_short(tmp_path, capsys):
    path = tmp_path / "case.json"
    path.write_text(json.dumps({"evidence": {"female": "y" * 1_000_000}}), encoding="utf-8")
    code, out, err = crampnet(capsys, "diagnose", str(path))
    assert code == 2 and err.count("\n") == 1 and len(err) < 600


@pytest.mark.parametrize(
    "output, expected",
    [
        ("missing/out.csv", "does not exist"),  # was FileNotFoundError on '.out.csv.partial'
        ("folder.csv", "is a folder"),
        ("/proc/crampnet-out.csv", "cannot write"),
    ],
)
def test_an_output_that_cannot_be_written_is_one_line(tmp_path, capsys, output, expected):
    source = tmp_path / "in.csv"
    source.write_text("female\nyes\n")
    target = output if output.startswith("/") else str(tmp_path / output)
    if output == "folder.csv":
        (tmp_path / output).mkdir()
    code, out, err = crampnet(capsys, "score", str(source), "-o", target)
    assert code == 2 and err.count("\n") == 1 and expected in err, err
    assert not list(tmp_path.glob(".*partial"))


def big_csv(path, rows: int = 150_000) -> None:
    states = ["yes", "no", ""]
    with path.open("w", encoding="utf-8") as handle:
        handle.write("id,female,nocturnal_cramps,toe_cramps,low_fluid_intake\n")
        for i in range(rows):
            cells = [states[(i * k) % 3] for k in (1, 2, 5, 7)]
            handle.write(f"p{i}," + ",".join(cells) + "\n")


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_during_score_leaves_no_partial_file(tmp_path, signum, code):
    """SIGTERM left a 72 MB .partial file; SIGINT printed a KeyboardInterrupt traceback."""
    source, output = tmp_path / "in.csv", tmp_path / "out" / "scored.csv"
    output.parent.mkdir()
    big_csv(source)
    command = [sys.executable, "-c", "import sys; from model.cli import main; sys.exit(main())"]
    process = subprocess.Popen(
        [*command, "score", str(source), "-o", str(output), "--no-progress"],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list(output.parent.glob(".*.partial")):
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "no partial file appeared"
        time.sleep(0.05)
    time.sleep(0.3)  # well inside the scoring loop
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("crampnet: ")
    assert list(output.parent.iterdir()) == []


def test_a_parquet_file_naming_a_column_twice_is_one_line(tmp_path, capsys):
    """A KeyError traceback before."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    source = tmp_path / "dup.parquet"
    table = pa.Table.from_arrays([pa.array(["yes"]), pa.array(["no"])], names=["female", "female"])
    pq.write_table(table, source)
    code, _, err = crampnet(capsys, "score", str(source), "-o", str(tmp_path / "o.csv"))
    assert code == 2 and err.count("\n") == 1 and "'female' more than once" in err


def test_a_corrupt_parquet_file_is_one_line(tmp_path, capsys):
    """The error spanned two lines."""
    source = tmp_path / "bad.parquet"
    source.write_bytes(b"PAR1" + b"\x00" * 100 + b"garbage" + b"PAR1")
    code, _, err = crampnet(capsys, "score", str(source), "-o", str(tmp_path / "o.csv"))
    assert code == 2 and err.count("\n") == 1 and "not a readable Parquet file" in err


@pytest.mark.parametrize("content", ["", "id\np1\n"], ids=["zero-bytes", "no-node-column"])
def test_learn_with_no_question_column_is_one_line(tmp_path, capsys, content):
    """An empty file was a ValueError traceback from a reshape."""
    source, output = tmp_path / "cases.csv", tmp_path / "learned"
    source.write_text(content, encoding="utf-8")
    code, _, err = crampnet(capsys, "learn", str(source), "-o", str(output))
    assert code == 2 and err.count("\n") == 1 and "no column names a question" in err
    assert not output.exists()


def test_learn_from_rows_that_are_all_unusable_keeps_the_numbers(tmp_path, capsys):
    """Every row skipped for a bad cell: each is listed, and the set is the priors' own."""
    source, output = tmp_path / "cases.csv", tmp_path / "learned"
    source.write_text("female\nmaybe\nperhaps\n", encoding="utf-8")
    code, out, err = crampnet(capsys, "learn", str(source), "-o", str(output))
    assert code == 0 and err.count("skipped") == 2 and "learned from 0 cases" in out


@pytest.mark.parametrize("keep", [False, True])
def test_csv_output_defuses_formulas_unless_asked(tmp_path, capsys, keep):
    """Formula-injection ids (``=HYPERLINK(...)``) passed through to CSV output unchanged."""
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    ids = ['=HYPERLINK("http://example.org","x")', "+1+1", "-2", "@SUM(A1)", "anna"]
    source.write_text(
        "id,female\n" + "".join(f'"{i.replace(chr(34), chr(34) * 2)}",yes\n' for i in ids)
    )
    argv = ["score", str(source), "-o", str(output)] + (["--keep-formulas"] if keep else [])
    code, _, err = crampnet(capsys, *argv)
    assert code == 0, err
    shown = [r["id"] for r in read_output(output)]
    assert shown == (ids if keep else [f"'{i}" for i in ids[:4]] + ["anna"])


def test_a_report_writes_whole_files_only(tmp_path, capsys):
    """The report is written beside its target and renamed: no half file, no temporary left;
    a folder where the file should go is one line."""
    case = tmp_path / "case.json"
    case.write_text('{"evidence": {"female": "yes"}}', encoding="utf-8")
    code, _, err = crampnet(capsys, "report", str(case), "-o", str(tmp_path / "r.html"))
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["case.json", "r.html"]
    (tmp_path / "d.html").mkdir()
    code, _, err = crampnet(capsys, "report", str(case), "-o", str(tmp_path / "d.html"))
    assert code == 2 and err.count("\n") == 1 and "is a folder" in err


# --- fuzzing: whatever the bytes, every row is accounted for or the run stops with one line ---

JSONL_LINES = st.one_of(
    st.sampled_from(
        [
            b'{"female": "yes"}',
            b'{"female": "no", "toe_cramps": "yes"}',
            b'{"female": "maybe"}',
            b"",
            b"   ",
            b"[1, 2]",
            b'{"female": "yes", "female": "no"}',
            b'{"female": 1e999}',
            b"{",
            b"\xff\xfe",
            b'{"leg_cramp_side": "left", "left_leg_cramps": "no"}',
        ]
    ),
    st.binary(max_size=12).filter(lambda b: b"\n" not in b and b"\r" not in b),
)


def run_score(source, output) -> tuple[int, str]:
    with contextlib.redirect_stderr(io.StringIO()) as err:
        code = main(["score", str(source), "-o", str(output), "--no-progress"])
    return code, err.getvalue()


def assert_accounted_for(code: int, err: str, output, rows: int) -> None:
    if code == 2:  # stopped: one line, nothing written
        assert err.count("\n") == 1 and err.startswith("crampnet: error: "), err
        assert not output.exists()
    else:
        assert code in (0, 3), err
        assert "Traceback" not in err
        assert len(read_output(output)) == rows


@given(lines=st.lists(JSONL_LINES, max_size=10))
def test_random_jsonl_bytes_are_scored_row_by_row_or_refused_in_one_line(tmp_path_factory, lines):
    folder = tmp_path_factory.mktemp("jsonl")
    source, output = folder / "in.jsonl", folder / "out.csv"
    source.write_bytes(b"\n".join(lines) + (b"\n" if lines else b""))
    code, err = run_score(source, output)
    assert_accounted_for(code, err, output, len(lines))


@given(data=st.binary(max_size=200), header=st.sampled_from([b"female,toe_cramps\n", b""]))
def test_random_csv_bytes_are_scored_row_by_row_or_refused_in_one_line(
    tmp_path_factory, data, header
):
    folder = tmp_path_factory.mktemp("csv")
    source, output = folder / "in.csv", folder / "out.csv"
    source.write_bytes(header + data)
    code, err = run_score(source, output)
    if code != 2:
        with source.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
            records = list(csv.reader(handle))
        rows = max(len(records) - 1, 0)
        assert_accounted_for(code, err, output, rows)
    else:
        assert_accounted_for(code, err, output, 0)


@given(data=st.binary(max_size=300))
def test_random_parquet_bytes_are_refused_in_one_line(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("parquet")
    source, output = folder / "in.parquet", folder / "out.csv"
    source.write_bytes(data)
    code, err = run_score(source, output)
    assert code == 2 and err.count("\n") == 1, err
    assert not output.exists()


MUTATIONS = [
    lambda v: None,
    lambda v: "text",
    lambda v: -1,
    lambda v: 1e308,
    lambda v: [],
    lambda v: {"x": v},
    lambda v: True,
]


def paths(value, prefix=()):
    """Every key path into nested dicts and lists."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*prefix, k)
            yield from paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield (*prefix, i)
            yield from paths(v, (*prefix, i))


@given(data=st.data())
def test_random_priors_mutations_load_or_list_their_problems(tmp_path_factory, data):
    """A priors file changed at a random place either loads or raises PriorsError, never
    another exception."""
    directory = tmp_path_factory.mktemp("priors") / "p"
    shutil.copytree(default_priors_dir(), directory)
    name = data.draw(st.sampled_from(["causes.yaml", "findings.yaml", "red_flags.yaml"]))
    document = yaml.safe_load((directory / name).read_text(encoding="utf-8"))
    where = data.draw(st.sampled_from(list(paths(document))[:4000]))
    mutate = data.draw(st.sampled_from(MUTATIONS))
    parent = document
    for key in where[:-1]:
        parent = parent[key]
    parent[where[-1]] = mutate(parent[where[-1]])
    (directory / name).write_text(yaml.safe_dump(document), encoding="utf-8")
    try:
        load_priors(directory)
    except PriorsError as exc:
        assert str(exc).strip()


@pytest.mark.parametrize(
    "name, content",
    [
        ("enc.csv", b"female,toe_cramps\nyes,no\n\xff\xfe,yes\nno,yes\n"),
        ("enc.jsonl", b'{"female": "yes"}\n{"female": "\xff"}\n{"female": "no"}\n'),
    ],
)
def test_a_row_that_is_not_utf8_is_an_error_in_place(tmp_path, capsys, name, content):
    """A stray byte stopped the whole file, naming no line."""
    source, output = tmp_path / name, tmp_path / "out.csv"
    source.write_bytes(content)
    code, _, err = crampnet(capsys, "score", str(source), "-o", str(output))
    assert code == 3 and "not UTF-8 text" in err
    line = 3 if name.endswith(".csv") else 2
    assert f"(line {line}): not UTF-8 text" in err
    assert [bool(r["error"]) for r in read_output(output)] == [False, True, False]


def test_learn_writes_a_whole_set_and_nothing_else(tmp_path, capsys):
    """The set is written to a temporary folder and moved in: nothing half-written is left,
    and a place that cannot be written is one line."""
    source, output = tmp_path / "cases.csv", tmp_path / "learned"
    source.write_text("female,toe_cramps\nyes,no\nno,yes\n", encoding="utf-8")
    code, _, err = crampnet(capsys, "learn", str(source), "-o", str(output), "--max-iter", "2")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.csv", "learned"]
    assert load_priors(output).meta.version.endswith("+learned")
    code, _, err = crampnet(capsys, "learn", str(source), "-o", "/proc/crampnet-learned")
    assert code == 2 and err.count("\n") == 1 and "cannot write the learned set" in err


@pytest.mark.parametrize(
    "where", ["case variable", "case key", "csv column"], ids=["variable", "key", "column"]
)
def test_a_huge_name_is_quoted_short(tmp_path, capsys, where):
    huge = "x" * 1_000_000
    if where == "csv column":
        path = tmp_path / "in.csv"
        path.write_text(f"female,{huge}\nyes,1\n", encoding="utf-8")
        argv = ["score", str(path), "-o", str(tmp_path / "out.csv")]
    else:
        case = {"evidence": {huge: "yes"}} if where == "case variable" else {huge: {}}
        path = tmp_path / "case.json"
        path.write_text(json.dumps(case), encoding="utf-8")
        argv = ["diagnose", str(path)]
    code, _, err = crampnet(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and len(err) < 1_000, len(err)
    assert "characters)" in err


def test_two_runs_writing_one_output_do_not_collide(tmp_path):
    """Both runs used .out.csv.partial; the second crashed."""
    source, output = tmp_path / "in.csv", tmp_path / "out.csv"
    big_csv(source, rows=40_000)
    command = [sys.executable, "-c", "import sys; from model.cli import main; sys.exit(main())"]
    argv = [*command, "score", str(source), "-o", str(output), "--no-progress"]
    first = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    errors = [first.communicate(timeout=120)[1], second.communicate(timeout=120)[1]]
    assert first.returncode == 0 and second.returncode == 0, errors
    assert len(read_output(output)) == 40_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_an_interrupt_surfacing_as_a_lock_error_still_exits_130(monkeypatch, capsys):
    """A SIGINT that lands inside a lock's release in a thread pool surfaces as a RuntimeError
    whose context is the interrupt: the run still ends with one line and status 130."""
    import model.cli.crampnet as crampnet

    def interrupted(priors=None):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise RuntimeError("cannot release un-acquired lock") from None

    monkeypatch.setattr(crampnet, "load_model", interrupted)
    assert crampnet.main(["validate"]) == 130
    assert capsys.readouterr().err == "crampnet: interrupted\n"

    def broken(priors=None):
        raise RuntimeError("a real bug")

    monkeypatch.setattr(crampnet, "load_model", broken)
    with pytest.raises(RuntimeError, match="a real bug"):
        crampnet.main(["validate"])

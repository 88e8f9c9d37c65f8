"""Case tables (CSV, JSON Lines, Parquet): reading in chunks, row numbers, cells and errors."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from model.errors import UsageError
from model.readwrite.casefile import (
    CaseRow,
    file_format,
    iter_cases,
    read_frames,
    split_columns,
    where,
)

ROWS = [
    {"id": "ü-1", "leg_cramp_side": "left", "nocturnal_cramps": "yes"},
    {"id": "2", "leg_cramp_side": "lft", "nocturnal_cramps": " no "},
    {"id": "3", "leg_cramp_side": "none"},
    {"id": "4", "nocturnal_cramps": "NA", "calcium": "low"},
    {"id": "5"},
]
COLUMNS = ["id", "leg_cramp_side", "nocturnal_cramps", "calcium"]


def write(rows: list[dict], path, columns: list[str] = COLUMNS) -> None:
    """A case table in the format of ``path``'s suffix; missing cells left empty."""
    fmt = file_format(path)
    if fmt == "csv":
        pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
    elif fmt == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    else:
        table = {c: pa.array([r.get(c) for r in rows], type=pa.string()) for c in columns}
        pq.write_table(pa.table(table), path)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_iter_cases_reads_every_row_in_order(model, tmp_path, suffix):
    path = tmp_path / f"cases{suffix}"
    write(ROWS, path)
    cases = list(iter_cases(path, model))
    assert [c.number for c in cases] == [1, 2, 3, 4, 5]
    assert [c.cells["id"] for c in cases] == ["ü-1", "2", "3", "4", "5"]
    assert cases[0] == CaseRow(
        1,
        {"id": "ü-1", "leg_cramp_side": "left", "nocturnal_cramps": "yes", "calcium": ""},
        {"leg_cramp_side": "left", "nocturnal_cramps": "yes"},
        None,
    )
    # an unknown state: the row keeps its place, the error names variable, state and closest
    assert "'lft'" in cases[1].error and "leg_cramp_side" in cases[1].error
    assert "did you mean left?" in cases[1].error
    assert cases[1].evidence == {"nocturnal_cramps": "no"}  # surrounding spaces forgiven
    # "none" is a state and "NA" is text (an unknown state), never a missing value
    assert cases[2].evidence == {"leg_cramp_side": "none"} and cases[2].error is None
    assert "'NA'" in cases[3].error and cases[3].evidence == {"calcium": "low"}
    assert cases[4].evidence == {} and cases[4].error is None


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_chunks_number_rows_across_boundaries(tmp_path, suffix):
    path = tmp_path / f"cases{suffix}"
    write(ROWS, path)
    frames = list(read_frames(path, chunk_rows=2))
    assert [len(f) for f in frames] == [2, 2, 1]
    assert [list(f.index) for f in frames] == [[1, 2], [3, 4], [5]]
    assert list(pd.concat(frames)["id"]) == ["ü-1", "2", "3", "4", "5"]


def test_row_numbers_map_to_lines(model, tmp_path):
    path = tmp_path / "cases.csv"
    path.write_text("id,nocturnal_cramps\na,yes\n\nc,maybe\n", encoding="utf-8")
    cases = list(iter_cases(path, model))
    assert [c.cells["id"] for c in cases] == ["a", "", "c"]  # a blank line is a row
    bad = cases[2]
    assert bad.error is not None
    lines = path.read_text().splitlines()
    assert lines[bad.number] == "c,maybe"  # row N is line N + 1 (index N of the lines)
    assert where(path, "csv", bad.number) == f"{path}:row 3 (line 4)"
    assert where(path, "jsonl", 3) == f"{path}:row 3 (line 3)"
    assert where(path, "parquet", 3) == f"{path}:row 3"


def test_empty_inputs_give_one_empty_frame(tmp_path):
    zero = tmp_path / "zero.csv"
    zero.write_bytes(b"")
    header = tmp_path / "header.csv"
    header.write_text("id,nocturnal_cramps\n")
    jsonl = tmp_path / "zero.jsonl"
    jsonl.write_bytes(b"")
    parquet = tmp_path / "empty.parquet"
    pq.write_table(pa.table({"id": pa.array([], type=pa.string())}), parquet)
    for path, columns in [(zero, []), (header, ["id", "nocturnal_cramps"]), (jsonl, [])]:
        (frame,) = read_frames(path)
        assert frame.empty and list(frame.columns) == columns
    (frame,) = read_frames(parquet)
    assert frame.empty and list(frame.columns) == ["id"]


def test_unknown_columns_are_named_with_the_closest_ids(model, tmp_path):
    with pytest.raises(UsageError, match=r"'noctural_cramps' \(did you mean nocturnal_cramps"):
        split_columns(["id", "noctural_cramps"], model.priors, path="x.csv")
    nodes, kept = split_columns(
        ["id", "noctural_cramps", "_mine", "toe_cramps"],
        model.priors,
        path="x.csv",
        ignore_columns=True,
    )
    assert nodes == ["toe_cramps"] and kept == ["id", "noctural_cramps", "_mine"]
    path = tmp_path / "cases.csv"
    path.write_text("id,noctural_cramps\n1,yes\n")
    with pytest.raises(UsageError, match="noctural_cramps"):
        next(iter_cases(path, model))


def test_malformed_files_name_file_and_line(tmp_path, model):
    """A bad JSON Lines line keeps its place as an error row; the other lines still read."""
    path = tmp_path / "cases.jsonl"
    for text, message in [
        ('{"nocturnal_cramps": "yes"}\n{"nocturnal_cramps": \n', "not valid JSON"),
        ('{"nocturnal_cramps": "yes"}\n["yes"]\n', "each line must be a JSON object"),
    ]:
        path.write_text(text)
        rows = list(iter_cases(path, model))
        assert [r.number for r in rows] == [1, 2]
        assert rows[0].error is None and rows[0].evidence == {"nocturnal_cramps": "yes"}
        assert message in rows[1].error and rows[1].evidence == {}
    with pytest.raises(UsageError, match=r"\.txt"):
        file_format(tmp_path / "cases.txt")
    assert file_format(tmp_path / "cases.txt", "csv") == "csv"
    assert file_format(tmp_path / "cases.NDJSON") == "jsonl"
    with pytest.raises(UsageError, match="no such file"):
        list(read_frames(tmp_path / "missing.csv"))


def test_jsonl_non_text_values_are_their_json_text(model, tmp_path):
    path = tmp_path / "cases.jsonl"
    path.write_text('{"id": 7, "nocturnal_cramps": true}\n{"nocturnal_cramps": null}\n')
    first, second = iter_cases(path, model)
    assert first.cells == {"id": "7", "nocturnal_cramps": "true"}
    assert "'true'" in first.error
    assert second.cells == {"id": "", "nocturnal_cramps": ""} and second.error is None

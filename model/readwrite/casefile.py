"""Case files: one case as JSON (``crampnet diagnose``, ``report``) and, for many cases, tables.

A case file is ``{"evidence": {id: state}, "soft_evidence": {...}, "do": {...}}`` (the last two
optional). Errors name the file and the line.
"""

from __future__ import annotations

import csv
import difflib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from model.errors import SHOWN_CHARS, UsageError, shorten
from model.inference.evidence import closest_ids
from model.knowledge.priors import Priors


def line_of(text: str, key: str) -> int | None:
    """The 1-based line on which ``"key":`` first appears in a JSON text, if it does."""
    match = re.search(rf'"{re.escape(key)}"\s*:', text)
    return text.count("\n", 0, match.start()) + 1 if match else None


MAX_NUMBER_CHARS = 40  # a likelihood or count longer than this is a mistake, not a number


def _number(text: str) -> float | int:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"a number of {len(text)} characters ({text[:20]}...)")
    value = float(text) if any(c in text for c in ".eE") else int(text)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{text} is too large for a number")  # at most MAX_NUMBER_CHARS
    return value


def parse_json(text: str, where: str, line: int | None = None) -> object:
    """JSON text as plain data, or one :class:`UsageError` line naming ``where`` and the line
    (``line`` when the text is one line of a file):
    not JSON, a number too long or too large to be a likelihood, nesting too deep, or two
    values for one key (JSON would keep the last silently)."""

    def pairs(items: list[tuple[str, object]]) -> dict:
        out: dict = {}
        for key, value in items:
            if key in out:
                raise ValueError(f"the key {key[:60]!r} appears twice")
            out[key] = value
        return out

    try:
        return json.loads(text, parse_int=_number, parse_float=_number, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}:{line or exc.lineno}: not valid JSON: {exc.msg}") from None
    except ValueError as exc:
        raise UsageError(f"{where}:{line or 1}: not a usable case: {exc}") from None
    except RecursionError:
        raise UsageError(f"{where}:{line or 1}: JSON nested too deeply to be a case") from None


def read_case(path: str | Path) -> tuple[dict, dict, dict, str]:
    """Read a case file ``{"evidence": {...}, "soft_evidence": {...}, "do": {...}}`` (the last
    two optional); returns evidence, soft evidence, interventions and the file's text."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark is allowed, as in CSV
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start} cannot be decoded)") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    case = parse_json(text, str(path))
    if not isinstance(case, dict):
        raise UsageError(f"{path}: a case is a JSON object with 'evidence' (and 'soft_evidence')")
    unknown = sorted(set(case) - {"evidence", "soft_evidence", "do", "id", "title", "expect"})
    if unknown:
        shown = ", ".join(shorten(k) for k in unknown[:10])
        raise UsageError(f"{path}: unknown key(s) {shown}; expected evidence")
    for key in ("evidence", "soft_evidence", "do"):
        if not isinstance(case.get(key, {}), dict):
            raise UsageError(f"{path}:{line_of(text, key) or 1}: {key} must be a JSON object")
    return case.get("evidence", {}), case.get("soft_evidence", {}), case.get("do", {}), text


# --- tables of cases: CSV, JSON Lines, Parquet ------------------------------------------------

FORMATS = ("csv", "jsonl", "parquet")
SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
CHUNK_ROWS = 65536  # rows per chunk: large enough for batched scoring, small enough to stay flat
PASS_THROUGH = ("id", "name", "note", "notes", "comment", "date")  # kept, never evidence
PRIVATE_PREFIX = "_"  # a column named "_anything" is the user's own: kept, never evidence


def file_format(path: str | Path, fmt: str | None = None) -> str:
    """The table format of ``path``: ``fmt`` if given, else from the suffix (.csv, .jsonl or
    .ndjson, .parquet); a :class:`UsageError` naming the choices otherwise."""
    return format_of(path, fmt, SUFFIXES, "format")


def format_of(path: str | Path, fmt: str | None, suffixes: dict[str, str], what: str) -> str:
    """``fmt`` if it is one of the formats ``suffixes`` names, else the format of the suffix
    of ``path``; a :class:`UsageError` naming the choices otherwise (``what``: which format,
    as the message should call it)."""
    formats = list(dict.fromkeys(suffixes.values()))
    if fmt is not None:
        if fmt not in formats:
            raise UsageError(f"{what} must be one of {', '.join(formats)}, got {fmt!r}")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in suffixes:
        raise UsageError(
            f"{path}: cannot tell the {what} from the suffix {suffix or '(none)'!r}; use "
            f"{', '.join(suffixes)} or give the format ({', '.join(formats)})"
        )
    return suffixes[suffix]


def where(path: str | Path, fmt: str, number: int) -> str:
    """``INPUT:row N`` and, for text formats, the line: ``(line N + 1)`` in a CSV (the header
    is line 1), ``(line N)`` in JSON Lines. Exact unless a quoted CSV cell spans lines."""
    if fmt == "csv":
        return f"{path}:row {number} (line {number + 1})"
    if fmt == "jsonl":
        return f"{path}:row {number} (line {number})"
    return f"{path}:row {number}"


def read_frames(
    path: str | Path, *, fmt: str | None = None, chunk_rows: int = CHUNK_ROWS
) -> Iterator[pd.DataFrame]:
    """The rows of a case table in chunks, streamed: the whole file is never held.

    Every cell is text (``str`` or categorical of ``str``, as read) or missing; an empty cell
    is missing. Each frame's index is the 1-based data row number, continuing across chunks.
    At least one frame comes back, so the columns are known even for a header-only file (an
    empty frame; for a zero-byte file, an empty frame with no columns). Row numbering: in a
    CSV every line after the header is a row (a blank line is a row with no answers), so row
    N is line N + 1; in JSON Lines every line is a row, so row N is line N; in Parquet rows
    are counted from 1. Malformed files raise a :class:`UsageError` naming the file and line.
    """
    path = Path(path)
    fmt = file_format(path, fmt)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    readers = {"csv": _csv_frames, "jsonl": _jsonl_frames, "parquet": _parquet_frames}
    start = 1
    for frame in readers[fmt](path, chunk_rows):
        frame.index = pd.RangeIndex(start, start + len(frame))
        start += len(frame)
        yield frame


READ_ERRORS = "read_errors"  # frame.attrs key: {row position: why the row cannot be used}
CELL_LIMIT = 1 << 26  # characters in one CSV cell (the csv module's default is 128 KiB)


def _csv_frames(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """A CSV read strictly with the csv module: a row with more or fewer fields than the
    header is kept in place as an error row (never shifted onto other columns, as pandas does
    when the first data row has one field more), a header naming a column twice is refused."""
    if path.stat().st_size == 0:
        yield pd.DataFrame()
        return
    line = 1
    csv.field_size_limit(max(csv.field_size_limit(), CELL_LIMIT))
    try:
        # undecodable bytes become lone surrogates: that row, not the file, is the error
        with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                yield pd.DataFrame()
                return
            if _undecodable(header):
                raise UsageError(f"{path}:1: the header is not UTF-8 text")
            _check_unique(header, f"{path}:1: the header names")
            width, rows, problems, yielded = len(header), [], {}, False
            for record in reader:
                line = reader.line_num
                if _undecodable(record):
                    problems[len(rows)] = "not UTF-8 text: the row is not used"
                    record = []
                elif record and len(record) != width:
                    problems[len(rows)] = (
                        f"{len(record)} fields where the header has {width}: "
                        "the row is not used, rather than shifted"
                    )
                    record = []
                rows.append(record or [""] * width)
                if len(rows) >= chunk_rows:
                    yield _csv_frame(rows, header, problems)
                    rows, problems, yielded = [], {}, True
            if rows or not yielded:
                yield _csv_frame(rows, header, problems)
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text (byte {exc.start} cannot be decoded)") from None
    except csv.Error as exc:
        raise UsageError(f"{path}:{line + 1}: not a readable CSV row: {exc}") from None


def _check_unique(names: list[str], where: str) -> None:
    """Refuse a table naming a column twice (read as is, one of them would be lost)."""
    twice = sorted({c for c in names if names.count(c) > 1})
    if twice:
        shown = ", ".join(repr(c[:60]) for c in twice)
        raise UsageError(f"{where} {shown} more than once")


def _undecodable(cells: list[str]) -> bool:
    """True when a cell holds bytes that were not UTF-8 (read as lone surrogates)."""
    return any(_SURROGATE.search(c) for c in cells)


_SURROGATE = re.compile("[\udc80-\udcff]")


def _csv_frame(rows: list[list[str]], header: list[str], problems: dict) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=header, dtype=object)
    frame = frame.where(frame != "", np.nan)  # an empty cell is missing, as in every format
    frame.attrs[READ_ERRORS] = dict(problems)
    return frame


def _jsonl_cell(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    return json.dumps(value, ensure_ascii=False)  # numbers, booleans, objects: their JSON text


def _jsonl_objects(path: Path) -> Iterator[tuple[int, dict, str | None]]:
    """Each line as ``(line number, object, error)``: a line that is not a JSON object keeps
    its place as an empty row with the reason (the other lines still score)."""
    with path.open(encoding="utf-8-sig", errors="surrogateescape") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                yield line_number, {}, None
                continue
            if _SURROGATE.search(line):
                yield line_number, {}, "not UTF-8 text"
                continue
            try:
                record = parse_json(line, str(path), line_number)
            except UsageError as exc:
                yield line_number, {}, str(exc).split(": ", 1)[-1]
                continue
            if not isinstance(record, dict):
                yield line_number, {}, "each line must be a JSON object"
                continue
            yield line_number, record, None


def _jsonl_frames(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    # a first pass collects every key (in order of first appearance), so each chunk has the
    # same columns
    try:
        columns = list(dict.fromkeys(k for _, record, _ in _jsonl_objects(path) for k in record))
        batch: list[dict] = []
        problems: dict[int, str] = {}
        empty = True
        for _, record, error in _jsonl_objects(path):
            if error is not None:
                problems[len(batch)] = error
            batch.append(record)
            if len(batch) >= chunk_rows:
                yield _jsonl_frame(batch, columns, problems)
                empty = False
                batch, problems = [], {}
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text: {exc.reason}") from None
    if batch or empty:
        yield _jsonl_frame(batch, columns, problems)


def _jsonl_frame(
    records: list[dict], columns: list[str], problems: dict[int, str] | None = None
) -> pd.DataFrame:
    data = {c: [_jsonl_cell(r.get(c)) for r in records] for c in columns}
    # the index gives the row count even when no line has a key (a file of blank lines)
    frame = pd.DataFrame(data, columns=columns, index=range(len(records)), dtype=object)
    frame.attrs[READ_ERRORS] = dict(problems or {})
    return frame


def _parquet_frames(path: Path, chunk_rows: int) -> Iterator[pd.DataFrame]:
    try:
        parquet = pq.ParquetFile(path)
        schema = parquet.schema_arrow
        _check_unique(schema.names, f"{path}: the columns name")
        # text columns come back dictionary-encoded (pandas categoricals): mapped to state
        # codes once per distinct value, not once per row
        text = [
            f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
        ]
        parquet = pq.ParquetFile(path, read_dictionary=text)
        empty = True
        for batch in parquet.iter_batches(batch_size=chunk_rows):
            empty = False
            yield _parquet_frame(batch)
        if empty:
            yield _parquet_frame(schema.empty_table())
    except (pa.ArrowException, OSError) as exc:
        said = " ".join(str(exc).split())[:SHOWN_CHARS]  # one line, whatever Arrow says
        raise UsageError(f"{path}: not a readable Parquet file: {said}") from None


def _parquet_frame(batch: pa.RecordBatch | pa.Table) -> pd.DataFrame:
    columns = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        kind = column.type
        if pa.types.is_dictionary(kind) and not pa.types.is_string(kind.value_type):
            column = column.cast(pa.string())
        elif not (pa.types.is_dictionary(kind) or pa.types.is_string(kind)):
            column = column.cast(pa.string())  # numbers, booleans: their text
        values = column.to_pandas()
        if isinstance(values.dtype, pd.CategoricalDtype):
            values = values.cat.remove_unused_categories()
            empty = [c for c in values.cat.categories if c == ""]
            values = values.cat.remove_categories(empty) if empty else values
        else:
            values = values.astype(object).where(values.notna() & (values != ""), None)
        columns[name] = values
    return pd.DataFrame(columns, columns=batch.schema.names)


# --- columns and cells -------------------------------------------------------------------------


def split_columns(
    columns: list[str], priors: Priors, *, path: str | Path, ignore_columns: bool = False
) -> tuple[list[str], list[str]]:
    """The columns that are answers (node ids) and those kept as they are.

    A column that is neither a node id nor a pass-through column (``id``, ``name``, ``note``,
    ``notes``, ``comment``, ``date``, or any name starting with ``_``) is an error up front,
    naming it and the closest ids, unless ``ignore_columns`` (then it is kept, not used).
    """
    nodes = [c for c in columns if c in priors.nodes]
    unknown = [
        c
        for c in columns
        if c not in priors.nodes and c not in PASS_THROUGH and not str(c).startswith(PRIVATE_PREFIX)
    ]
    if unknown and not ignore_columns:
        hints = []
        for c in unknown[:10]:
            close = closest_ids(str(c)[:SHOWN_CHARS], list(priors.nodes))
            hints.append(
                f"{shorten(c)} (did you mean {', '.join(close)}?)" if close else shorten(c)
            )
        if len(unknown) > 10:
            hints.append(f"and {len(unknown) - 10} more")
        raise UsageError(
            f"{path}: unknown column(s) {', '.join(hints)}; a column is a node id (see "
            f"'crampnet schema'), or {', '.join(PASS_THROUGH)} or _anything (kept as is); "
            "--ignore-columns keeps unknown columns without using them"
        )
    return nodes, [c for c in columns if c not in nodes]


def state_error(variable: str, state: str, states: list[str]) -> str:
    """One line for a cell that is not one of the variable's states, closest states first."""
    close = difflib.get_close_matches(state[:SHOWN_CHARS], states, n=2, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return f"unknown state {shorten(state)} for {variable}; {hint}valid states: {', '.join(states)}"


def encode_frame(
    frame: pd.DataFrame, columns: list[str], priors: Priors
) -> tuple[np.ndarray, np.ndarray]:
    """The answers of a chunk as state codes, and each row's error.

    Returns ``codes`` (``int16``, rows x columns, ``-1`` where unanswered, in each node's
    state order) and ``errors`` (object array: ``None`` or one line naming each bad cell's
    variable and state). Vectorised: each column is mapped through a categorical; only cells
    that are not states are looked at one by one (surrounding spaces are forgiven there).
    """
    n = len(frame)
    codes = np.full((n, len(columns)), -1, dtype=np.int16)
    errors = np.full(n, None, dtype=object)
    for j, c in enumerate(columns):
        states = priors.nodes[c].states
        values = frame[c]
        column = _state_codes(values, states)
        bad = np.flatnonzero((column < 0) & values.notna().to_numpy())
        for r in bad:
            cell = str(values.iloc[r])
            stripped = cell.strip()
            if stripped in states:
                column[r] = states.index(stripped)
            elif stripped:
                message = state_error(c, cell, states)
                errors[r] = message if errors[r] is None else f"{errors[r]}; {message}"
        codes[:, j] = column
    for r, message in frame.attrs.get(READ_ERRORS, {}).items():  # rows the reader could not use
        codes[r] = -1
        errors[r] = message
    return codes, errors


def _state_codes(values: pd.Series, states: list[str]) -> np.ndarray:
    """Each cell's state index, ``-1`` where missing or not a state: a categorical column is
    mapped once per category, text by one hash lookup per cell."""
    index = pd.Index(states)
    if isinstance(values.dtype, pd.CategoricalDtype):
        lookup = np.append(index.get_indexer(values.cat.categories), -1)  # code -1: missing
        return lookup[values.cat.codes.to_numpy()].astype(np.int16)
    return index.get_indexer(values.to_numpy(dtype=object)).astype(np.int16)


@dataclass(frozen=True)
class CaseRow:
    """One row of a case table.

    ``number`` is the 1-based data row (line ``number + 1`` of a CSV, line ``number`` of a
    JSON Lines file); ``cells`` the row as read (every column, ``""`` where empty);
    ``evidence`` the answered node ids and their states; ``error`` why the row cannot be used
    (an unknown state, with the closest states), ``None`` if it can. Impossible combinations
    of answers are found only when the row is scored (they need the engine).
    """

    number: int
    cells: dict[str, str]
    evidence: dict[str, str]
    error: str | None


def iter_cases(
    path: str | Path, model, *, fmt: str | None = None, ignore_columns: bool = False
) -> Iterator[CaseRow]:
    """The rows of a case table one by one, in order (for reports, learning, evaluation).

    ``model`` is a :class:`model.diagnosis.crampmodel.CrampModel` (its priors give the states).
    Unknown columns raise a :class:`UsageError` before the first row, unless ``ignore_columns``.
    """
    priors = model.priors
    nodes: list[str] | None = None
    for frame in read_frames(path, fmt=fmt):
        if nodes is None:
            nodes, _ = split_columns(
                list(frame.columns), priors, path=path, ignore_columns=ignore_columns
            )
        codes, errors = encode_frame(frame, nodes, priors)
        states = [priors.nodes[c].states for c in nodes]
        names = list(frame.columns)
        for k, (number, *cells) in enumerate(frame.itertuples(index=True, name=None)):
            evidence = {c: states[j][codes[k, j]] for j, c in enumerate(nodes) if codes[k, j] >= 0}
            yield CaseRow(
                number=int(number),
                cells={c: "" if _missing(v) else str(v) for c, v in zip(names, cells, strict=True)},
                evidence=evidence,
                error=errors[k],
            )


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA

"""Posteriors for a file of cases, one output row per input row (``crampnet score``).

Input and output are CSV, JSON Lines or Parquet (chosen by suffix, or ``--input-format`` /
``--output-format``). The file is streamed in chunks (:data:`model.readwrite.casefile.CHUNK_ROWS`
rows), so memory stays flat however long it is; each chunk is mapped to state codes with
categoricals, scored in one batched pass (:func:`model.inference.scoring.score_array`), its red
flags computed over whole arrays (:func:`model.diagnosis.red_flags.flag_masks`), and written.

Output columns, in order: the input columns as read (as text), then ``p_<cause>_<state>``
for every state of every cause (e.g. ``p_calcium_low``, ``p_poor_circulation_yes``), with
``--intervals`` each followed by ``p_<cause>_<state>_lower`` and ``_upper`` (the central 90%
interval over parameter sets drawn from the priors' confidence); with ``--if-fixed``, for every
abnormal cause state ``stops_<cause>_<state>`` (expected disablement: how many of the row's
present features would stop had only that cause been normal), ``all_stop_<cause>_<state>`` (the
probability that all would) and ``alone_<cause>_<state>`` (expected sufficiency), then
``features`` (how many are present), ``conflict`` (Jensen's conflict of the row's answers,
natural log) and ``conflict_answers`` (the pair or smallest set that conflicts most, as
``id=state; id=state``; empty when none); then ``red_flags`` (raised
flag ids: joined by ``;`` in CSV, a list in JSON Lines and Parquet) and ``error``. What the
numbers are travels with them: each JSON Lines row carries the model's ``notice``, a Parquet
file's schema holds the notice and the model identity, and the command says the notice on
stderr (CSV has no place for it).

Nothing is lost: a row with an unknown state, or answers that cannot all be true under the
model, keeps its place with ``error`` filled in and its posterior cells left empty (never NaN
shown as a result); the other rows are scored. The numbers are what one practitioner's web
page says about these answers, not a diagnosis.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from tqdm import tqdm

from model.diagnosis.red_flags import flag_masks, flag_targets
from model.errors import ImpossibleEvidenceError, UsageError
from model.inference.conflict import measure_conflict
from model.inference.scoring import score_array
from model.inference.uncertainty import LEVEL, posterior_intervals
from model.knowledge.draws import DRAWS
from model.readwrite.casefile import (
    CHUNK_ROWS,
    encode_frame,
    file_format,
    read_frames,
    split_columns,
    where,
)
from model.readwrite.outputs import finish, partial_file
from model.readwrite.tables import WRITERS

EXIT_SOME_FAILED = 3
INTERVAL_CHUNK_ROWS = 256  # with --intervals a row takes milliseconds: smaller steps of progress
OUTPUT_TAIL = ("red_flags", "error")
IF_FIXED_MEASURES = (  # column prefix, IfFixed field
    ("stops", "expected_disablement"),
    ("all_stop", "p_all_stop"),
    ("alone", "expected_sufficiency"),
)


def probability_columns(model, intervals: bool = False) -> list[tuple[str, str, str, str]]:
    """``(column, cause, state, kind)`` for each output probability column, in output order;
    ``kind`` is ``"p"`` (the posterior), ``"low"`` or ``"high"`` (interval bounds)."""
    out = []
    for cause in model.causes:
        for state in model.priors.nodes[cause].states:
            name = f"p_{cause}_{state}"
            out.append((name, cause, state, "p"))
            if intervals:
                out.append((f"{name}_lower", cause, state, "low"))
                out.append((f"{name}_upper", cause, state, "high"))
    names = [name for name, *_ in out]
    if len(set(names)) != len(names):  # pragma: no cover - would need ids like a_b + c, a + b_c
        raise UsageError("two cause states give the same output column name")
    return out


def if_fixed_columns(model) -> list[tuple[str, str, str, str]]:
    """``(column, cause, state, measure)`` for each ``--if-fixed`` column, in output order,
    then the ``features``, ``conflict`` and ``conflict_answers`` columns (cause and state
    empty)."""
    out = [
        (f"{prefix}_{cause}_{state}", cause, state, measure)
        for cause, state in model.abnormal_states()
        for prefix, measure in IF_FIXED_MEASURES
    ]
    return out + [(name, "", "", name) for name in ("features", "conflict", "conflict_answers")]


def output_columns(
    model, input_columns: list[str], intervals: bool = False, if_fixed: bool = False
) -> list[str]:
    """Every output column in order: input, probabilities, with ``if_fixed`` the
    counterfactual and conflict columns, ``red_flags``, ``error``."""
    ours = [name for name, *_ in probability_columns(model, intervals)]
    ours += [name for name, *_ in if_fixed_columns(model)] if if_fixed else []
    ours += list(OUTPUT_TAIL)
    clash = [c for c in input_columns if c in ours]
    if clash:
        raise UsageError(
            f"input column(s) {', '.join(clash)} already hold results; crampnet score writes "
            "them itself: score the original file, or rename or drop them"
        )
    return list(input_columns) + ours


@dataclass(frozen=True)
class ScoredFrame:
    """One scored chunk: the output ``frame`` and each row's error (``None`` when scored)."""

    frame: pd.DataFrame
    errors: np.ndarray
    flags: list[list[str]]  # flag ids per row (the same list object for the same flags)


def score_frame(
    model,
    frame: pd.DataFrame,
    nodes: list[str],
    *,
    intervals: bool = False,
    if_fixed: bool = False,
    draws: int = DRAWS,
    seed: int = 0,
) -> ScoredFrame:
    """Score one chunk of a case table (``nodes``: its columns that are answers).

    Bad rows keep their place: an unknown state or impossible answers fill ``error`` and
    leave the probability cells empty (NaN in the frame, empty in the file).
    """
    priors, engine = model.priors, model.engine
    n = len(frame)
    codes, errors = encode_frame(frame, nodes, priors)
    targets = list(dict.fromkeys(model.causes + flag_targets(priors)))
    marginals = {t: np.full((n, engine.card[t]), np.nan) for t in targets}
    good = np.flatnonzero(pd.isna(errors))
    if len(good) and not nodes:  # no answer columns: every row is the prior
        prior, _ = engine.run(targets, {}, batch=1)
        for t in targets:
            marginals[t][good] = prior[t][0]
    elif len(good):
        for chunk in score_array(engine, nodes, codes[good], targets, chunk_size=len(good)):
            rows = good[chunk.start : chunk.start + len(chunk.possible)]
            for t in targets:
                marginals[t][rows] = chunk.marginals[t]
            for r in rows[~chunk.possible]:
                conflict = engine.conflict(_evidence(model, nodes, codes[r]))
                errors[r] = str(ImpossibleEvidenceError(conflict))
    scored = pd.isna(errors)
    for t in targets:  # an error row shows no numbers at all
        marginals[t][~scored] = np.nan
    masks = flag_masks(priors, {c: codes[:, j] for j, c in enumerate(nodes)}, marginals, n)
    flags = _flag_lists(list(masks), [masks[f] & scored for f in masks], n)
    columns: dict[str, object] = {c: frame[c] for c in frame.columns}  # kept as read
    if intervals:
        bounds = _interval_bounds(model, nodes, codes, scored, draws, seed)
    for name, cause, state, kind in probability_columns(model, intervals):
        if kind == "p":
            columns[name] = marginals[cause][:, priors.nodes[cause].states.index(state)]
        else:
            columns[name] = bounds[(cause, state, kind)]
    if if_fixed:
        columns.update(_if_fixed_columns(model, nodes, codes, scored))
    columns["red_flags"] = flags
    columns["error"] = errors
    out = pd.DataFrame(columns, index=frame.index)
    return ScoredFrame(out, errors, flags)


def _if_fixed_columns(model, nodes: list[str], codes: np.ndarray, scored: np.ndarray) -> dict:
    """The ``--if-fixed`` columns (NaN or empty for unscored rows): each distinct set of
    answers once, every twin network queried once for all of them."""
    n = len(codes)
    spec = if_fixed_columns(model)
    out: dict[str, object] = {
        name: np.full(n, np.nan) for name, *_ in spec if name != "conflict_answers"
    }
    said = np.full(n, "", dtype=object)
    rows = np.flatnonzero(scored)
    keys: dict[bytes, int] = {}
    first = [keys.setdefault(codes[r].tobytes(), len(keys)) for r in rows]
    distinct = {k: r for r, k in zip(rows, first, strict=True)}  # a row for each key
    cases = [(_evidence(model, nodes, codes[distinct[k]]), {}) for k in range(len(keys))]
    measured = model.counterfactuals.if_fixed_many(cases) if cases else []
    conflicts = [measure_conflict(model.engine, evidence) for evidence, _ in cases]
    for r, k in zip(rows, first, strict=True):
        for name, cause, state, measure in spec:
            if cause:
                out[name][r] = getattr(measured[k][(cause, state)], measure)
        any_state = next(iter(measured[k].values()), None)
        out["features"][r] = any_state.features if any_state else 0.0
        out["conflict"][r] = conflicts[k].value
        evidence = cases[k][0]
        said[r] = "; ".join(f"{v}={evidence[v]}" for v in conflicts[k].answers)
    out["conflict_answers"] = said
    return out


def _evidence(model, nodes: list[str], row: np.ndarray) -> dict[str, str]:
    return {c: model.priors.nodes[c].states[k] for c, k in zip(nodes, row, strict=True) if k >= 0}


def _flag_lists(ids: list[str], masks: list[np.ndarray], n: int) -> list[list[str]]:
    """Raised flag ids per row, built once per distinct combination (rows share the list)."""
    if not ids:
        return [[] for _ in range(n)]
    keys = np.zeros(n, dtype=np.int64)
    for bit, mask in enumerate(masks):
        keys |= mask.astype(np.int64) << bit
    distinct, inverse = np.unique(keys, return_inverse=True)
    lists = [[f for bit, f in enumerate(ids) if int(key) >> bit & 1] for key in distinct]
    return [lists[k] for k in inverse.ravel()]


def _interval_bounds(
    model, nodes: list[str], codes: np.ndarray, scored: np.ndarray, draws: int, seed: int
) -> dict[tuple[str, str, str], np.ndarray]:
    """Per-row interval bounds (NaN for unscored rows), one batched pass over ``draws``
    parameter sets per distinct set of answers."""
    n = len(codes)
    out = {
        (c, s, side): np.full(n, np.nan)
        for c in model.causes
        for s in model.priors.nodes[c].states
        for side in ("low", "high")
    }
    seen: dict[bytes, dict] = {}
    for r in np.flatnonzero(scored):
        key = codes[r].tobytes()
        if key not in seen:
            seen[key] = posterior_intervals(
                model.drawn(draws, seed),
                model.causes,
                _evidence(model, nodes, codes[r]),
                level=LEVEL,
            )
        for c, states in seen[key].items():
            for s, bound in states.items():
                out[(c, s, "low")][r] = bound["low"]
                out[(c, s, "high")][r] = bound["high"]
    return out


# --- writers -----------------------------------------------------------------------------------


# --- the file ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreSummary:
    """What a run did: rows read, rows that failed (each reported as it was met)."""

    rows: int
    failed: int
    output: Path


def _count_rows(path: Path, fmt: str) -> int | None:
    """Rows in the input, for the progress bar (a fast count of line ends; Parquet: metadata)."""
    if fmt == "parquet":
        return pq.ParquetFile(path).metadata.num_rows
    lines = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
    return max(lines - (1 if fmt == "csv" else 0), 0)


def score_file(
    source: str | Path,
    output: str | Path,
    model,
    *,
    input_format: str | None = None,
    output_format: str | None = None,
    ignore_columns: bool = False,
    intervals: bool = False,
    if_fixed: bool = False,
    draws: int = DRAWS,
    chunk_rows: int = CHUNK_ROWS,
    progress: bool = False,
    on_error: Callable[[str], None] | None = None,
    keep_formulas: bool = False,
) -> ScoreSummary:
    """Score every row of ``source`` into ``output``, in order; return what happened.

    Each bad row is passed to ``on_error`` as ``INPUT:row N (line L): message`` as soon as it
    is met. Unknown columns raise a :class:`UsageError` before anything is written. The output
    is written under a temporary name and renamed at the end: a run that stops half-way
    leaves no half-written file behind.
    """
    source, output = Path(source), Path(output)
    in_fmt, out_fmt = _check_request(source, output, input_format, output_format, draws)
    slow = intervals or if_fixed
    rows_at_once = min(chunk_rows, INTERVAL_CHUNK_ROWS) if slow else chunk_rows
    frames = read_frames(source, fmt=in_fmt, chunk_rows=rows_at_once)
    first = next(frames)
    nodes, _ = split_columns(
        list(first.columns), model.priors, path=source, ignore_columns=ignore_columns
    )
    scored = partial(
        score_frame, model, nodes=nodes, intervals=intervals, if_fixed=if_fixed, draws=draws
    )
    report = on_error or (lambda message: None)
    staging = partial_file(output)  # removed in the finally below, whatever happens
    # one thread reads the next chunk and writes the last while this one is scored
    io = ThreadPoolExecutor(1)
    writer = None
    try:
        writer = WRITERS[out_fmt](
            staging,
            output_columns(model, list(first.columns), intervals, if_fixed),
            list(first.columns),
            keep_formulas=keep_formulas,
            metadata={"notice": model.priors.meta.notice, "model": json.dumps(model.identity)},
        )
        with _progress_bar(source, in_fmt, progress) as bar:
            rows, failed = _score_chunks(
                io,
                _chain(first, frames),
                scored,
                writer,
                lambda n, message: report(f"{where(source, in_fmt, n)}: {message}"),
                bar.update,
            )
        writer.close()
        finish(staging, output)
    finally:
        io.shutdown(wait=True, cancel_futures=True)
        if writer is not None:
            writer.close()
        if staging.exists():
            staging.unlink()
    return ScoreSummary(rows=rows, failed=failed, output=output)


def _progress_bar(source: Path, fmt: str, shown: bool) -> tqdm:
    """Rows scored of the rows in ``source``, on stderr (after half a second) when ``shown``."""
    total = _count_rows(source, fmt) if shown else None
    return tqdm(total=total, unit=" rows", disable=not shown, file=sys.stderr, delay=0.5)


def _check_request(
    source: Path, output: Path, input_format: str | None, output_format: str | None, draws: int
) -> tuple[str, str]:
    """The input and output formats; a :class:`UsageError` for a request that cannot run."""
    formats = file_format(source, input_format), file_format(output, output_format)
    if output.resolve() == source.resolve():
        raise UsageError(f"{output}: the output would overwrite the input; choose another name")
    if draws < 2:
        raise UsageError(f"--draws must be at least 2, got {draws}")
    return formats


def _score_chunks(
    io: ThreadPoolExecutor,
    frames: Iterator[pd.DataFrame],
    scored: Callable[[pd.DataFrame], ScoredFrame],
    writer,
    failed_row: Callable[[int, str], None],
    advance: Callable[[int], object],
) -> tuple[int, int]:
    """Score each chunk while ``io`` reads the next and writes the last, in order; each failed
    row goes to ``failed_row`` as it is met. Returns the rows read and the rows that failed."""
    rows = failed = 0
    written = None
    for frame in _ahead(io, frames):
        result = scored(frame)
        if written is not None:
            written.result()  # in order, and a writer's error surfaces here
        written = io.submit(writer.write, result.frame)
        for number in frame.index[~pd.isna(result.errors)]:
            failed += 1
            failed_row(int(number), result.errors[number - frame.index[0]])
        rows += len(frame)
        advance(len(frame))
    if written is not None:
        written.result()
    return rows, failed


def _chain(first: pd.DataFrame, rest: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    yield first
    yield from rest


def _ahead(io: ThreadPoolExecutor, frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """``frames``, each read on ``io`` while the one before it is being scored."""
    pending = io.submit(next, frames, None)
    while (frame := pending.result()) is not None:
        pending = io.submit(next, frames, None)
        yield frame

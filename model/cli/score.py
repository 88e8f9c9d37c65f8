"""``crampnet score``: posteriors for a file of cases, one output row per input row.

Input and output are CSV, JSON Lines or Parquet (chosen by suffix, or ``--input-format`` /
``--output-format``). The file is streamed in chunks (:data:`model.readwrite.casefile.CHUNK_ROWS`
rows), so memory stays flat however long it is; each chunk is mapped to state codes with
categoricals, scored in one batched pass (:func:`model.inference.scoring.score_array`), its red
flags computed over whole arrays (:func:`model.diagnosis.red_flags.flag_masks`), and written.

Output columns, in order: the input columns as read (as text), then ``p_<cause>_<state>``
for every state of every cause (e.g. ``p_calcium_low``, ``p_poor_circulation_yes``), with
``--intervals`` each followed by ``p_<cause>_<state>_lower`` and ``_upper`` (the central 90%
interval over parameter sets drawn from the priors' confidence), then ``red_flags`` (raised
flag ids: joined by ``;`` in CSV, a list in JSON Lines and Parquet) and ``error``.

Nothing is lost: a row with an unknown state, or answers that cannot all be true under the
model, keeps its place with ``error`` filled in and its posterior cells left empty (never NaN
shown as a result); the other rows are scored. The numbers are what one practitioner's web
page says about these answers, not a diagnosis.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from model.diagnosis.red_flags import flag_masks, flag_targets
from model.errors import ImpossibleEvidenceError, UsageError
from model.inference.scoring import score_array
from model.inference.uncertainty import LEVEL, posterior_intervals
from model.knowledge.draws import DRAWS
from model.readwrite.casefile import (
    CHUNK_ROWS,
    FORMATS,
    encode_frame,
    file_format,
    read_frames,
    split_columns,
    where,
)
from model.readwrite.outputs import finish, partial_file

EXIT_SOME_FAILED = 3
INTERVAL_CHUNK_ROWS = 256  # with --intervals a row takes milliseconds: smaller steps of progress
OUTPUT_TAIL = ("red_flags", "error")


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


def output_columns(model, input_columns: list[str], intervals: bool = False) -> list[str]:
    """Every output column in order: input, probabilities, ``red_flags``, ``error``."""
    ours = [name for name, *_ in probability_columns(model, intervals)] + list(OUTPUT_TAIL)
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
    columns["red_flags"] = flags
    columns["error"] = errors
    out = pd.DataFrame(columns, index=frame.index)
    return ScoredFrame(out, errors, flags)


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


class _Writer:
    """Writes scored chunks of one fixed set of columns to a file opened by :meth:`open`."""

    keep_formulas = False  # CSV: text cells that start like a formula are kept as they are

    def __init__(self, path: Path, columns: list[str], text_columns: list[str]):
        self.path, self.columns, self.text_columns = path, columns, text_columns

    def write(self, frame: pd.DataFrame) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        pass


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs such a cell


def defuse_formulas(values: pd.Series) -> pd.Series:
    """Text cells a spreadsheet would run as a formula (``=HYPERLINK(...)``, ``+1+1``,
    ``@SUM``), with a leading apostrophe so they show as text; other cells as they are."""

    def defuse(cell: object) -> object:
        return f"'{cell}" if isinstance(cell, str) and cell.startswith(FORMULA_START) else cell

    if isinstance(values.dtype, pd.CategoricalDtype):  # each distinct value once
        categories = list(values.cat.categories)
        fixed = [defuse(c) for c in categories]
        return values.cat.rename_categories(fixed) if fixed != categories else values
    return values.map(defuse) if values.dtype == object else values


class _CsvWriter(_Writer):
    def __init__(self, path: Path, columns: list[str], text_columns: list[str]):
        super().__init__(path, columns, text_columns)
        self.handle = path.open("w", encoding="utf-8", newline="")
        pd.DataFrame(columns=columns).to_csv(self.handle, index=False)

    def write(self, frame: pd.DataFrame) -> None:
        frame = frame.assign(red_flags=[";".join(f) for f in frame["red_flags"]])
        if not self.keep_formulas:
            text = [*self.text_columns, "error"]
            frame = frame.assign(**{c: defuse_formulas(frame[c]) for c in text if c in frame})
        frame.to_csv(self.handle, index=False, header=False)

    def close(self) -> None:
        self.handle.close()


class _JsonlWriter(_Writer):
    def __init__(self, path: Path, columns: list[str], text_columns: list[str]):
        super().__init__(path, columns, text_columns)
        self.handle = path.open("w", encoding="utf-8")

    def write(self, frame: pd.DataFrame) -> None:
        if not len(frame):
            return
        text = frame.to_json(orient="records", lines=True, force_ascii=False, double_precision=15)
        self.handle.write(text if text.endswith("\n") else text + "\n")

    def close(self) -> None:
        self.handle.close()


class _ParquetWriter(_Writer):
    def __init__(self, path: Path, columns: list[str], text_columns: list[str]):
        super().__init__(path, columns, text_columns)
        kinds = {"red_flags": pa.list_(pa.string()), "error": pa.string()}
        self.schema = pa.schema(
            [(c, pa.string() if c in text_columns else kinds.get(c, pa.float64())) for c in columns]
        )
        # dictionary-encode the text only: trying it on a million distinct probabilities
        # costs four times the rest of the writing and saves nothing
        text = [c for c in columns if self.schema.field(c).type == pa.string()]
        self.writer = pq.ParquetWriter(path, self.schema, use_dictionary=text)

    def write(self, frame: pd.DataFrame) -> None:
        arrays = []
        for field in self.schema:
            values = frame[field.name]
            if field.name == "red_flags":
                arrays.append(pa.array(values.tolist(), type=field.type))
            elif field.type == pa.string():
                arrays.append(pa.Array.from_pandas(values).cast(pa.string()))
            else:
                arrays.append(pa.Array.from_pandas(values, type=field.type))
        self.writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))

    def close(self) -> None:
        self.writer.close()


WRITERS = {"csv": _CsvWriter, "jsonl": _JsonlWriter, "parquet": _ParquetWriter}


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
    in_fmt = file_format(source, input_format)
    out_fmt = file_format(output, output_format)
    if output.resolve() == source.resolve():
        raise UsageError(f"{output}: the output would overwrite the input; choose another name")
    if draws < 2:
        raise UsageError(f"--draws must be at least 2, got {draws}")
    if intervals:
        chunk_rows = min(chunk_rows, INTERVAL_CHUNK_ROWS)
    frames = read_frames(source, fmt=in_fmt, chunk_rows=chunk_rows)
    first = next(frames)
    nodes, _ = split_columns(
        list(first.columns), model.priors, path=source, ignore_columns=ignore_columns
    )
    columns = output_columns(model, list(first.columns), intervals)
    total = _count_rows(source, in_fmt) if progress else None
    partial = partial_file(output)  # removed in the finally below, whatever happens
    rows = failed = 0
    writer = None
    # one thread reads the next chunk and writes the last while this one is scored
    io = ThreadPoolExecutor(1)
    try:
        writer = WRITERS[out_fmt](partial, columns, list(first.columns))
        writer.keep_formulas = keep_formulas
        with tqdm(
            total=total, unit=" rows", disable=not progress, file=sys.stderr, delay=0.5
        ) as bar:
            written = None
            for frame in _ahead(io, _chain(first, frames)):
                scored = score_frame(model, frame, nodes, intervals=intervals, draws=draws)
                if written is not None:
                    written.result()  # in order, and a writer's error surfaces here
                written = io.submit(writer.write, scored.frame)
                for number in frame.index[~pd.isna(scored.errors)]:
                    failed += 1
                    if on_error is not None:
                        message = scored.errors[number - frame.index[0]]
                        on_error(f"{where(source, in_fmt, int(number))}: {message}")
                rows += len(frame)
                bar.update(len(frame))
            if written is not None:
                written.result()
        writer.close()
        writer = None
        finish(partial, output)
    finally:
        io.shutdown(wait=True, cancel_futures=True)
        if writer is not None:
            writer.close()
        if partial.exists():
            partial.unlink()
    return ScoreSummary(rows=rows, failed=failed, output=output)


def _chain(first: pd.DataFrame, rest: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    yield first
    yield from rest


def _ahead(io: ThreadPoolExecutor, frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """``frames``, each read on ``io`` while the one before it is being scored."""
    pending = io.submit(next, frames, None)
    while (frame := pending.result()) is not None:
        pending = io.submit(next, frames, None)
        yield frame


# --- the command -------------------------------------------------------------------------------

HELP = "score a file of cases (CSV, JSON Lines or Parquet), one output row per input row"
DESCRIPTION = (
    "Score a file of cases (CSV, JSON Lines or Parquet): one output row per input row, in "
    "order, with each cause state's posterior, red flags and an error column. Exit status: "
    "0 when every row was scored, 3 when some rows failed (each listed on stderr as "
    "INPUT:row N (line L): message, and kept in place in the output with its error), 2 on a "
    "usage error (e.g. unknown columns, named with the closest ids). Output columns: the "
    "input columns, p_<cause>_<state> for every cause state (with --intervals also "
    "p_<cause>_<state>_lower and _upper), red_flags and error. Not a diagnosis."
)


def _report(message: str) -> None:
    tqdm.write(message, file=sys.stderr)


def _score(args: argparse.Namespace, model) -> int:
    summary = score_file(
        args.input,
        args.output,
        model,
        input_format=args.input_format,
        output_format=args.output_format,
        ignore_columns=args.ignore_columns,
        intervals=args.intervals,
        draws=args.draws,
        progress=not args.no_progress and sys.stderr.isatty(),
        on_error=_report,
        keep_formulas=args.keep_formulas,
    )
    scored = summary.rows - summary.failed
    print(
        f"crampnet: scored {scored} of {summary.rows} row(s)"
        + (f", {summary.failed} failed (listed above)" if summary.failed else "")
        + f"; wrote {summary.output}",
        file=sys.stderr,
    )
    return EXIT_SOME_FAILED if summary.failed else 0


def add_command(command) -> None:
    """Register ``crampnet score`` through ``cli.build_parser``'s ``command`` helper."""
    sub = command("score", _score, HELP)
    sub.description = textwrap.fill(DESCRIPTION, 88)
    sub.add_argument("input", metavar="INPUT", help="cases: .csv, .jsonl/.ndjson or .parquet")
    sub.add_argument("-o", "--output", required=True, metavar="OUTPUT", help="scored file")
    sub.add_argument("--input-format", choices=FORMATS, help="when INPUT's suffix does not say")
    sub.add_argument("--output-format", choices=FORMATS, help="when OUTPUT's suffix does not say")
    sub.add_argument(
        "--ignore-columns",
        action="store_true",
        help="keep columns that are not node ids in the output without using them",
    )
    sub.add_argument(
        "--intervals",
        action="store_true",
        help=f"add the central {LEVEL * 100:.0f}%% interval of each posterior over parameter draws "
        "(slow: one batched pass of --draws parameter sets per distinct row)",
    )
    sub.add_argument(
        "--draws", type=int, default=DRAWS, metavar="K", help=f"draws for --intervals ({DRAWS})"
    )
    sub.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    sub.add_argument(
        "--keep-formulas",
        action="store_true",
        help="CSV output: keep text cells starting with = + - @ as they are (by default they "
        "get a leading apostrophe, so a spreadsheet shows them instead of running them)",
    )

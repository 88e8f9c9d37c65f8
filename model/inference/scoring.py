"""Batch scoring: posteriors for many cases, streamed in chunks so memory stays flat.

The core works on an integer array of answers (one column per variable, ``-1`` where a case
leaves it unanswered): each chunk becomes one likelihood array per column and one batched
pass of the engine. :func:`score_cases` wraps it for case dictionaries: it checks each case,
reports a bad one in place (its error, never NaN) and scores the good ones.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from model.errors import EvidenceError, ImpossibleEvidenceError, NetworkTooLargeError
from model.inference.engine import LOOP_SAMPLE, Engine, one_blas_thread
from model.inference.evidence import Posteriors, check_codes, check_evidence, check_variables

CHUNK = 32768
HEAVY_CAUSES = 6  # a question whose answer couples this many causes is heavy
POOL = 1024  # rows per batch (rows answering the same heavy columns)
POOL_MIN = 256  # ... and never fewer than this
POOL_THREADED = 4096  # with several threads: bigger batches hold the GIL for less of the time


@dataclass(frozen=True)
class ScoredChunk:
    """Posteriors of one chunk: ``marginals[var]`` is ``(rows, n_states)``; ``possible`` marks
    rows whose answers have non-zero probability (the others hold NaN)."""

    start: int
    marginals: dict[str, np.ndarray]
    possible: np.ndarray


@dataclass(frozen=True)
class CaseResult:
    """One scored case: its posterior, or why it could not be scored (never both)."""

    posterior: Posteriors | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        return {"posterior": self.posterior} if self.error is None else {"error": self.error}


def score_array(
    engine: Engine,
    columns: list[str],
    codes: np.ndarray,
    targets: list[str],
    *,
    chunk_size: int = CHUNK,
    jobs: int | None = None,
) -> Iterator[ScoredChunk]:
    """Posteriors of ``targets`` for each row of ``codes``, by chunk.

    ``codes[r, j]`` is the index of row ``r``'s state of ``columns[j]``, or ``-1`` for
    unanswered; any other value raises an :class:`EvidenceError` naming the column, the row
    and the valid range, before anything is scored.
    """
    columns = check_variables(engine.states, columns)
    targets = check_variables(engine.states, targets)
    codes = check_codes(engine.states, columns, codes)
    # answers to questions with many parents couple many causes (a big clique): rows that
    # share which of those they answer are pooled together, so most batches avoid them
    coupled = np.array([len(engine.ancestors(c) & set(targets)) for c in columns], dtype=int)
    heavy = coupled >= HEAVY_CAUSES
    jobs = jobs or default_jobs()

    def score_rows(rows: np.ndarray, chunk: np.ndarray, marginals: dict, log_z: np.ndarray):
        try:
            got, log_z[rows] = engine.run_codes(targets, columns, chunk[rows])
        except NetworkTooLargeError:  # this group's tree is refused: lazily, row by row
            lazy = engine.lazy()
            if lazy is None:
                raise
            got, log_z[rows] = lazy.rows(targets, columns, chunk[rows])
        for t in targets:
            marginals[t][rows] = got[t]

    # rows one at a time where that wins (lazily on a big network, else the compiled loop),
    # on one thread where the tree's work holds the GIL (and lazy rows share messages)
    one_by_one = engine.row_by_row(targets, columns, _distinct(codes[:LOOP_SAMPLE])[0])
    if one_by_one is not None and not one_by_one.RELEASES_GIL:
        jobs = 1

    def each_row(rows: np.ndarray, chunk: np.ndarray, marginals: dict, log_z: np.ndarray):
        got, log_z[rows] = one_by_one.rows(targets, columns, chunk[rows])
        for t in targets:
            marginals[t][rows] = got[t]

    with ThreadPoolExecutor(jobs) if jobs > 1 else nullcontext() as pool:
        for start in range(0, len(codes), chunk_size):
            # each distinct row once: a file often repeats its answers
            chunk, inverse = _distinct(codes[start : start + chunk_size])
            marginals = {t: np.empty((len(chunk), engine.card[t])) for t in targets}
            log_z = np.empty(len(chunk))
            # groups hold disjoint rows: the threads write to disjoint parts of the arrays
            if one_by_one is not None:  # the rows split between the threads, in order
                groups = np.array_split(np.arange(len(chunk)), min(jobs, len(chunk)))
                work = each_row
            else:
                groups = _groups(chunk, heavy, _pool(len(chunk), jobs))
                work = score_rows
            n = len(groups)
            run = pool.map if pool else map
            # the BLAS limit covers the chunk's work only, never the caller's time between
            # chunks: a generator left unfinished holds no process-wide setting
            with one_blas_thread():
                for _ in run(work, groups, [chunk] * n, [marginals] * n, [log_z] * n):
                    pass  # re-raises a worker's exception here
            marginals = {t: m[inverse] for t, m in marginals.items()}
            yield ScoredChunk(start, marginals, np.isfinite(log_z[inverse]))


def _distinct(chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows of ``chunk`` and, for each row, the index of its copy among them."""
    _, inverse, first = _unique_rows(chunk)
    return chunk[first], inverse


def default_jobs() -> int:
    """Threads for batch scoring: the cores this process may use (the batch loop releases
    the GIL, so the groups of a chunk run side by side)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def _unique_rows(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows of a boolean or integer matrix (as keys), each row's index among them,
    and where each distinct row first occurs: rows viewed as bytes (booleans packed into
    bits) and compared as one value each (``np.unique(axis=0)`` is far slower)."""
    rows = np.packbits(matrix, axis=1) if matrix.dtype == bool else matrix
    rows = np.ascontiguousarray(rows)
    width = rows.itemsize * rows.shape[1]
    if width == 0:
        keys = np.zeros(len(matrix), dtype=np.int8)
    else:
        keys = rows.view(np.dtype((np.void, width))).ravel()
    unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return unique, inverse.ravel(), first


def _pool(rows: int, jobs: int) -> int:
    """Rows per batch: :data:`POOL` on one thread; on several, up to :data:`POOL_THREADED`
    (bigger batches hold the GIL for less of the time) but at least four batches a thread,
    so that the threads finish together."""
    if jobs == 1:
        return POOL
    return max(POOL_MIN, min(POOL_THREADED, -(-rows // (4 * jobs))))


def _groups(chunk: np.ndarray, heavy: np.ndarray, pool: int = POOL) -> list[np.ndarray]:
    """Row indices grouped by which heavy columns they answer, in batches of at most
    ``pool`` rows; each batch runs on the tree pruned to the union of its rows' answers.

    An answer to a heavy column couples many targets (on our network ``leg_cramp_side``,
    under both calves' eight causes), so rows that leave the heavy columns unanswered run
    on a tree without the biggest cliques. Rows are not split further: the batch loop
    costs about the same per row on a pattern's own tree as on the union of a few dozen
    patterns, and every further group costs its own compile and call (measured on our
    network's 20,000 distinct sets, two threads: 104,000 rows/s when the patterns held by
    16 rows or more had groups of their own and rows were split by their heavy answers,
    140,000 without; child's batch of the benchmark 171,000 against 1,130,000)."""
    answered = chunk >= 0
    kinds, which, _ = _unique_rows(answered[:, heavy])
    groups = [np.flatnonzero(which == k) for k in range(len(kinds))]
    return [g[k : k + pool] for g in groups for k in range(0, len(g), pool)]


def score_cases(
    engine: Engine,
    cases: Iterable[tuple[Mapping[str, object], Mapping[str, Mapping[str, object]] | None]],
    targets: list[str],
    *,
    chunk_size: int = CHUNK,
) -> Iterator[CaseResult]:
    """One result per case, in order: its posterior, or the one-line error that stopped it.

    A case is ``(evidence, soft_evidence)``. Unknown variables or states and impossible
    answers become that case's error; the other cases are scored.
    """
    pending: list[tuple[dict, dict] | str] = []

    def flush() -> Iterator[dict]:
        good = [p for p in pending if not isinstance(p, str)]
        rows = [{**hard, **soft} for hard, soft in good]
        marginals, log_z = engine.query(targets, rows) if rows else ({}, np.array([]))
        k = 0
        for item in pending:
            if isinstance(item, str):
                yield CaseResult(error=item)
                continue
            if not np.isfinite(log_z[k]):
                yield CaseResult(error=str(ImpossibleEvidenceError(engine.conflict(rows[k]))))
            else:
                yield CaseResult(
                    posterior={
                        v: dict(zip(engine.states[v], map(float, marginals[v][k]), strict=True))
                        for v in targets
                    }
                )
            k += 1
        pending.clear()

    for evidence, soft in cases:
        try:
            pending.append(check_evidence(engine.states, evidence, soft))
        except EvidenceError as exc:
            pending.append(str(exc))
        if len(pending) >= chunk_size:
            yield from flush()
    yield from flush()

"""Batch scoring: posteriors for many cases, streamed in chunks so memory stays flat.

The core works on an integer array of answers (one column per variable, ``-1`` where a case
leaves it unanswered): each chunk becomes one likelihood array per column and one batched
pass of the engine. :func:`score_cases` wraps it for case dictionaries: it checks each case,
reports a bad one in place (its error, never NaN) and scores the good ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from model.engine import Engine
from model.errors import EvidenceError, ImpossibleEvidenceError
from model.evidence import check_evidence

CHUNK = 4096


@dataclass(frozen=True)
class ScoredChunk:
    """Posteriors of one chunk: ``marginals[var]`` is ``(rows, n_states)``; ``possible`` marks
    rows whose answers have non-zero probability (the others hold NaN)."""

    start: int
    marginals: dict[str, np.ndarray]
    possible: np.ndarray


def encode(engine: Engine, columns: list[str], rows: Iterable[Mapping[str, str]]) -> np.ndarray:
    """Cases as state indices, ``-1`` for unanswered (states must already be valid)."""
    index = {c: {s: k for k, s in enumerate(engine.states[c])} for c in columns}
    return np.array(
        [[index[c][row[c]] if c in row else -1 for c in columns] for row in rows], dtype=np.int16
    ).reshape(-1, len(columns))


def score_array(
    engine: Engine,
    columns: list[str],
    codes: np.ndarray,
    targets: list[str] | None = None,
    *,
    chunk_size: int = CHUNK,
) -> Iterator[ScoredChunk]:
    """Posteriors of ``targets`` (the causes by default) for each row of ``codes``, by chunk."""
    targets = targets or engine.priors.ids("cause")
    lookups = {  # row k of a lookup is state k's one-hot; the last row (index -1) is all ones
        c: np.vstack([np.eye(engine.card[c]), np.ones(engine.card[c])]) for c in columns
    }
    for start in range(0, len(codes), chunk_size):
        chunk = codes[start : start + chunk_size]
        likelihoods = {
            c: lookups[c][chunk[:, j]] for j, c in enumerate(columns) if (chunk[:, j] >= 0).any()
        }
        marginals, log_z = engine.run(targets, likelihoods, batch=len(chunk))
        yield ScoredChunk(start, marginals, np.isfinite(log_z))


def score_cases(
    engine: Engine,
    cases: Iterable[tuple[Mapping[str, object], Mapping[str, Mapping[str, object]] | None]],
    targets: list[str] | None = None,
    *,
    chunk_size: int = CHUNK,
) -> Iterator[dict]:
    """One result per case, in order: ``{"posterior": {...}}`` or ``{"error": "..."}``.

    A case is ``(evidence, soft_evidence)``. Unknown variables or states and impossible
    answers become that case's error; the other cases are scored.
    """
    targets = targets or engine.priors.ids("cause")
    pending: list[tuple[dict, dict] | str] = []

    def flush() -> Iterator[dict]:
        good = [p for p in pending if not isinstance(p, str)]
        rows = [{**hard, **soft} for hard, soft in good]
        marginals, log_z = engine.query(targets, rows) if rows else ({}, np.array([]))
        k = 0
        for item in pending:
            if isinstance(item, str):
                yield {"error": item}
                continue
            if not np.isfinite(log_z[k]):
                yield {"error": str(ImpossibleEvidenceError(engine.conflict(rows[k])))}
            else:
                yield {
                    "posterior": {
                        v: dict(zip(engine.states[v], map(float, marginals[v][k]), strict=True))
                        for v in targets
                    }
                }
            k += 1
        pending.clear()

    for evidence, soft in cases:
        try:
            pending.append(check_evidence(engine.priors, evidence, soft))
        except EvidenceError as exc:
            pending.append(str(exc))
        if len(pending) >= chunk_size:
            yield from flush()
    yield from flush()

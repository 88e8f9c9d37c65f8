"""Write a learned priors set: the same files and shapes as ``priors/``, new numbers in place.

Every file of the source set is copied (the manifest, the claims, the red flags, every node
file); each learned number replaces the stated one, keeps its ``claims``, ``elicited`` note
and gains ``learned: "<file> (<N> cases)"`` beside it, with its ``confidence`` grown by the
expected number of cases it applied to (see :mod:`model.analysis.learning`). The manifest's version
and description say that the set is learned and from what. The result loads with
:func:`model.knowledge.priors.load_priors` and so works with every command through ``--priors DIR``.
YAML is read with ``safe_load`` and written with ``safe_dump`` (comments of the node files are
not kept; "yes"/"no" stay quoted, as YAML 1.1 would read them as booleans).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import yaml

from model.errors import UsageError
from model.knowledge.params import Key, Value, learnable
from model.knowledge.priors import MANIFEST, Priors
from model.knowledge.schema import Param, Row

DIGITS = 8  # decimals kept of a learned probability (rows still sum to 1 within 1e-6)
CONFIDENCE_DIGITS = 3


def learned_note(source_file: str | os.PathLike, n_cases: int) -> str:
    """The provenance written beside each learned number: ``"<file name> (<N> cases)"``."""
    return f"{Path(source_file).name} ({n_cases} cases)"


def write_priors(
    priors: Priors,
    learned_values: Mapping[Key, Value],
    out_dir: str | os.PathLike,
    source_file: str | os.PathLike,
    n_cases: int,
    *,
    applied: Mapping[Key, float] | None = None,
) -> Path:
    """Write ``priors`` with ``learned_values`` (keys of :func:`model.knowledge.params.learnable`)
    to ``out_dir``; returns the directory. ``applied`` (expected cases per number) grows each
    confidence; a number that applied to no case keeps its stated value and provenance."""
    out = Path(out_dir)
    if out.resolve() == Path(priors.directory).resolve():
        raise UsageError(f"{out}: is the source priors directory; write the learned set elsewhere")
    note = learned_note(source_file, n_cases)
    items = learnable(priors)
    unknown = sorted(map(str, set(learned_values) - set(items)))
    if unknown:
        raise ValueError(f"learned values for numbers the priors do not have: {unknown[:3]}")
    by_file = _read_node_files(priors)
    for key, value in learned_values.items():
        count = float(applied[key]) if applied is not None else None
        if count is not None and count <= 0.0:
            continue
        _set_learned(_entry(by_file, priors, key), items[key], value, note=note, count=count)
    header = _header(priors, note)
    _write_set(out, priors, by_file, _learned_manifest(priors, note), header)
    return out


def _read_node_files(priors: Priors) -> dict[str, dict]:
    """Each node file of the source set as plain YAML data, to be edited in place."""
    by_file: dict[str, dict] = {}
    for name in priors.meta.node_files:
        with open(Path(priors.directory) / name, encoding="utf-8") as handle:
            by_file[name] = yaml.safe_load(handle)
    return by_file


def _entry(by_file: Mapping[str, dict], priors: Priors, key: Key) -> dict:
    """The YAML mapping that holds the number at ``key`` (a node id, then its path in the cpd)."""
    node_id, *path = key
    entry = by_file[priors.files[node_id]]["nodes"][node_id]["cpd"]
    for step in path:
        entry = entry[step]
    return entry


def _set_learned(
    entry: dict, item: Param | Row, value: Value, *, note: str, count: float | None
) -> None:
    """Put a learned number and its provenance in ``entry``; ``count`` cases grow its confidence."""
    if "probs" in entry:
        entry["probs"] = {
            s: round(float(v), DIGITS)
            for s, v in zip(item.probs, np.atleast_1d(value), strict=True)
        }
    else:
        entry["p"] = round(float(value), DIGITS)
    entry["learned"] = note
    if count is not None and math.isfinite(item.confidence):
        entry["confidence"] = round(item.confidence + count, CONFIDENCE_DIGITS)


def _header(priors: Priors, note: str) -> str:
    """The comment atop every written YAML file: learned from what, and not to be hand-edited."""
    return (
        f"# Learned by expectation-maximisation from {note},\n# starting from the priors "
        f"{priors.meta.name} {priors.meta.version} (sha256 {priors.sha256[:16]}...).\n"
        "# Generated: edit the source priors and learn again rather than editing this file.\n"
    )


def _learned_manifest(priors: Priors, note: str) -> dict:
    """The source manifest with its version and description saying the set is learned."""
    manifest = priors.meta.model_dump()
    manifest["version"] = f"{priors.meta.version}+learned"
    manifest["description"] = (
        f"Learned by EM from {note}, starting from {priors.meta.name} {priors.meta.version} "
        f"(sha256 {priors.sha256[:16]}). {priors.meta.description}"
    )
    return manifest


def _write_set(
    out: Path, priors: Priors, by_file: Mapping[str, dict], manifest: dict, header: str
) -> None:
    """Write the node files, copies of the claims and red flags, and the manifest into ``out``."""
    # every file is written to a temporary folder beside ``out`` first and moved in only when
    # all are written: an interrupted run (Ctrl-C, SIGTERM) leaves no half-written set
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    except OSError as exc:
        raise UsageError(f"{out}: cannot write the learned set: {exc.strerror or exc}") from None
    try:
        for name, data in by_file.items():
            (staging / name).write_text(header + _dump(data), encoding="utf-8")
        for name in (priors.meta.claims_file, priors.meta.red_flags_file):
            shutil.copyfile(Path(priors.directory) / name, staging / name)
        (staging / MANIFEST).write_text(header + _dump(manifest), encoding="utf-8")
        for written in staging.iterdir():
            os.replace(written, out / written.name)
    except OSError as exc:
        raise UsageError(f"{out}: cannot write the learned set: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _dump(data: object) -> str:
    """Block style for structure, flow style for lists and maps of plain values (as the
    hand-written priors do), lines kept under 100 characters where YAML can break them."""
    return yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True, width=96, default_flow_style=None
    )

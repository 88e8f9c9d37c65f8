"""``file_scoring``: ``crampnet score in.parquet -o out.parquet`` end to end, as a subprocess,
on 100,000 and 1,000,000 generated rows (:data:`FILE_COLUMNS`, each cell left empty with
probability :data:`FILE_EMPTY`): rows per second (start of the process to its exit, model
load included) and the child's peak RSS, to show memory stays flat as rows grow."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from bench.common import ROOT, SEED, Run
from model.analysis.sampling import sample_codes

# a questionnaire's columns: the cramp features people report and the habits they are asked
# about; each row skips some of them (FILE_EMPTY of its cells, at random), as real forms do
FILE_COLUMNS = [
    "leg_cramp_side",
    "nocturnal_cramps",
    "cramps_during_exercise",
    "cramps_after_exercise",
    "toe_cramps",
    "hand_arm_cramps",
    "back_spasms",
    "neck_spasms",
    "restless_legs",
    "calcium_trial",
    "magnesium_trial",
    "electrolyte_trial",
    "strenuous_exercise",
    "low_fluid_intake",
    "hot_humid_conditions",
    "prolonged_sitting",
    "blood_thinners",
    "female",
    "low_salt_intake",
    "calcium_supplements",
]
FILE_EMPTY = 0.3
FILE_WRITE_ROWS = 100_000  # rows sampled and written per step when generating the file
FILE_TARGET_ROWS_PER_S = 50_000


def write_case_file(model, path: Path, n: int, seed: int = SEED) -> None:
    """``n`` forward-sampled cases as Parquet (an ``id`` column and :data:`FILE_COLUMNS` as
    dictionary-encoded text, missing where skipped), written step by step."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    priors = model.priors
    rng = np.random.default_rng(seed + 7)
    fields = [("id", pa.string())] + [
        (c, pa.dictionary(pa.int16(), pa.string())) for c in FILE_COLUMNS
    ]
    schema = pa.schema(fields)
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, n, FILE_WRITE_ROWS):
            rows = min(FILE_WRITE_ROWS, n - start)
            sampled = sample_codes(priors, rows, seed + start)
            arrays = [pa.array([f"case-{start + k + 1:07d}" for k in range(rows)])]
            for c in FILE_COLUMNS:
                skipped = rng.random(rows) < FILE_EMPTY
                indices = pa.array(sampled[c], mask=skipped, type=pa.int16())
                states = pa.array(priors.nodes[c].states, type=pa.string())
                arrays.append(pa.DictionaryArray.from_arrays(indices, states))
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))


def run_score(source: Path, output: Path, flags: Sequence[str] = ()) -> dict:
    """One ``crampnet score`` (with ``flags``) in a child process: :func:`run_crampnet`."""
    return run_crampnet(["score", str(source), "-o", str(output), *flags, "--no-progress"])


def run_crampnet(argv: Sequence[str]) -> dict:
    """One ``crampnet ARGV`` in a child process: wall time, the child's peak RSS; an error if
    it fails.

    The peak is the child's own high-water mark (``VmHWM`` of ``/proc/PID/status``, read every
    20 ms until it exits): ``ru_maxrss`` from ``wait4`` would count the pages of this
    (large) benchmark process that the child shared between fork and exec."""
    command = [sys.executable, "-m", "model.cli", *argv]
    t = time.perf_counter()
    child = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    peak = [0.0]
    done = threading.Event()

    def watch() -> None:
        status = Path(f"/proc/{child.pid}/status")
        while not done.wait(0.02):
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak[0] = max(peak[0], int(line.split()[1]) / 1024)
            except (OSError, ValueError, IndexError):
                return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stderr = child.stderr.read()
    child.wait()
    done.set()
    watcher.join()
    seconds = time.perf_counter() - t
    if child.returncode != 0:
        raise RuntimeError(
            f"crampnet {' '.join(argv[:2])} exited {child.returncode}: {stderr.decode()[-500:]}"
        )
    return {"seconds": seconds, "peak_rss_mb": peak[0]}


def size_label(n: int) -> str:
    return f"{n // 1000}k" if n < 1_000_000 else f"{n // 1_000_000}m"


def one_size(model, folder: Path, n: int, repeats: int, log: Callable[[str], None]) -> dict:
    """``repeats`` runs of ``crampnet score`` on a generated file of ``n`` rows, by size label."""
    import pyarrow.parquet as pq

    source, target = folder / f"in-{n}.parquet", folder / f"out-{n}.parquet"
    log(f"file scoring: writing {n:,} generated rows to Parquet")
    write_case_file(model, source, n)
    runs = []
    for k in range(repeats):
        runs.append(run_score(source, target))
        log(
            f"file scoring: {n:,} rows, run {k + 1}/{repeats}: "
            f"{runs[-1]['seconds']:.1f} s, peak RSS {runs[-1]['peak_rss_mb']:.0f} MB"
        )
    assert pq.ParquetFile(target).metadata.num_rows == n
    source.unlink()
    seconds = statistics.median(r["seconds"] for r in runs)
    label = size_label(n)
    return {
        f"rows_per_s_{label}": n / seconds,
        f"seconds_{label}": seconds,
        f"peak_rss_mb_{label}": statistics.median(r["peak_rss_mb"] for r in runs),
        f"runs_{label}": runs,
    }


def section(run: Run) -> dict:
    sizes, repeats = run.settings.file_sizes, run.settings.file_repeats
    out: dict = {
        "columns": FILE_COLUMNS,
        "empty_cell_fraction": FILE_EMPTY,
        "repeats": repeats,
        "target_rows_per_s": FILE_TARGET_ROWS_PER_S,
    }
    with tempfile.TemporaryDirectory(prefix="crampnet-bench-") as tmp:
        for n in sizes:
            out.update(one_size(run.model, Path(tmp), n, repeats, run.log))
    if max(sizes) >= 1_000_000:
        out["met"] = out[f"rows_per_s_{size_label(max(sizes))}"] >= FILE_TARGET_ROWS_PER_S
    out["note"] = (
        "crampnet score in.parquet -o out.parquet --no-progress as a child process; seconds "
        "from launch to exit (imports and model load included); peak RSS: the child's VmHWM, "
        "polled. Rows: forward samples of the point tables, an id column and the 20 "
        f"questionnaire columns, each cell empty with probability {FILE_EMPTY}."
    )
    return {"file_scoring": out}

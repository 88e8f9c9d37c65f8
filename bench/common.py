"""What every section of the benchmark shares: its settings, the run (model, evidence sets,
memory by phase, progress lines) and the few helpers that time and summarise.

The evidence sets are ONE FIXED list sampled from the model itself (so none is impossible):
forward-sample full configurations from the point tables, then reveal 3 to 8 random context
questions or findings of each.
"""

from __future__ import annotations

import gc
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from model import CrampModel, load_model
from model.analysis.sampling import sample_codes
from model.knowledge.priors import Priors

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
SEED = 20261124
MIN_ANSWERS, MAX_ANSWERS = 3, 8  # revealed answers per set


@dataclass(frozen=True)
class Settings:
    """How much each section measures. :data:`QUICK` shrinks every count, to check that the
    sections run: its figures are not the benchmark's."""

    n_sets: int = 200  # evidence sets
    pgmpy_refresh_every: int = 10  # pgmpy refresh on sets 0, 10, 20, ... (20 of 200)
    pgmpy_draws: int = 20  # pgmpy interval draws actually run, scaled linearly to DRAWS
    repeat_refresh: int = 50  # crampnet refreshes timed again on the first sets
    repeat_rows: int = 20_000  # the large batches: distinct sampled sets, and a fixed-column file
    batch_repeats: int = 5  # timed repeats of crampnet's small batch (median kept)
    large_repeats: int = 3  # timed repeats of the large batches and of pyAgrum's (median kept)
    app_reruns: int = 20
    browser_loads: int = 3
    browser_rounds: int = 2  # turns of the bare page and the explorer (bench/browser.py)
    file_sizes: tuple[int, ...] = (100_000, 1_000_000)
    file_repeats: int = 3  # runs per size (median kept)
    network_queries: int = 40  # bnlearn networks: new patterns per network, and as many seen
    network_rows: int = 10_000  # bnlearn networks: batch rows per network
    network_pyagrum_rows: int = 300  # of those, answered by pyAgrum too (its rate per row)
    quick: bool = False


QUICK = Settings(
    n_sets=20,
    pgmpy_draws=2,
    repeat_refresh=10,
    repeat_rows=2_000,
    batch_repeats=1,
    large_repeats=1,
    app_reruns=3,
    browser_loads=1,
    browser_rounds=1,
    file_sizes=(10_000,),
    file_repeats=1,
    network_queries=5,
    network_rows=200,
    network_pyagrum_rows=50,
    quick=True,
)


class Run:
    """One benchmark run: its settings and clock, the model and the evidence sets (built on
    first use), resident memory by phase, and what two sections share (:meth:`once`)."""

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings()
        self.start = time.perf_counter()
        self.rss: dict[str, dict[str, float | None]] = {}
        self.load_s: float | None = None
        self._shared: dict[str, Any] = {}

    def log(self, message: str) -> None:
        elapsed = time.perf_counter() - self.start
        print(f"[bench {elapsed:6.1f}s] {message}", file=sys.stderr, flush=True)

    @cached_property
    def model(self) -> CrampModel:
        t = time.perf_counter()
        model = load_model()
        self.load_s = time.perf_counter() - t
        nodes, causes = len(model.priors.nodes), len(model.causes)
        self.log(f"model loaded in {self.load_s:.2f} s: {nodes} nodes, {causes} causes")
        return model

    @cached_property
    def _evidence(self) -> tuple[list[dict[str, str]], dict[str, str]]:
        n = self.settings.n_sets
        sets = sample_evidence(self.model, n + 1, SEED)
        warm, sets = sets[-1], sets[:n]  # the warm-up set is not one of the timed ones
        sizes = [len(e) for e in sets]
        self.log(
            f"{len(sets)} evidence sets sampled (seed {SEED}), "
            f"answers per set {min(sizes)}-{max(sizes)}"
        )
        return sets, warm

    @property
    def sets(self) -> list[dict[str, str]]:
        """The timed evidence sets."""
        return self._evidence[0]

    @property
    def warm(self) -> dict[str, str]:
        """One more set, to warm an engine up on."""
        return self._evidence[1]

    def memory(self, phase: str) -> None:
        """Peak and current resident memory after ``phase`` (after a garbage collection)."""
        gc.collect()
        self.rss[phase] = {"peak": rss_mb(), "current": rss_now_mb()}

    def once(self, name: str, make: Callable[[], T]) -> T:
        """``make()`` the first time ``name`` is asked for in this run, kept for the next."""
        if name not in self._shared:
            self._shared[name] = make()
        return self._shared[name]


def ms(seconds: float) -> float:
    return seconds * 1e3


def clock(call: Callable[[], T]) -> tuple[T, float]:
    """``call()`` and the milliseconds it took."""
    t = time.perf_counter()
    value = call()
    return value, ms(time.perf_counter() - t)


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "p90": float(np.quantile(values, 0.9)),
        "n": len(values),
    }


def rss_mb() -> float:
    """Peak resident memory of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_now_mb() -> float | None:
    """Current (not peak) resident memory, where /proc says it."""
    return proc_status_mb("VmRSS")


def proc_status_mb(field: str) -> float | None:
    """A memory figure of this process from /proc/self/status (``VmRSS``, ``VmHWM``), in MB;
    None where there is no /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def fresh(model: CrampModel) -> CrampModel:
    """The same model with a new engine: empty structure caches for a phase of its own.
    (The junction-tree compiler's module-level cache of trees is shared in the process.)"""
    return CrampModel(model.priors)


def answerable(priors: Priors) -> list[str]:
    """The context questions and findings, in priors order."""
    return [v for v, spec in priors.nodes.items() if spec.kind in ("context", "finding")]


def sample_evidence(
    model: CrampModel, n: int, seed: int, columns: list[str] | None = None
) -> list[dict[str, str]]:
    """``n`` evidence sets: full joint samples from the point tables, 3-8 answers revealed
    (or, given ``columns``, those answered in every set)."""
    rng = np.random.default_rng(seed + 1)
    priors = model.priors
    sampled = sample_codes(priors, n, seed)
    names = answerable(priors)
    sets = []
    for i in range(n):
        k = int(rng.integers(MIN_ANSWERS, MAX_ANSWERS + 1))
        chosen = sorted(rng.choice(len(names), size=k, replace=False))
        if columns is not None:
            chosen = [names.index(c) for c in columns]
        sets.append(
            {names[j]: priors.nodes[names[j]].states[int(sampled[names[j]][i])] for j in chosen}
        )
    return sets

"""``networks``: crampnet's engine on pgmpy's bundled bnlearn networks (:data:`NETWORKS`)
against pyAgrum's ``LazyPropagation``, one child process per network.

Each network is ``pgmpy.utils.get_example_model(name)`` with every CPD's columns renormalised
(some are off 1 by up to 1e-7 as stored), copied into pyAgrum in double precision
(:func:`tests.oracles.reference.to_pyagrum`). The evidence is forward-sampled by pyAgrum
(``BNDatabaseGenerator``, seeded), so none is impossible. What is timed, with
``time.perf_counter``:

- ``compile_ms``: ``Engine.from_network(network)``, once. (It gathers the tables; the engine
  compiles each pattern on the first query of it, inside ``new_ms``.)
- ``new_ms``: ``engine.posteriors(targets, evidence)``, the median over ``network_queries``
  queries, each of a pattern (:data:`OBSERVED` answered variables, :data:`TARGETS` random
  unobserved targets, all if fewer) that the engine has not seen: its compiling included.
  ``new_pyagrum_ms``: the same queries on one ``LazyPropagation`` of the network, each call
  ``eraseAllEvidence``, ``eraseAllTargets``, ``addTarget`` per target, ``setEvidence``,
  ``makeInference`` and ``posterior(t).toarray()`` per target. One query of another pattern
  warms each engine up first, untimed.
- ``seen_ms``, ``seen_pyagrum_ms``: the same patterns again, with the answers of other samples
  (the engine has compiled each pattern already), timed alike.
- ``batch_rows_per_s``: ``network_rows`` rows over :data:`BATCH_COLUMNS` fixed variables, each
  row answering a random 1 to :data:`BATCH_ANSWERS` of them (so patterns vary within the
  batch), :data:`BATCH_TARGETS` fixed unobserved targets: one call of ``score_array`` on the
  rows already encoded (``encode``, untimed), every chunk consumed, its compiling included, on
  its default threads. ``batch_pyagrum_rows_per_s``: the first ``network_pyagrum_rows`` of the
  rows on the ``LazyPropagation`` (targets set once, untimed; per row ``eraseAllEvidence``,
  ``setEvidence``, ``makeInference``, ``posterior(t).toarray()`` per target), per row.
- ``*_ratio``: pyAgrum's time over crampnet's (batch: crampnet's rows/s over pyAgrum's), so
  above 1 means crampnet is faster.
- ``max_diff``: the largest absolute difference of a posterior probability between the two,
  over every new and seen query and the pyAgrum rows of the batch.
- ``peak_rss_mb``: the child's high-water mark (``VmHWM``) at its end: the network, both
  engines and everything they held (the interpreter and its imports included).

A child runs with its address space capped at :data:`MEMORY_FRACTION` of physical memory (or
lower, if already limited), so a runaway allocation is a ``MemoryError`` of that network; an
exception, a crash or :data:`TIMEOUT_S` exceeded becomes ``{"error": "..."}`` for the network and
the run goes on. Run one by hand: ``python -m bench.networks water --quick`` (JSON on stdout).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable

import numpy as np
import pyagrum as gum
from pgmpy import config as pgmpy_config

from bench.common import QUICK, ROOT, SEED, Run, Settings, clock, proc_status_mb, rss_mb
from model.inference.engine import Engine, encode
from model.inference.scoring import score_array
from tests.oracles.reference import load_network, to_pyagrum

NETWORKS = ("asia", "child", "insurance", "alarm", "water", "hailfinder", "hepar2")
OBSERVED = 5  # answered variables of a query
TARGETS = 20  # targets of a query (every unobserved variable, if fewer)
BATCH_COLUMNS = 8  # the batch's fixed answerable variables (half the network's, if fewer)
BATCH_ANSWERS = 5  # each row answers 1 to this many of them
BATCH_TARGETS = 10  # the batch's fixed targets (the other variables, if fewer)
MEMORY_FRACTION = 0.75  # a child's address space, as a share of physical memory
TIMEOUT_S = 1800  # a child still running after this is stopped: an error for its network

Posteriors = dict[str, dict[str, float]]
Pattern = tuple[list[str], list[str]]  # observed variables, targets


def samples(bn, n: int, seed: int) -> list[dict[str, str]]:
    """``n`` full configurations forward-sampled by pyAgrum, as state labels."""
    gum.initRandom(seed)
    generator = gum.BNDatabaseGenerator(bn)
    generator.drawSamples(n)
    frame = generator.to_pandas()
    return [{v: str(s) for v, s in row.items()} for row in frame.to_dict("records")]


def pick(names: list[str], k: int, rng: np.random.Generator) -> list[str]:
    """``min(k, len(names))`` of ``names`` at random, in their order."""
    chosen = rng.choice(len(names), size=min(k, len(names)), replace=False)
    return [names[j] for j in sorted(chosen)]


def patterns(names: list[str], n: int, rng: np.random.Generator) -> list[Pattern]:
    """``n`` distinct patterns: :data:`OBSERVED` variables, :data:`TARGETS` of the others."""
    out: list[Pattern] = []
    keys: set[tuple[frozenset, frozenset]] = set()
    for _ in range(1000 * n):
        observed = pick(names, OBSERVED, rng)
        targets = pick([v for v in names if v not in observed], TARGETS, rng)
        key = (frozenset(observed), frozenset(targets))
        if key not in keys:
            keys.add(key)
            out.append((observed, targets))
            if len(out) == n:
                return out
    raise ValueError(f"fewer than {n} distinct patterns of {OBSERVED} answers")


class PyAgrum:
    """One ``LazyPropagation`` of the network, reused by every query."""

    def __init__(self, bn):
        self.ie = gum.LazyPropagation(bn)
        self.labels = {v: [str(s) for s in bn.variableFromName(v).labels()] for v in bn.names()}

    def target(self, targets: list[str]) -> None:
        self.ie.eraseAllTargets()
        for t in targets:
            self.ie.addTarget(t)

    def posteriors(
        self, targets: list[str], evidence: dict[str, str], retarget: bool = True
    ) -> Posteriors:
        """The posteriors of ``targets``: set as targets first, unless already (``retarget``)."""
        self.ie.eraseAllEvidence()
        if retarget:
            self.target(targets)
        self.ie.setEvidence(evidence)
        self.ie.makeInference()
        return {
            t: dict(zip(self.labels[t], map(float, self.ie.posterior(t).toarray()), strict=True))
            for t in targets
        }


def max_diff(a: Posteriors, b: Posteriors) -> float:
    return max(abs(a[v][s] - b[v][s]) for v in a for s in a[v])


def timed(
    posteriors: Callable[[list[str], dict[str, str]], Posteriors],
    queries: list[tuple[list[str], dict[str, str]]],
) -> tuple[list[float], list[Posteriors]]:
    """Milliseconds of each query (targets, evidence), and its posteriors."""
    times, results = [], []
    for targets, evidence in queries:
        post, elapsed = clock(lambda t=targets, e=evidence: posteriors(t, e))
        times.append(elapsed)
        results.append(post)
    return times, results


def compare(
    engine: Engine,
    agrum: PyAgrum,
    queries: list[tuple[list[str], dict[str, str]]],
    label: str,
    log: Callable[[str], None],
) -> tuple[float, float, float]:
    """Median milliseconds of crampnet and of pyAgrum over ``queries``, and their largest
    difference."""
    ours, mine = timed(engine.posteriors, queries)
    log(f"{label}: crampnet median {statistics.median(ours):.2f} ms; now pyAgrum")
    theirs, reference = timed(agrum.posteriors, queries)
    diff = max(max_diff(r, p) for r, p in zip(reference, mine, strict=True))
    log(f"{label}: pyAgrum median {statistics.median(theirs):.2f} ms, max |diff| {diff:.1e}")
    return statistics.median(ours), statistics.median(theirs), diff


def batch(
    engine: Engine,
    agrum: PyAgrum,
    names: list[str],
    rows: list[dict[str, str]],
    settings: Settings,
    rng: np.random.Generator,
    log: Callable[[str], None],
) -> tuple[float, float, float]:
    """Rows per second of crampnet's ``score_array`` and of pyAgrum per row, and their largest
    difference (on the rows pyAgrum answered)."""
    columns = pick(names, min(BATCH_COLUMNS, len(names) // 2), rng)
    targets = pick([v for v in names if v not in columns], BATCH_TARGETS, rng)
    cases = []
    for row in rows:
        k = int(rng.integers(1, min(BATCH_ANSWERS, len(columns)) + 1))
        cases.append({c: row[c] for c in pick(columns, k, rng)})
    warm, cases = cases[0], cases[1:]
    codes = encode(engine, columns, cases)
    t = time.perf_counter()
    chunks = list(score_array(engine, columns, codes, targets))
    seconds = time.perf_counter() - t
    possible = np.concatenate([c.possible for c in chunks])
    if len(possible) != len(cases) or not possible.all():
        raise RuntimeError(f"{np.count_nonzero(~possible)} sampled rows scored as impossible")
    ours = len(cases) / seconds
    log(f"batch: crampnet {ours:,.0f} rows/s on {len(cases):,} rows; now pyAgrum")
    sample = cases[: settings.network_pyagrum_rows]
    marginals = {t: np.concatenate([c.marginals[t] for c in chunks]) for t in targets}
    agrum.target(targets)
    agrum.posteriors(targets, warm, retarget=False)
    t = time.perf_counter()
    reference = [agrum.posteriors(targets, case, retarget=False) for case in sample]
    theirs = len(sample) / (time.perf_counter() - t)
    diff = max(
        abs(ref[v][s] - marginals[v][r, k])
        for r, ref in enumerate(reference)
        for v in targets
        for k, s in enumerate(engine.states[v])
    )
    log(f"batch: pyAgrum {theirs:,.0f} rows/s on {len(sample)} rows, max |diff| {diff:.1e}")
    return ours, theirs, diff


def peak_mb() -> float:
    """This process's own high-water mark of resident memory (``VmHWM``: unlike
    ``ru_maxrss``, never the parent's pages from before ``exec``)."""
    peak = proc_status_mb("VmHWM")
    return rss_mb() if peak is None else peak


def measure(name: str, settings: Settings, step: Callable[[str], None]) -> dict:
    """The figures of one network (see the module's docstring); ``step`` names each phase."""
    q = settings.network_queries
    step("loading the network and its pyAgrum copy")
    network = load_network(name)
    bn = to_pyagrum(network)
    names = sorted(network.nodes())
    rows = samples(bn, 2 * (q + 1) + settings.network_rows + 1, SEED)  # new, seen, batch
    rng = np.random.default_rng(SEED)
    step(f"compiling the engine ({len(names)} variables)")
    engine, compile_ms = clock(lambda: Engine.from_network(network))
    agrum = PyAgrum(bn)
    found = patterns(names, q + 1, rng)

    def queries(first: int) -> list[tuple[list[str], dict[str, str]]]:
        return [
            (targets, {v: rows[first + i][v] for v in observed})
            for i, (observed, targets) in enumerate(found)
        ]

    new, seen = queries(0), queries(q + 1)[1:]
    warm, new = new[0], new[1:]  # the warm-up pattern is never timed
    step(f"new patterns ({q} queries, {OBSERVED} answers, up to {TARGETS} targets)")
    for posteriors in (engine.posteriors, agrum.posteriors):
        posteriors(*warm)
    # What the harness holds by now (pgmpy's and pyAgrum's models, numba's loaded code) leaves
    # the collector's view: a full collection of it cost 160 ms in this process and landed in
    # whichever timed call happened to trigger it (child's batch: 24,000 rows/s with it,
    # 37,000 without). timeit turns the collector off for the same reason; here the garbage
    # made while timing is still collected, for both engines alike.
    gc.freeze()
    new_ms, new_agrum_ms, new_diff = compare(engine, agrum, new, "new", step)
    step(f"seen patterns ({q} queries, other answers)")
    seen_ms, seen_agrum_ms, seen_diff = compare(engine, agrum, seen, "seen", step)
    step(f"batch ({settings.network_rows:,} rows)")
    ours, theirs, batch_diff = batch(engine, agrum, names, rows[2 * (q + 1) :], settings, rng, step)
    return {
        "compile_ms": compile_ms,
        "peak_rss_mb": peak_mb(),
        "new_ms": new_ms,
        "new_pyagrum_ms": new_agrum_ms,
        "new_ratio": new_agrum_ms / new_ms,
        "seen_ms": seen_ms,
        "seen_pyagrum_ms": seen_agrum_ms,
        "seen_ratio": seen_agrum_ms / seen_ms,
        "batch_rows_per_s": ours,
        "batch_pyagrum_rows_per_s": theirs,
        "batch_ratio": ours / theirs,
        "max_diff": max(new_diff, seen_diff, batch_diff),
    }


def cap_memory() -> None:
    """Cap this process's address space at :data:`MEMORY_FRACTION` of physical memory (unless
    already lower): a runaway allocation raises ``MemoryError`` here, it never swaps the
    machine or wakes the kernel's out-of-memory killer."""
    cap = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * MEMORY_FRACTION)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY or soft > cap:
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def child(argv: list[str] | None = None) -> int:
    """One network in this process: its figures, or its error, as one JSON line on stdout."""
    args = argparse.ArgumentParser(prog="python -m bench.networks")
    args.add_argument("name", choices=NETWORKS)
    args.add_argument("--quick", action="store_true", help="the small counts of --quick")
    args.add_argument("--started", type=float, help="when the run started (time.time())")
    parsed = args.parse_args(argv)
    warnings.simplefilter("ignore", FutureWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    pgmpy_config.set_show_progress(False)
    cap_memory()
    run = Run(QUICK if parsed.quick else Settings())
    if parsed.started is not None:  # progress lines carry the whole run's clock
        run.start = time.perf_counter() - (time.time() - parsed.started)
    stage = ["starting"]

    def step(message: str) -> None:
        stage[0] = message
        run.log(f"networks: {parsed.name}: {message}")

    try:
        result = measure(parsed.name, run.settings, step)
    except Exception as exc:  # MemoryError included
        message = " ".join(str(exc).split())[:300]
        result = {
            "error": f"{type(exc).__name__} in {stage[0]}: {message} (peak RSS {peak_mb():,.0f} MB)"
        }
    print(json.dumps(result), flush=True)
    return 0


def exit_status(code: int) -> str:
    if code < 0:
        name = signal.Signals(-code).name
        return f"killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
    return f"exit status {code}"


def one_network(name: str, run: Run) -> dict:
    """``name`` measured in a child process: its figures, or ``{"error": ...}``. The child's
    progress lines pass through to stderr as they come."""
    command = [sys.executable, "-m", "bench.networks", name]
    command += ["--started", repr(time.time() - (time.perf_counter() - run.start))]
    command += ["--quick"] if run.settings.quick else []
    tail: deque[str] = deque(maxlen=20)
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=subprocess.PIPE, text=True, errors="replace"
        )
        timed_out = threading.Event()

        def stop() -> None:
            timed_out.set()
            process.kill()

        timer = threading.Timer(TIMEOUT_S, stop)
        timer.start()
        try:
            for line in process.stderr:
                sys.stderr.write(line)
                sys.stderr.flush()
                tail.append(line.strip())
            code = process.wait()
        finally:
            timer.cancel()
        out.seek(0)
        lines = out.read().decode(errors="replace").splitlines()
    if code == 0 and lines:
        try:
            return json.loads(lines[-1])
        except json.JSONDecodeError:
            pass
    reason = f"stopped after {TIMEOUT_S} s" if timed_out.is_set() else exit_status(code)
    last = next((t for t in reversed(tail) if t), "no output")
    return {"error": f"child process {reason}: {last[:300]}"}


def section(run: Run) -> dict:
    s = run.settings
    run.log(
        f"networks: {', '.join(NETWORKS)}, one child process each: {s.network_queries} new "
        f"and {s.network_queries} seen patterns, a batch of {s.network_rows:,} rows "
        f"({s.network_pyagrum_rows} for pyAgrum)"
    )
    out = {}
    for name in NETWORKS:
        out[name] = result = one_network(name, run)
        if "error" in result:
            run.log(f"networks: {name}: error: {result['error']}")
        else:
            run.log(
                f"networks: {name}: pyAgrum/crampnet new {result['new_ratio']:.2f}x, seen "
                f"{result['seen_ratio']:.2f}x, batch {result['batch_ratio']:.1f}x; peak RSS "
                f"{result['peak_rss_mb']:,.0f} MB"
            )
    run.memory("after_networks")
    return {"networks": out}


if __name__ == "__main__":
    sys.exit(child())

"""The table ``make bench`` prints on stdout, read from ``bench.json``'s figures: one or two
rows per section that has a row, a paragraph of context after a whole run, the browser's."""

from __future__ import annotations

from bench.file_scoring import FILE_TARGET_ROWS_PER_S
from bench.report import TARGETS
from model.knowledge.draws import DRAWS

HEADER = ("", "crampnet", "pgmpy", "pyagrum", "ratio", "target", "met")
Row = tuple[str, ...]


def num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def query_rows(report: dict) -> list[Row]:
    query, ratios, met = report["query_ms"], report["ratios"], report["met"]
    repeat = report["query_ms_detail"]["crampnet_repeat"]["median"]
    return [
        (
            "query (ms, median)",
            num(query["crampnet"], ".2f"),
            num(query["pgmpy"], ".2f"),
            num(query["pyagrum"], ".2f"),
            num(ratios["query_vs_pyagrum"], ".2f") + "x vs pyagrum",
            f">= {TARGETS['query_vs_pyagrum']}x",
            str(met["query_vs_pyagrum"]),
        ),
        (
            "  query, repeat set (ms)",
            num(repeat, ".2f"),
            "-",
            "-",
            num(ratios["query_repeat_vs_pyagrum"], ".2f") + "x vs pyagrum",
            f">= {TARGETS['query_repeat_vs_pyagrum']}x",
            str(met["query_repeat_vs_pyagrum"]),
        ),
    ]


def refresh_rows(report: dict) -> list[Row]:
    refresh, met = report["refresh_ms"], report["met"]
    n = report["refresh_ms_detail"]["pgmpy"]["n"]
    return [
        (
            "refresh (ms, median)",
            num(refresh["crampnet"], ".1f"),
            num(refresh["pgmpy"], ".0f") + f" (n={n}, scaled)",
            "-",
            num(report["ratios"]["refresh_vs_pgmpy"], ".1f") + "x vs pgmpy",
            f"<= {TARGETS['refresh_ms']} ms, >= {TARGETS['refresh_ratio']}x",
            f"{met['refresh_ms']}, {met['refresh_ratio']}",
        )
    ]


def batch_rows(report: dict) -> list[Row]:
    batch, threads = report["batch_cases_per_s"], report["batch_detail"]["crampnet_threads"]
    return [
        (
            "batch (cases/s)",
            num(batch["crampnet"], ",.0f") + f" ({threads} threads)",
            "-",
            num(batch["pyagrum"], ",.0f"),
            num(report["ratios"]["batch_vs_pyagrum"], ".1f") + "x vs pyagrum",
            f">= {TARGETS['batch_ratio']}x",
            str(report["met"]["batch_ratio"]),
        )
    ]


def memory_rows(report: dict) -> list[Row]:
    return [
        (
            "memory (peak RSS MB)",
            num(report["peak_rss_mb"], ".0f") + " (whole run)",
            "-",
            "-",
            "-",
            f"<= {TARGETS['peak_rss_mb']}",
            str(report["met"]["peak_rss_mb"]),
        )
    ]


def file_scoring_rows(report: dict) -> list[Row]:
    fs = report["file_scoring"]
    rate = fs.get("rows_per_s_1m")
    return [
        (
            "file score, 1M rows (rows/s)",
            "-" if rate is None else f"{rate:,.0f}",
            "-",
            "-",
            f"RSS {fs.get('peak_rss_mb_100k', 0):.0f} MB at 100k, "
            f"{fs.get('peak_rss_mb_1m', 0):.0f} MB at 1M",
            f">= {FILE_TARGET_ROWS_PER_S:,}",
            str(fs.get("met", "-")),
        )
    ]


def if_fixed_rows(report: dict) -> list[Row]:
    """The counterfactual measures: the one-time build, one case (new and seen patterns,
    against a plain query of the causes), the conflict measure, and a file scored with them."""
    f = report["if_fixed"]
    new, seen, conflict, sc = f["new_ms"], f["seen_ms"], f["conflict_ms"], f["score"]
    plain, slow = sc["plain"], sc["if_fixed"]
    return [
        (
            "if fixed, build (s)",
            num(f["build_s"], ".2f") + " (fresh process)",
            "-",
            "-",
            f"twins {num(f['build']['twins_s'], '.2f')} s, first call "
            f"{num(f['build']['first_call_s'], '.2f')} s",
            "-",
            "-",
        ),
        (
            "if fixed, one case (ms, median)",
            f"new {num(new['median'], '.1f')}, seen {num(seen['median'], '.1f')}",
            "-",
            "-",
            f"{num(f['new_vs_posteriors'], '.0f')}x, {num(f['seen_vs_posteriors'], '.0f')}x "
            "a posteriors query",
            "-",
            "-",
        ),
        (
            "conflict, one case (ms, median)",
            f"new {num(conflict['new']['median'], '.1f')}, "
            f"seen {num(conflict['seen']['median'], '.1f')}",
            "-",
            "-",
            "-",
            "-",
            "-",
        ),
        (
            f"file score --if-fixed, {sc['rows']:,} rows (rows/s)",
            num(slow["rows_per_s"], ",.0f"),
            "-",
            "-",
            f"{num(sc['slowdown'], '.0f')}x slower than without ({num(plain['rows_per_s'], ',.0f')}"
            f"); RSS {num(slow['peak_rss_mb'], '.0f')} MB ({num(plain['peak_rss_mb'], '.0f')})",
            "-",
            "-",
        ),
    ]


def casebook_rows(report: dict) -> list[Row]:
    """The case book at its largest size: listing in-process against the 100 ms target (and
    the whole ``crampnet cases list`` process beside it), the export's time and memory at the
    smallest and largest size."""
    c = report["casebook"]
    sizes = [f"{n // 1000}k" if n % 1000 == 0 else str(n) for n in c["sizes"]]
    small, large = c["by_size"][sizes[0]], c["by_size"][sizes[-1]]
    return [
        (
            f"case book list, {c['cases']:,} cases (ms)",
            num(c["list_ms"], ".1f") + " (in-process, median)",
            "-",
            "-",
            f"`cases list` process {num(large['list_process']['seconds'], '.2f')} s "
            f"(model load included)",
            f"<= {c['target_list_ms']} ms in-process",
            str(c["met"]["list_ms"]),
        ),
        (
            f"case book export, {c['cases']:,} cases (s)",
            num(c["export_s"], ".1f"),
            "-",
            "-",
            f"RSS {num(small['export']['peak_rss_mb'], '.0f')} MB at {sizes[0]}, "
            f"{num(large['export']['peak_rss_mb'], '.0f')} MB at {sizes[-1]} "
            f"({num(c['export_rss_ratio'], '.2f')}x)",
            f"seconds, RSS <= {c['flat_ratio']}x",
            str(c["met"]["export_flat_memory"]),
        ),
    ]


def networks_rows(report: dict) -> list[Row]:
    """One row per bnlearn network: pyAgrum's time over crampnet's on new patterns, seen ones
    and a batch (above 1: crampnet faster), the network's peak RSS; or its error."""
    rows = []
    for name, r in report["networks"].items():
        if "error" in r:
            error = r["error"] if len(r["error"]) <= 60 else r["error"][:57] + "..."
            rows.append((f"network {name}", "error", "-", "-", error, "-", "-"))
            continue
        rows.append(
            (
                f"network {name}",
                "peak RSS " + num(r["peak_rss_mb"], ",.0f") + " MB",
                "-",
                "-",
                f"new {num(r['new_ratio'], '.2f')}x, seen {num(r['seen_ratio'], '.2f')}x, "
                f"batch {num(r['batch_ratio'], '.1f')}x vs pyagrum",
                "new, seen >= 1x; batch >= 20x",
                str(min(r["new_ratio"], r["seen_ratio"]) >= 1 and r["batch_ratio"] >= 20),
            )
        )
    return rows


ROWS = (
    ("query_ms", query_rows),
    ("refresh_ms", refresh_rows),
    ("batch_cases_per_s", batch_rows),
    ("peak_rss_mb", memory_rows),
    ("file_scoring", file_scoring_rows),
    ("if_fixed", if_fixed_rows),
    ("casebook", casebook_rows),
    ("networks", networks_rows),
)


def aligned(rows: list[Row]) -> list[str]:
    widths = [max(len(r[k]) for r in [HEADER, *rows]) for k in range(len(HEADER))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in [HEADER, *rows]
    ]


def context(report: dict, written: str) -> str:
    """Two paragraphs after a whole run: how much was measured, the app, the machine's load."""
    qd, rd, bd = report["query_ms_detail"], report["refresh_ms_detail"], report["batch_detail"]
    app, load = report["app_rerun_ms"], report["machine"]
    return (
        f"\n{report['n_evidence_sets']} evidence sets (seed {report['seed']}); pgmpy refresh on "
        f"{rd['pgmpy']['n']} of them, intervals from {rd['pgmpy_intervals_scaled_from']} draws "
        f"scaled to {DRAWS}; crampnet batch on {bd['crampnet_rows']} rows, pyAgrum on "
        f"{bd['pyagrum_rows']}. Max |diff| vs pgmpy {qd['max_abs_diff_vs_pgmpy']:.1e}, "
        f"vs pyAgrum {qd['max_abs_diff_vs_pyagrum']:.1e}. Written: {written} "
        f"({report['total_s']:.0f} s).\n"
        f"App: rerun after one answer, server time median {app['median']:.0f} ms "
        f"(target <= {TARGETS['app_rerun_ms']}) over {app['n']} reruns. Fixed-columns file: "
        f"{bd['crampnet_cases_per_s_fixed_columns_file']:,.0f} cases/s. Batch on one thread: "
        f"{bd['crampnet_cases_per_s_one_thread']:,.0f} cases/s "
        f"({bd['one_thread_vs_pyagrum']:.1f}x pyAgrum). Load average at start "
        f"{load['load_average_at_start'][0]:.2f}, at end {load['load_average_at_end'][0]:.2f}."
    )


def browser_line(b: dict) -> str:
    """The browser figures in one paragraph, for the table's foot."""
    app, bare = b["app"], b["bare"]
    return (
        f"Browser (headless chromium): an answer settles in {app['answer']['median_ms']:.0f} ms "
        f"(max {app['answer']['max_ms']:.0f}) against {bare['answer']['median_ms']:.0f} ms "
        f"(max {bare['answer']['max_ms']:.0f}) on a bare page: "
        + ", ".join(f"{k} {v:.1f}x" for k, v in b["ratio_by_action"].items())
        + f" (target <= {b['target_ratio']:g}x: {'met' if b['met'] else 'not met'}). "
        f"Initial load {app['load']['median_ms']:.0f} ms vs {bare['load']['median_ms']:.0f} ms. "
        f"Server time of a rerun {b.get('server_rerun_ms', {}).get('median', float('nan')):.0f} ms."
    )


def print_table(report: dict, measured: set[str], written: str, whole: bool) -> None:
    """The rows of the sections just ``measured``, then (after a whole run) the context, then
    the browser's paragraph when it was measured."""
    rows = [row for key, make in ROWS if key in measured for row in make(report)]
    if rows:
        print("\n".join(aligned(rows)))
    if whole:
        print(context(report, written))
    if "browser" in measured:
        print(browser_line(report["browser"]))

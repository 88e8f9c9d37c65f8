"""The case book (``model.readwrite.casebook``, ``crampnet cases``) on SQLite and PostgreSQL.

Every backend test runs twice: on an SQLite file of its own, and on a database of its own in a
throwaway PostgreSQL cluster started for this session (``tests/pg.py``; unix socket only, no
TCP). Where no PostgreSQL server can be started the PostgreSQL half is skipped, and says so.
Everything is written under temporary folders: ``$CRAMPNET_DB`` points at one for every test,
so a command run without ``--db`` never touches the user's data folder.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from pg import Cluster, Unavailable

from model import diagnose
from model.cli.crampnet import main
from model.diagnosis.casebook import follow_up, save_case, timeline
from model.errors import UsageError
from model.readwrite.casebook import CaseBook, CaseBookError, default_url, read_dump
from model.readwrite.casebook.store import cases_table, entries_table
from model.readwrite.casefile import read_frames
from model.reports.wording import step_words

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "tests" / "data" / "example_case.json"
BACKENDS = ["sqlite", "postgresql"]
WORKERS, UPDATES = 4, 25  # concurrent writers, and the updates each makes
CHILD_TIMEOUT = 120  # seconds a child process may take before the test fails


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_cluster():
    """A throwaway PostgreSQL cluster for the session; skipped, loudly, where none can start."""
    try:
        cluster = Cluster()
    except Unavailable as exc:
        reason = f"POSTGRESQL NOT TESTED: no PostgreSQL server could be started: {exc}"
        warnings.warn(reason, pytest.PytestWarning, stacklevel=1)
        pytest.skip(reason)
    yield cluster
    cluster.stop()


@pytest.fixture
def new_db(request, tmp_path):
    """A factory of fresh, empty databases: ``new_db(backend)`` returns a URL."""
    made: list[tuple[Cluster, str]] = []
    files: list[Path] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            files.append(tmp_path / f"book{len(files)}.sqlite3")
            return f"sqlite:///{files[-1]}"
        cluster = request.getfixturevalue("pg_cluster")
        name = cluster.create_database()
        made.append((cluster, name))
        return cluster.url(name)

    yield make
    gc.collect()  # engines the commands left behind close their connections
    for cluster, name in made:
        cluster.drop_database(name)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def db(backend, new_db) -> str:
    """The URL of a fresh database on the test's backend."""
    return new_db(backend)


@pytest.fixture(autouse=True)
def default_book_in_tmp(tmp_path, monkeypatch):
    """``$CRAMPNET_DB`` under the test's folder: no command writes to the user's data folder."""
    url = f"sqlite:///{tmp_path / 'default.sqlite3'}"
    monkeypatch.setenv("CRAMPNET_DB", url)
    return url


# --- helpers ---------------------------------------------------------------------------------


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def cases_cli(capsys, db: str, action: str, *argv: str) -> tuple[int, str, str]:
    return run(capsys, "cases", action, *argv, "--db", db)


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {err!r}"
    assert lines[0].startswith("crampnet: error: "), lines[0]
    return lines[0]


def add_cli(capsys, db: str, case: Path = EXAMPLE, label: str | None = None) -> int:
    code, out, err = cases_cli(capsys, db, "add", case, *(["--label", label] if label else []))
    assert code == 0, err
    return int(out.strip())


def raw(db: str, table: sa.Table) -> list[tuple]:
    """Every row of a table as stored, by id (read with an engine of its own)."""
    book = CaseBook(db)
    try:
        with book.engine.connect() as connection:
            return [tuple(r) for r in connection.execute(sa.select(table).order_by(table.c.id))]
    finally:
        book.engine.dispose()


def write_case(path: Path, evidence: dict, soft: dict | None = None) -> Path:
    path.write_text(json.dumps({"evidence": evidence, **({"soft_evidence": soft} if soft else {})}))
    return path


def posterior_by_key(model, answers: dict) -> dict[str, float]:
    """What the current model says for a case-file form of answers, by "cause=state", through
    the public ``diagnose`` (not the code under test)."""
    result = diagnose(
        answers.get("evidence"), answers.get("soft_evidence"), do=answers.get("do"), model=model
    )
    return {f"{c}={s}": result.posterior[c][s] for c, s in model.abnormal_states()}


def without_ids(dump: list[dict]) -> list[dict]:
    return [
        {
            **{k: v for k, v in case.items() if k != "id"},
            "entries": [{k: v for k, v in e.items() if k != "id"} for e in case["entries"]],
        }
        for case in dump
    ]


def instants(dump: list[dict]) -> list[dict]:
    """A dump with every time as an instant (an aware datetime), ids left out."""
    out = without_ids(dump)
    for case in out:
        case["created"] = dt.datetime.fromisoformat(case["created"])
        for e in case["entries"]:
            e["at"] = dt.datetime.fromisoformat(e["at"])
    return out


def table_rows(path: Path) -> list[dict]:
    """The rows of an exported case table, as ``crampnet score`` reads them: the non-empty
    cells of each row."""
    rows = []
    for frame in read_frames(path):
        for record in frame.to_dict("records"):
            rows.append({k: str(v) for k, v in record.items() if not pd.isna(v) and v != ""})
    return rows


# --- where the book is -------------------------------------------------------------------------


def test_default_url_honours_crampnet_db_and_else_is_in_the_user_data_folder(
    tmp_path, monkeypatch, capsys
):
    from platformdirs import user_data_path

    url = f"sqlite:///{tmp_path / 'mine' / 'book.sqlite3'}"
    monkeypatch.setenv("CRAMPNET_DB", url)
    assert default_url() == url
    assert CaseBook().url == url
    # the command line, without --db, uses it too
    code, out, err = run(capsys, "cases", "add", EXAMPLE, "--label", "from env")
    assert code == 0, err
    assert (tmp_path / "mine" / "book.sqlite3").is_file()
    assert [c.label for c in CaseBook(url).list()] == ["from env"]

    monkeypatch.delenv("CRAMPNET_DB")
    folder = user_data_path("crampnet", appauthor=False)
    existed = folder.exists()
    assert default_url() == f"sqlite:///{folder / 'cases.sqlite3'}"
    assert folder.exists() == existed  # asking where it is creates nothing


# --- what a case holds -----------------------------------------------------------------------


def test_a_case_keeps_every_dated_entry_and_never_rewrites_one(db, capsys, model):
    case_id = add_cli(capsys, db, label="night cramps, left calf")
    first = raw(db, entries_table)
    assert len(first) == 1

    steps = [
        ["--set", "nocturnal_cramps=yes", "--unset", "low_fluid_intake"],
        ["--set", "leg_cramp_side=both", "--note", "worse after the long drive"],
        ["--confirmed", "magnesium=low", "--ruled-out", "dehydration=yes"],
        ["--cramps-gone", "--note", "gone since the magnesium"],
    ]
    seen = list(first)
    for argv in steps:
        code, _, err = cases_cli(capsys, db, "update", case_id, *argv)
        assert code == 0, err
        now_rows = raw(db, entries_table)
        assert now_rows[: len(seen)] == seen  # nothing already written changed
        assert len(now_rows) > len(seen)
        seen = now_rows

    book = CaseBook(db)
    case = book.get(case_id)
    assert case.label == "night cramps, left calf"
    kinds = [e.kind for e in case.entries]
    assert kinds == ["answers", "set", "set", "note", "outcome", "outcome", "outcome", "note"]
    times = [e.at for e in case.entries]
    assert all(t.tzinfo is not None for t in [case.created, *times])
    assert times == sorted(times) and case.created == times[0]
    assert times[-1] > times[0]
    original = json.loads(EXAMPLE.read_text())
    assert case.entries[0].data["evidence"] == original["evidence"]
    assert case.entries[0].data["soft_evidence"] == original["soft_evidence"]
    assert case.entries[1].data == {"set": {"nocturnal_cramps": "yes", "low_fluid_intake": None}}
    assert case.entries[2].data == {"set": {"leg_cramp_side": "both"}}
    assert case.entries[3].data == {"text": "worse after the long drive"}
    assert [(o.data["outcome"], o.data.get("variable"), o.data.get("state")) for o in
            case.outcomes()] == [
        ("confirmed", "magnesium", "low"),
        ("ruled_out", "dehydration", "yes"),
        ("cramps_gone", None, None),
    ]  # fmt: skip
    assert case.entries[-1].data == {"text": "gone since the magnesium"}

    # the answers as they stood at each step, and now
    assert case.answers(1).to_case() == original
    expected = dict(original["evidence"])
    del expected["low_fluid_intake"]
    expected.update(nocturnal_cramps="yes", leg_cramp_side="both")
    assert case.answers().evidence == expected
    assert case.answers().soft_evidence == original["soft_evidence"]

    # each change of answers keeps the model that computed what was shown, and that posterior
    for k, entry in enumerate(case.entries, start=1):
        if entry.kind in ("answers", "set"):
            assert entry.model == model.identity
            want = posterior_by_key(model, case.answers(k).to_case())
            assert entry.posterior == pytest.approx(want, rel=1e-9, abs=1e-12)
        else:
            assert entry.posterior is None
    book.engine.dispose()


def test_update_through_the_api_appends_and_returns_the_new_entries(db):
    book = CaseBook(db)
    case_id = book.add("api", {"evidence": {"toe_cramps": "yes"}})
    before = book.get(case_id).entries
    new = book.update(
        case_id,
        {"toe_cramps": None, "nocturnal_cramps": "no"},
        note="n",
        outcomes=[{"outcome": "confirmed", "variable": "iron", "state": "low"}],
    )
    assert [e.kind for e in new] == ["set", "outcome", "note"]
    after = book.get(case_id).entries
    assert after[: len(before)] == before
    assert [e.id for e in after[len(before) :]] == [e.id for e in new]
    assert book.get(case_id).answers().evidence == {"nocturnal_cramps": "no"}
    with pytest.raises(UsageError, match="outcome"):
        book.update(case_id, outcomes=[{"outcome": "better"}], note="must not be written")
    assert book.get(case_id).entries == after
    book.engine.dispose()


def test_times_keep_their_instant_whatever_zone_they_come_in(db):
    """A time given with an offset is the same instant when read back (the book says it
    keeps times in UTC)."""
    book = CaseBook(db)
    created = dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    later = dt.datetime(2026, 3, 1, 9, 30, 0, 654321, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    case_id = book.add("zones", {"evidence": {}}, at=created)
    book.update(case_id, note="later", at=later)
    case = book.get(case_id)
    book.engine.dispose()
    assert case.created == created, f"stored {created.isoformat()}, read {case.created}"
    assert [e.at for e in case.entries] == [created, later]


def test_show_gives_the_times_in_utc_as_it_says(db, capsys):
    """``show`` heads the timeline with "created ... UTC": whatever zone the database hands
    times back in (a PostgreSQL server's own, here not UTC), the clock shown is UTC's."""
    book = CaseBook(db)
    created = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    case_id = book.add("clock", {"evidence": {"toe_cramps": "yes"}}, at=created)
    book.update(case_id, note="half an hour later", at=created + dt.timedelta(minutes=30))
    book.engine.dispose()
    code, out, err = cases_cli(capsys, db, "show", case_id)
    assert code == 0, err
    assert out.splitlines()[0] == "case 1: clock (created 2026-03-01 12:00 UTC)"
    stamps = [line[:18] for line in out.splitlines() if line[:4].isdigit()]
    assert stamps == ["2026-03-01 12:00  ", "2026-03-01 12:30  "]  # one line per entry


# --- show: the posterior now and then ----------------------------------------------------------


def test_show_json_recomputes_and_flags_a_stored_posterior_that_differs(db, capsys, model):
    case_id = add_cli(capsys, db, label="to compare")
    assert cases_cli(capsys, db, "update", case_id, "--set", "nocturnal_cramps=yes")[0] == 0
    assert cases_cli(capsys, db, "update", case_id, "--note", "a note")[0] == 0

    def timeline() -> list[dict]:
        code, out, err = cases_cli(capsys, db, "show", case_id, "--json")
        assert code == 0, err
        shown = json.loads(out)
        assert shown["id"] == case_id and shown["label"] == "to compare"
        assert shown["model"] == model.identity
        return shown["timeline"]

    steps = timeline()
    assert [s["kind"] for s in steps] == ["answers", "set", "note"]
    case = CaseBook(db).get(case_id)
    for k, step in enumerate(steps[:2], start=1):
        want = posterior_by_key(model, case.answers(k).to_case())
        assert step["posterior_now"] == pytest.approx(want, rel=1e-9, abs=1e-12)
        assert step["answers"] == case.answers(k).to_case()
        assert step["posterior_then_differs"] is False
    assert "posterior_now" not in steps[2] and "posterior_then_differs" not in steps[2]
    code, out, _ = cases_cli(capsys, db, "show", case_id)
    assert code == 0 and "then:" not in out

    first_id = case.entries[0].id
    stored = dict(case.entries[0].posterior)
    book = CaseBook(db)

    def alter(**values) -> None:
        with book.engine.begin() as connection:
            connection.execute(
                sa.update(entries_table).where(entries_table.c.id == first_id).values(**values)
            )

    # a posterior that is not what the current model computes
    altered = {**stored, "calcium=low": stored["calcium=low"] + 0.05}
    alter(posterior=altered)
    steps = timeline()
    assert [s["posterior_then_differs"] for s in steps[:2]] == [True, False]
    assert steps[0]["posterior"] == altered
    assert steps[0]["posterior_now"] == pytest.approx(stored, rel=1e-9, abs=1e-12)
    code, out, _ = cases_cli(capsys, db, "show", case_id)
    assert code == 0 and out.count("then:") == 1

    alter(posterior=stored)
    assert [s["posterior_then_differs"] for s in timeline()[:2]] == [False, False]
    # the same numbers from another model version, or from other priors
    alter(model_version="0.0.1")
    assert [s["posterior_then_differs"] for s in timeline()[:2]] == [True, False]
    alter(model_version=model.identity["version"], priors_sha256="0" * 64)
    assert [s["posterior_then_differs"] for s in timeline()[:2]] == [True, False]
    alter(priors_sha256=model.identity["sha256"])
    assert [s["posterior_then_differs"] for s in timeline()[:2]] == [False, False]
    book.engine.dispose()


# --- update and delete: errors write nothing, delete leaves nothing ----------------------------

BAD_UPDATES = [
    (["--set", "nocturnal_crampz=yes"], "nocturnal_crampz"),
    (["--set", "nocturnal_cramps=maybe"], "maybe"),
    (["--set", "nocturnal_cramps=yes", "--set", "toe_cramps=often"], "often"),
    (["--unset", "nocturnal_crampz"], "nocturnal_crampz"),
    (["--confirmed", "magnesiu=low"], "magnesiu"),
    (["--confirmed", "magnesium=lowish"], "lowish"),
    (["--confirmed", "nocturnal_cramps=yes"], "nocturnal_cramps"),
    (["--ruled-out", "dehydration=sometimes"], "sometimes"),
]


@pytest.mark.parametrize(("argv", "named"), BAD_UPDATES, ids=[" ".join(a) for a, _ in BAD_UPDATES])
def test_update_with_an_unknown_variable_or_state_fails_and_writes_nothing(db, capsys, argv, named):
    case_id = CaseBook(db).add("target", {"evidence": {"toe_cramps": "yes"}})
    before = raw(db, entries_table), raw(db, cases_table)
    code, out, err = cases_cli(
        capsys, db, "update", case_id, *argv, "--note", "must not be written"
    )
    assert code == 2, f"exit {code}, stderr {err!r}"
    assert named in one_line_error(err)
    assert out == ""
    assert (raw(db, entries_table), raw(db, cases_table)) == before


def test_a_missing_case_fails_cleanly(db, capsys):
    book = CaseBook(db)
    case_id = book.add("only one", {"evidence": {}})
    before = raw(db, entries_table)
    for argv in (["update", 999, "--note", "x"], ["show", 999], ["delete", 999]):
        code, out, err = cases_cli(capsys, db, *argv)
        assert code == 2, f"{argv}: exit {code}"
        assert "999" in one_line_error(err) and out == ""
    for call in (
        lambda: book.update(999, note="x"),
        lambda: book.get(999),
        lambda: book.delete(999),
    ):
        with pytest.raises(CaseBookError, match="999"):
            call()
    assert raw(db, entries_table) == before
    assert [c.id for c in book.list()] == [case_id]
    book.engine.dispose()


def test_nothing_to_update_is_an_error(db, capsys):
    case_id = CaseBook(db).add("x", {"evidence": {}})
    code, _, err = cases_cli(capsys, db, "update", case_id)
    assert code == 2
    one_line_error(err)
    assert len(raw(db, entries_table)) == 1


def test_delete_removes_the_case_and_every_entry(db, capsys):
    keep = add_cli(capsys, db, label="keep")
    gone = add_cli(capsys, db, label="gone")
    for case_id in (keep, gone):
        argv = ["--set", "nocturnal_cramps=yes", "--note", "n", "--cramps-gone"]
        assert cases_cli(capsys, db, "update", case_id, *argv)[0] == 0
    kept_entries = [r for r in raw(db, entries_table) if r[1] == keep]
    assert len([r for r in raw(db, entries_table) if r[1] == gone]) == 4

    code, out, err = cases_cli(capsys, db, "delete", gone)
    assert code == 0, err
    assert [r[0] for r in raw(db, cases_table)] == [keep]
    assert [r for r in raw(db, entries_table) if r[1] == gone] == []
    assert raw(db, entries_table) == kept_entries
    code, _, err = cases_cli(capsys, db, "show", gone)
    assert code == 2 and str(gone) in one_line_error(err)


def test_sqlite_delete_leaves_no_trace_of_the_case_in_the_files(tmp_path):
    path = tmp_path / "book.sqlite3"
    url = f"sqlite:///{path}"
    label, note = b"ZQX-label-of-a-deleted-case", b"ZQX-note-of-a-deleted-case"

    def files() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in tmp_path.glob("book.sqlite3*")}

    book = CaseBook(url)
    keep = book.add("kept case", {"evidence": {"toe_cramps": "yes"}})
    first = book.add(label.decode() + "-1", {"evidence": {"toe_cramps": "no"}})
    book.update(first, {"toe_cramps": "yes"}, note=note.decode() + "-1")
    book.engine.dispose()
    # control: the text really is in the file, so its absence below means something
    assert label + b"-1" in files()["book.sqlite3"] and note + b"-1" in files()["book.sqlite3"]

    book = CaseBook(url)
    # a second case added and deleted while the book stays open: its pages are in the WAL only
    second = book.add(label.decode() + "-2", {"evidence": {}})
    book.update(second, note=note.decode() + "-2")
    assert any(label + b"-2" in data for data in files().values())
    book.delete(first)
    book.delete(second)
    # the WAL keeps the frames written before the delete until a checkpoint copies the pages
    # back and truncates it: checkpoint (TRUNCATE) first, while the book is open
    connection = book.engine.raw_connection()
    try:
        busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        connection.close()
    for name, data in files().items():
        assert label not in data and note not in data, f"{name} still holds the deleted text"
    book.engine.dispose()  # every connection closed
    found = files()
    assert "book.sqlite3" in found
    for name, data in found.items():
        assert label not in data and note not in data, f"{name} still holds the deleted text"
    assert b"kept case" in found["book.sqlite3"]
    assert [c.id for c in CaseBook(url).list()] == [keep]


# --- export, and the commands that read what it writes -----------------------------------------


def test_export_writes_the_latest_answers_and_outcomes_that_score_evaluate_learn_read(
    db, capsys, tmp_path
):
    a = add_cli(capsys, db, label="updated one")
    for argv in (
        ["--set", "nocturnal_cramps=yes", "--unset", "low_fluid_intake"],
        ["--set", "leg_cramp_side=both"],
        ["--confirmed", "magnesium=low", "--ruled-out", "dehydration=yes", "--cramps-gone"],
    ):
        assert cases_cli(capsys, db, "update", a, *argv)[0] == 0
    plain = write_case(tmp_path / "plain.json", {"toe_cramps": "yes", "female": "no"})
    b = add_cli(capsys, db, plain, label="plain one")
    c = add_cli(capsys, db, plain, label="deleted one")
    assert cases_cli(capsys, db, "delete", c)[0] == 0
    book = CaseBook(db)
    last_a = book.get(a).entries[-1].at
    gone_at = book.get(a).outcomes()[-1].at
    book.engine.dispose()

    tables = {}
    for suffix in ("csv", "jsonl", "parquet"):
        out_path = tmp_path / f"cases.{suffix}"
        code, _, err = cases_cli(capsys, db, "export", "-o", out_path)
        assert code == 0, err
        assert not list(tmp_path.glob(".*partial"))
        tables[suffix] = table_rows(out_path)
    assert tables["csv"] == tables["jsonl"] == tables["parquet"]
    rows = {row["id"]: row for row in tables["csv"]}
    assert set(rows) == {str(a), str(b)}  # one row per case, the deleted one gone
    row_a = {k: v for k, v in rows[str(a)].items() if k not in ("_updated", "_cramps_gone")}
    assert row_a == {
        "id": str(a),
        "_label": "updated one",
        "leg_cramp_side": "both",
        "calcium_trial": "improved",
        "nocturnal_cramps": "yes",  # set later
        "magnesium": "low",  # confirmed: in its cause column
        "dehydration": "no",  # ruled out, two states: the other one
    }  # low_fluid_intake taken back: empty
    assert dt.datetime.fromisoformat(rows[str(a)]["_updated"]) == last_a
    assert dt.datetime.fromisoformat(rows[str(a)]["_cramps_gone"]) == gone_at
    row_b = {k: v for k, v in rows[str(b)].items() if k != "_updated"}
    assert row_b == {"id": str(b), "_label": "plain one", "toe_cramps": "yes", "female": "no"}

    for suffix in ("csv", "jsonl", "parquet"):
        scored = tmp_path / f"scored_{suffix}.csv"
        code, _, err = run(capsys, "score", tmp_path / f"cases.{suffix}", "-o", scored)
        assert code == 0, err
        assert len(pd.read_csv(scored)) == 2
    code, out, err = run(capsys, "evaluate", tmp_path / "cases.csv")
    assert code == 0, err
    assert "2 cases scored" in out
    magnesium = next(line for line in out.splitlines() if line.startswith("magnesium = low"))
    assert magnesium.split()[3] == "1"  # one case where the cause is known
    learned = tmp_path / "learned"
    code, out, err = run(capsys, "learn", tmp_path / "cases.csv", "-o", learned, "--max-iter", "2")
    assert code == 0, err
    assert "learned from 2 cases" in out and (learned / "model.yaml").is_file()


def fill_book(db: str, capsys, tmp_path: Path) -> None:
    """A book with some of everything: CLI cases with updates, API cases with given times."""
    a = add_cli(capsys, db, label="Zoë's nights ☾")
    argv = ["--set", "nocturnal_cramps=yes", "--unset", "calcium_trial", "--note", "x"]
    assert cases_cli(capsys, db, "update", a, *argv)[0] == 0
    argv = ["--confirmed", "calcium=low", "--ruled-out", "iron=low", "--cramps-gone"]
    assert cases_cli(capsys, db, "update", a, *argv)[0] == 0
    book = CaseBook(db)
    t0 = dt.datetime(2025, 6, 1, 8, 15, 30, 250001, tzinfo=dt.UTC)
    b = book.add(
        "old case",
        {"evidence": {"toe_cramps": "yes"}, "do": {"calcium_supplements": "yes"}},
        at=t0,
        model={"version": "0.1.0", "sha256": "ab" * 32},
        posterior={"calcium=low": 0.1 + 0.2, "iron=low": 1 / 3},
    )
    book.update(b, {"toe_cramps": None}, at=t0 + dt.timedelta(days=3, microseconds=7))
    book.update(b, note='multi\nline "note"', at=t0 + dt.timedelta(days=40))
    c = add_cli(capsys, db, label="deleted")
    book.delete(c)
    book.add("last", {"evidence": {}})
    book.engine.dispose()


def test_timeline_export_then_import_round_trips_the_whole_book(
    backend, db, new_db, capsys, tmp_path
):
    fill_book(db, capsys, tmp_path)
    dump = tmp_path / "book.jsonl"
    code, _, err = cases_cli(capsys, db, "export", "--timeline", "-o", dump)
    assert code == 0, err
    original = list(CaseBook(db).dump())
    assert [c["label"] for c in original] == ["Zoë's nights ☾", "old case", "last"]
    assert list(read_dump(dump)) == original

    empty = new_db(backend)
    assert CaseBook(empty).count() == 0
    code, _, err = cases_cli(capsys, empty, "import", dump)
    assert code == 0, err
    copied = list(CaseBook(empty).dump())
    assert without_ids(copied) == without_ids(original)
    assert instants(copied) == instants(original)
    assert sum(len(c["entries"]) for c in copied) == 10


@pytest.mark.parametrize(("source", "target"), [BACKENDS, BACKENDS[::-1]])
def test_timeline_round_trips_from_one_backend_to_the_other(
    source, target, new_db, capsys, tmp_path
):
    db = new_db(source)
    fill_book(db, capsys, tmp_path)
    dump = tmp_path / "book.jsonl"
    assert cases_cli(capsys, db, "export", "--timeline", "-o", dump)[0] == 0
    other = new_db(target)
    assert cases_cli(capsys, other, "import", dump)[0] == 0
    source_times = [c["created"] for c in instants(list(CaseBook(db).dump()))]
    copied_times = [c["created"] for c in instants(list(CaseBook(other).dump()))]
    assert copied_times == source_times, "the copy's cases were created at other instants"
    assert instants(list(CaseBook(other).dump())) == instants(list(CaseBook(db).dump()))


# --- the schema --------------------------------------------------------------------------------


def test_schema_fresh_is_head_and_a_newer_one_is_refused(db, capsys):
    head = CaseBook.code_revision()
    book = CaseBook(db)
    assert head and book.schema() == head
    with book.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [
            (head,)
        ]
    book.add("survives", {"evidence": {}})
    book.engine.dispose()
    again = CaseBook(db)  # opening again migrates nothing and loses nothing
    assert again.schema() == head and again.count() == 1
    with again.engine.begin() as connection:
        connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    again.engine.dispose()

    with pytest.raises(CaseBookError) as refused:
        CaseBook(db)
    assert "'9999'" in str(refused.value) and repr(head) in str(refused.value)
    code, out, err = cases_cli(capsys, db, "list")
    assert code == 2 and out == ""
    line = one_line_error(err)
    assert "9999" in line and head in line
    # refused, not touched
    engine = sa.create_engine(db.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [
            ("9999",)
        ]
        assert connection.execute(sa.text("SELECT label FROM cases")).all() == [("survives",)]
    engine.dispose()


def test_an_unreachable_database_is_one_clean_error(tmp_path, capsys):
    url = f"postgresql://postgres@/nothing?host={tmp_path / 'no-server-here'}"
    with pytest.raises(CaseBookError, match="cannot open"):
        CaseBook(url)
    code, out, err = run(capsys, "cases", "list", "--db", url)
    assert code == 2 and out == ""
    one_line_error(err)


# --- concurrency and crashes -------------------------------------------------------------------
# Each child is a process of its own (``python -c``, importing only the case book, so that it
# starts fast) that opens its own CaseBook.

WRITER = """
import json, sys, time
from pathlib import Path
from model.readwrite.casebook import CaseBook

url, worker, case_id, updates, go = sys.argv[1:]
worker, case_id, updates, go = int(worker), int(case_id), int(updates), Path(go)
book = CaseBook(url)
print("ready", flush=True)
deadline = time.monotonic() + 120
while not go.exists():  # every writer starts at once
    if time.monotonic() > deadline:
        sys.exit("never told to go")
    time.sleep(0.002)
written = []
for i in range(updates):
    state = "yes" if (worker + i) % 2 else "no"
    entries = book.update(case_id, {"nocturnal_cramps": state}, note=f"w{worker}-u{i}")
    new = book.add(f"w{worker}-c{i}", {"evidence": {"toe_cramps": state}})
    written.append(([e.id for e in entries], new))
book.engine.dispose()
print(json.dumps(written), flush=True)
"""

CRASHER = """
import datetime as dt, sys, time
import sqlalchemy as sa
from model.readwrite.casebook import CaseBook
from model.readwrite.casebook.store import cases_table, entries_table

url, case_id = sys.argv[1], int(sys.argv[2])
now = dt.datetime.now(dt.UTC)
book = CaseBook(url)
with book.engine.begin() as connection:
    connection.execute(
        sa.insert(entries_table).values(
            case_id=case_id, at=now, kind="note", data={"text": "uncommitted"}
        )
    )
    connection.execute(sa.insert(cases_table).values(label="uncommitted", created=now))
    # more than SQLite's page cache holds: uncommitted pages spill into the WAL
    filler = "x" * 2000
    connection.execute(
        sa.insert(entries_table),
        [
            {"case_id": case_id, "at": now, "kind": "note", "data": {"text": f"{n} {filler}"}}
            for n in range(3000)
        ],
    )
    count = sa.select(sa.func.count()).select_from(entries_table)
    seen = connection.execute(count.where(entries_table.c.case_id == case_id)).scalar()
    print("ready", seen, flush=True)
    time.sleep(120)  # killed here, before the commit
"""


def child(script: str, *argv: object) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, *map(str, argv)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def test_concurrent_writers_lose_nothing(db, tmp_path):
    book = CaseBook(db)
    shared = book.add("shared", {"evidence": {}})
    book.engine.dispose()
    go = tmp_path / "go"
    writers = [child(WRITER, db, w, shared, UPDATES, go) for w in range(WORKERS)]
    try:
        for p in writers:
            assert p.stdout.readline().strip() == "ready", p.communicate()[1]
        go.touch()
        done = [p.communicate(timeout=CHILD_TIMEOUT) for p in writers]
    finally:
        for p in writers:
            p.kill()
    for p, (_, err) in zip(writers, done, strict=True):
        assert p.returncode == 0, err
    got = {w: json.loads(out) for w, (out, _) in enumerate(done)}

    book = CaseBook(db)
    case = book.get(shared)
    assert len(case.entries) == 1 + WORKERS * UPDATES * 2
    entry_ids = [e.id for e in case.entries]
    assert len(set(entry_ids)) == len(entry_ids)
    by_id = {e.id: e for e in case.entries}
    new_cases = []
    for worker, written in got.items():
        for i, (ids, new) in enumerate(written):
            assert [by_id[j].kind for j in ids] == ["set", "note"]
            assert by_id[ids[1]].data == {"text": f"w{worker}-u{i}"}
            new_cases.append(new)
        # one writer's entries in the order it wrote them
        mine = [j for ids, _ in written for j in ids]
        assert mine == sorted(mine)
    assert len(set(new_cases)) == WORKERS * UPDATES
    assert book.count() == 1 + WORKERS * UPDATES
    labels = {c.label: c.id for c in book.list(None)}
    assert set(labels) == {"shared"} | {
        f"w{w}-c{i}" for w in range(WORKERS) for i in range(UPDATES)
    }
    assert sorted(labels.values()) == sorted([shared, *new_cases])
    notes = sorted(e.data["text"] for e in case.entries if e.kind == "note")
    assert notes == sorted(f"w{w}-u{i}" for w in range(WORKERS) for i in range(UPDATES))
    book.engine.dispose()


def test_a_crash_mid_write_leaves_the_book_valid_without_the_write(db, backend):
    book = CaseBook(db)
    case_id = book.add("before the crash", {"evidence": {"toe_cramps": "yes"}})
    book.update(case_id, note="committed")
    before_entries, before_cases = raw(db, entries_table), raw(db, cases_table)
    book.engine.dispose()

    crasher = child(CRASHER, db, case_id)
    try:
        line = crasher.stdout.readline().split()
        assert line[:1] == ["ready"], crasher.communicate()[1]
        # the transaction did hold the uncommitted rows when the process was killed
        assert int(line[1]) == 2 + 1 + 3000
        if backend == "sqlite":
            assert Path(db.removeprefix("sqlite:///") + "-wal").stat().st_size > 1_000_000
    finally:
        os.kill(crasher.pid, signal.SIGKILL)
        crasher.communicate(timeout=CHILD_TIMEOUT)
    assert crasher.returncode == -signal.SIGKILL

    book = CaseBook(db)  # opens
    if backend == "sqlite":
        with book.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA integrity_check").all() == [("ok",)]
    case = book.get(case_id)
    assert [e.data.get("text") for e in case.entries if e.kind == "note"] == ["committed"]
    assert raw(db, entries_table) == before_entries
    assert raw(db, cases_table) == before_cases
    # and the book takes writes again (no lock left behind)
    book.update(case_id, note="after the crash")
    assert book.get(case_id).entries[-1].data == {"text": "after the crash"}
    book.engine.dispose()


# --- list --------------------------------------------------------------------------------------


def test_list_shows_the_most_recently_updated_first(db, capsys):
    ids = {label: add_cli(capsys, db, label=label) for label in ("first", "second", "third")}
    assert cases_cli(capsys, db, "update", ids["first"], "--note", "touched")[0] == 0

    code, out, err = cases_cli(capsys, db, "list", "--json")
    assert code == 0, err
    listed = json.loads(out)
    assert [r["label"] for r in listed] == ["first", "third", "second"]
    for r in listed:
        assert list(r) == ["id", "label", "created", "updated", "entries"]
    book = CaseBook(db)
    for r in listed:
        case = book.get(r["id"])
        assert r["label"] == case.label
        assert r["entries"] == len(case.entries)
        assert dt.datetime.fromisoformat(r["created"]) == case.created
        assert dt.datetime.fromisoformat(r["updated"]) == case.entries[-1].at
    book.engine.dispose()
    assert [r["entries"] for r in listed] == [2, 1, 1]
    updated = [dt.datetime.fromisoformat(r["updated"]) for r in listed]
    assert updated == sorted(updated, reverse=True)

    code, out, err = cases_cli(capsys, db, "list", "--json", "--limit", "2")
    assert code == 0 and [r["label"] for r in json.loads(out)] == ["first", "third"]
    code, out, err = cases_cli(capsys, db, "list", "--limit", "2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["id", "updated", "entries", "label"]
    assert [line.split()[-1] for line in lines[1:]] == ["first", "third"]
    assert "2 of 3 cases shown" in err
    code, out, err = cases_cli(capsys, db, "list", "--all")
    assert code == 0 and len(out.splitlines()) == 4 and err == ""


# --- the model's earlier posteriors against the outcomes recorded later -------------------------


def test_evaluate_cases_db_scores_the_posterior_shown_before_each_outcome(db, capsys, model):
    """`evaluate --cases-db` pairs each case's posterior stored at its last change of answers
    before the first outcome with what the outcomes established: Brier and log loss equal a
    hand computation from the stored numbers; a later change (after the outcome) is not used,
    nor a case without an outcome."""
    import math

    from model.analysis.casebook import evaluate_casebook, outcome_truth, prediction

    book = CaseBook(db)
    first = book.add(
        "a",
        {"evidence": {"nocturnal_cramps": "yes"}},
        model=model.identity,
        posterior={"calcium=low": 0.7, "calcium=high": 0.1, "dehydration=yes": 0.2},
    )
    book.update(
        first,
        {"toe_cramps": "yes"},
        model=model.identity,
        posterior={"calcium=low": 0.6, "calcium=high": 0.1, "dehydration=yes": 0.3},
    )
    book.update(
        first,
        outcomes=[
            {"outcome": "confirmed", "variable": "calcium", "state": "low"},
            {"outcome": "ruled_out", "variable": "dehydration", "state": "yes"},
        ],
    )
    book.update(first, {"back_spasms": "yes"}, posterior={"calcium=low": 0.99})  # after: unused
    second = book.add(
        "b",
        {"evidence": {}},
        model=model.identity,
        posterior={"calcium=low": 0.2, "calcium=high": 0.05},
    )
    book.update(
        second,
        outcomes=[
            {"outcome": "ruled_out", "variable": "calcium", "state": "low"},
            {"outcome": "ruled_out", "variable": "calcium", "state": "high"},
        ],
    )
    book.add("no outcome", {"evidence": {}}, posterior={"calcium=low": 0.5})
    cases = list(book.cases())
    assert prediction(cases[0])["calcium=low"] == 0.6
    assert outcome_truth(model, cases[0]) == {"calcium": 0, "dehydration": 1}
    assert outcome_truth(model, cases[1]) == {"calcium": 1}  # both abnormal states ruled out
    result = evaluate_casebook(model, book.cases())
    rows = result.metrics.set_index("label")
    # calcium=low: predicted 0.6 (true) and 0.2 (false); dehydration=yes: 0.3 (false)
    assert rows.loc["calcium=low", "brier"] == pytest.approx(((0.6 - 1) ** 2 + 0.2**2) / 2)
    assert rows.loc["calcium=low", "log_loss"] == pytest.approx(
        -(math.log(0.6) + math.log(1 - 0.2)) / 2
    )
    assert rows.loc["dehydration=yes", "brier"] == pytest.approx(0.3**2)
    assert rows.loc["calcium=low", "n"] == 2 and rows.loc["dehydration=yes", "n"] == 1
    status, out, _ = run(capsys, "evaluate", "--cases-db", db, "--json")
    assert status == 0
    metrics = {r["label"]: r for r in json.loads(out)["metrics"]}
    assert metrics["calcium=low"]["brier"] == pytest.approx(rows.loc["calcium=low", "brier"])


def test_a_synthetic_case_book_has_delayed_outcomes_and_scores(tmp_path, model):
    """The notebook's synthetic book: every case answered, a trial's result days later, its
    tests later still; evaluated, its pooled calibration is that of the model on itself."""
    from model.analysis.casebook import evaluate_casebook, synthetic_casebook

    book = CaseBook(f"sqlite:///{tmp_path}/synthetic.sqlite3")
    assert synthetic_casebook(model, book, 60, seed=3, tested=2) == 60
    for case in book.cases():
        kinds = [e.kind for e in case.entries]
        assert kinds[:2] == ["answers", "set"] and set(kinds[2:]) == {"outcome"}
        days = [e.at for e in case.entries]
        assert days[1] - days[0] >= dt.timedelta(days=2)
        assert days[2] - days[1] >= dt.timedelta(days=5)
        assert case.entries[1].posterior is not None
    result = evaluate_casebook(model, book.cases())
    assert result.n_cases == 60
    assert 0.0 < result.summary()["brier"] < 0.25


def test_report_of_a_case_on_either_backend(db, capsys, tmp_path):
    """`cases report` reads the case from the book at --db (SQLite or PostgreSQL): the JSON
    report's timeline has every step, in order, and the body holds the latest answers."""
    case_id = add_cli(capsys, db, label="report me")
    code, _, err = cases_cli(
        capsys, db, "update", case_id, "--set", "nocturnal_cramps=yes", "--cramps-gone"
    )
    assert code == 0, err
    out = tmp_path / "report.json"
    code, _, err = cases_cli(capsys, db, "report", case_id, "-o", out)
    assert code == 0, err
    report = json.loads(out.read_text(encoding="utf-8"))
    steps = report["timeline"]["steps"]
    assert len(steps) == len(CaseBook(db).get(case_id).entries) == 3
    answered = {a["variable"]: a["answer"] for a in report["answers"]}
    assert answered["nocturnal_cramps"] == "yes"


def test_threads_sharing_one_book_lose_nothing(db):
    """Two app tabs are two threads of one server sharing the page's cached case book: four
    threads writing at once through one ``CaseBook`` lose no entry."""
    import threading

    book = CaseBook(db)
    case_id = book.add("shared", {"evidence": {}})
    errors: list[str] = []

    def write(k: int) -> None:
        try:
            for j in range(25):
                book.update(case_id, note=f"{k}-{j}")
        except Exception as exc:  # noqa: BLE001 - reported below, with the others
            errors.append(repr(exc))

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    notes = [e.data["text"] for e in book.get(case_id).entries if e.kind == "note"]
    assert sorted(notes) == sorted(f"{k}-{j}" for k in range(4) for j in range(25))


def test_a_hard_answer_replaces_a_soft_one(db, capsys, tmp_path, model):
    """A case answered softly, then surely: the change replaces the soft answer (the posterior
    kept with it is that of the answers as the case now reads), and the export has it."""
    soft_case = write_case(
        tmp_path / "soft.json",
        {"leg_cramp_side": "left"},
        {"nocturnal_cramps": {"yes": 0.8, "no": 0.2}},
    )
    case_id = add_cli(capsys, db, soft_case)
    code, _, err = cases_cli(capsys, db, "update", case_id, "--set", "nocturnal_cramps=yes")
    assert code == 0, err
    case = CaseBook(db).get(case_id)
    now = case.answers()
    assert now.evidence == {"leg_cramp_side": "left", "nocturnal_cramps": "yes"}
    assert now.soft_evidence == {}
    assert case.entries[-1].posterior == posterior_by_key(model, now.to_case())


def test_an_export_defuses_formula_labels_and_an_empty_book_exports(db, capsys, tmp_path):
    """A label that a spreadsheet would run (``=HYPERLINK(...)``) is written as text, as
    ``crampnet score`` writes its input; an empty book gives a table with its header only."""
    empty = tmp_path / "empty.parquet"
    code, _, err = cases_cli(capsys, db, "export", "-o", empty)
    assert code == 0, err
    assert pd.read_parquet(empty).empty
    add_cli(capsys, db, label='=HYPERLINK("http://example.org")')
    out = tmp_path / "book.csv"
    code, _, err = cases_cli(capsys, db, "export", "-o", out)
    assert code == 0, err
    assert pd.read_csv(out)["_label"].tolist() == ['\'=HYPERLINK("http://example.org")']


def test_a_follow_up_records_a_changed_soft_answer_or_intervention(db, model):
    """The explorer's "add the answers now as a follow-up" with a soft answer changed (or an
    intervention), which a change of hard answers cannot say: the whole answers are written
    as a new entry, with their posterior; a change of hard answers alone stays a change, and
    the same answers again write nothing."""
    book = CaseBook(db)
    first = {"evidence": {"leg_cramp_side": "left"}}
    case_id = save_case(model, book, "soft follow-up", first)
    softly = {**first, "soft_evidence": {"nocturnal_cramps": {"yes": 0.8, "no": 0.2}}}
    added = follow_up(model, book, case_id, answers=softly)
    assert [e.kind for e in added] == ["answers"]
    case = book.get(case_id)
    assert case.answers().to_case() == softly
    assert case.entries[-1].posterior == posterior_by_key(model, softly)
    assert follow_up(model, book, case_id, answers=softly) == []  # nothing changed
    harder = {**softly, "evidence": {"leg_cramp_side": "both"}}
    assert [e.kind for e in follow_up(model, book, case_id, answers=harder)] == ["set"]
    assert book.get(case_id).answers().to_case() == harder
    cause = model.causes[0]  # put right, as What-if does
    done = {**harder, "do": {cause: model.priors.nodes[cause].normal_state}}
    assert [e.kind for e in follow_up(model, book, case_id, answers=done)] == ["answers"]
    steps = timeline(model, book.get(case_id))
    assert steps[-1]["answers"] == done
    assert step_words(model.priors, steps[1]).startswith("answers: ")
    with pytest.raises(UsageError, match="not both"):
        book.update(case_id, {"toe_cramps": "yes"}, answers=done)
    book.engine.dispose()

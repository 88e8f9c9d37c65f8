"""The case book: people's cases kept in a database, each a timeline that is never overwritten.

A case is a label the user chooses (no name needed) and its entries, each dated: the answers
as first given, every later change of answers, follow-up outcomes (a cause confirmed or ruled
out by a test, the cramps gone), free-text notes. An entry that came with a posterior keeps
the identity of the model that computed it (version and priors sha256) and that posterior,
so a later model can be compared with what was shown then.

Storage is SQLAlchemy (SQLite by default, PostgreSQL by URL for a practice that shares one);
the schema is Alembic's (``migrations/``): opening a case book brings an older schema up to
date, and a schema newer than this code is refused with a clear error rather than misread.
Every write is one transaction, so concurrent writers (two app tabs, the command line)
never lose an entry and a crash leaves the database as it was before the write. SQLite runs
in WAL mode with a busy timeout (writers wait for each other instead of failing), enforces
foreign keys, and overwrites deleted content (``secure_delete``): a deleted case is really
gone. This module stores what it is given; answers are checked against the model by its
callers.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from model.errors import CrampnetError, UsageError

ENV_VAR = "CRAMPNET_DB"  # a database URL overriding the per-user default
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
LABEL_CHARS = 200
BUSY_MS = 30_000  # how long an SQLite writer waits for another before giving up
KINDS = ("answers", "set", "outcome", "note")  # what an entry can be
OUTCOMES = ("confirmed", "ruled_out", "cramps_gone")  # what a follow-up outcome can say

metadata = sa.MetaData()
cases_table = sa.Table(
    "cases",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("label", sa.String(LABEL_CHARS), nullable=False),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated", sa.DateTime(timezone=True)),  # the last entry's time (schema 0002)
    sa.Column("entries", sa.Integer, nullable=False, server_default="0"),
)
entries_table = sa.Table(
    "entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id", ondelete="CASCADE")),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("model_version", sa.String(40)),
    sa.Column("priors_sha256", sa.String(64)),
    sa.Column("posterior", sa.JSON),
)


class CaseBookError(CrampnetError):
    """A case book that cannot be used: newer than this code, unreachable, or no such case."""


def default_url() -> str:
    """``$CRAMPNET_DB`` if set, else an SQLite file in the user's data folder."""
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    from platformdirs import user_data_path

    return f"sqlite:///{user_data_path('crampnet', appauthor=False) / 'cases.sqlite3'}"


def now() -> dt.datetime:
    """The time an entry is stamped with: UTC, to the microsecond."""
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Entry:
    """One dated entry of a case's timeline. ``data`` by kind: ``answers`` holds
    ``evidence``, ``soft_evidence`` and ``do``; ``set`` holds ``set`` (variable -> state,
    or None to take an answer back); ``outcome`` holds ``outcome`` (one of
    :data:`OUTCOMES`) and, for a cause, ``variable`` and ``state``; ``note`` holds ``text``.
    ``model`` and ``posterior`` are what was shown with it, when something was."""

    id: int
    case_id: int
    at: dt.datetime
    kind: str
    data: dict
    model: dict[str, str] | None = None
    posterior: dict | None = None

    def to_dict(self) -> dict:
        out = {"id": self.id, "at": self.at.isoformat(), "kind": self.kind, "data": self.data}
        if self.model:
            out["model"] = self.model
        if self.posterior is not None:
            out["posterior"] = self.posterior
        return out


@dataclass(frozen=True)
class Answers:
    """A case's answers as they stand after a run of entries."""

    evidence: dict[str, str] = field(default_factory=dict)
    soft_evidence: dict[str, dict[str, float]] = field(default_factory=dict)
    do: dict[str, str] = field(default_factory=dict)

    def changed(self, changes: Mapping[str, str | None]) -> Answers:
        """These answers after a ``set`` entry: each variable's answer replaced by the new
        hard state, or taken back (None), whatever it was (hard or soft)."""
        evidence, soft = dict(self.evidence), dict(self.soft_evidence)
        for variable, state in changes.items():
            soft.pop(variable, None)
            evidence.pop(variable, None)
            if state is not None:
                evidence[variable] = state
        return Answers(evidence, soft, dict(self.do))

    def to_case(self) -> dict:
        """The case-file form (``crampnet diagnose CASE.json`` reads it)."""
        out: dict = {"evidence": dict(self.evidence)}
        if self.soft_evidence:
            out["soft_evidence"] = {k: dict(v) for k, v in self.soft_evidence.items()}
        if self.do:
            out["do"] = dict(self.do)
        return out


@dataclass(frozen=True)
class Case:
    """A case and its whole timeline, oldest entry first."""

    id: int
    label: str
    created: dt.datetime
    entries: list[Entry]

    def answers(self, upto: int | None = None) -> Answers:
        """The answers after every entry (or after the first ``upto`` entries)."""
        answers = Answers()
        for entry in self.entries[:upto]:
            if entry.kind == "answers":
                answers = Answers(
                    dict(entry.data.get("evidence", {})),
                    {k: dict(v) for k, v in entry.data.get("soft_evidence", {}).items()},
                    dict(entry.data.get("do", {})),
                )
            elif entry.kind == "set":
                answers = answers.changed(entry.data["set"])
        return answers

    def outcomes(self) -> list[Entry]:
        """The follow-up outcomes, oldest first."""
        return [e for e in self.entries if e.kind == "outcome"]

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "label": self.label,
            "created": self.created.isoformat(),
            "entries": [e.to_dict() for e in self.entries],
        }


@dataclass(frozen=True)
class CaseSummary:
    """One line of ``crampnet cases list``."""

    id: int
    label: str
    created: dt.datetime
    updated: dt.datetime
    entries: int

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "label": self.label,
            "created": self.created.isoformat(),
            "updated": self.updated.isoformat(),
            "entries": self.entries,
        }


def _utc(value: dt.datetime) -> dt.datetime:
    """A time as UTC: SQLite hands back the UTC digits it was given, without a zone;
    PostgreSQL hands back an instant in the server's own zone."""
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _answers_data(answers: Mapping[str, object]) -> dict:
    """An ``answers`` entry's data: the case-file form's non-empty parts, evidence always."""
    data = {k: answers[k] for k in ("evidence", "soft_evidence", "do") if answers.get(k)}
    data.setdefault("evidence", {})
    return data


def _stamp(value: dt.datetime | None) -> dt.datetime:
    """The time to store: now, or ``value`` as the same instant in UTC (a time without a zone
    is taken as UTC). SQLite keeps only the digits, so they must be UTC's."""
    if value is None:
        return now()
    return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # transactions begin where this module says
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_MS}")
    cursor.close()


class CaseBook:
    """A case book at a database ``url`` (see :func:`default_url`); opening it creates the
    database if needed and migrates its schema (:meth:`schema`)."""

    def __init__(self, url: str | None = None):
        self.url = url or default_url()
        try:
            self.engine: Engine = self._connect(self.url)
            self._migrate()
        except sa.exc.ArgumentError as exc:
            raise UsageError(f"--db {self.url!r} is not a database URL: {exc}") from None
        except sa.exc.OperationalError as exc:
            reason = str(exc.orig).splitlines()[0] if exc.orig else str(exc)
            raise CaseBookError(f"cannot open the case book at {self._shown}: {reason}") from None

    @property
    def _shown(self) -> str:
        """The URL with any password hidden."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"CaseBook({self._shown!r})"

    @staticmethod
    def _connect(url: str) -> Engine:
        parsed = sa.engine.make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(url, connect_args={"timeout": BUSY_MS / 1000})
            sa.event.listen(engine, "connect", _sqlite_pragmas)
            # SQLite's own transaction handling starts late; begin explicitly (IMMEDIATE:
            # take the write lock at the start, so two writers queue instead of deadlocking)
            sa.event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
            return engine
        if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
            url = parsed.set(drivername="postgresql+psycopg")
        return sa.create_engine(url, pool_pre_ping=True)

    # --- schema ------------------------------------------------------------------------------

    @staticmethod
    def _alembic(connection: Connection):
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        return config

    @staticmethod
    def code_revision() -> str:
        """The newest schema revision this code knows."""
        from alembic.script import ScriptDirectory

        config = CaseBook._alembic(None)  # type: ignore[arg-type]
        return ScriptDirectory.from_config(config).get_current_head()

    def schema(self) -> str | None:
        """The schema revision the database holds (None before the first migration)."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def _migrate(self) -> None:
        from alembic import command
        from alembic.script import ScriptDirectory

        with self.engine.begin() as connection:
            config = self._alembic(connection)
            known = {r.revision for r in ScriptDirectory.from_config(config).walk_revisions()}
            from alembic.runtime.migration import MigrationContext

            current = MigrationContext.configure(connection).get_current_revision()
            if current is not None and current not in known:
                raise CaseBookError(
                    f"the case book at {self._shown} has schema {current!r}, newer than this "
                    f"crampnet knows (up to {self.code_revision()!r}): update crampnet, or "
                    "use another --db"
                )
            command.upgrade(config, "head")

    # --- writing: one transaction each -------------------------------------------------------

    def add(
        self,
        label: str,
        answers: Mapping[str, object],
        *,
        at: dt.datetime | None = None,
        model: Mapping[str, str] | None = None,
        posterior: Mapping | None = None,
    ) -> int:
        """A new case with its first answers (case-file form: ``evidence``, ``soft_evidence``,
        ``do``); returns its id."""
        label = _check_label(label)
        at = _stamp(at)
        data = _answers_data(answers)
        with self.engine.begin() as connection:
            case_id = connection.execute(
                sa.insert(cases_table).values(label=label, created=at, updated=at, entries=0)
            ).inserted_primary_key[0]
            self._append(connection, case_id, "answers", data, at, model, posterior)
        return int(case_id)

    def update(
        self,
        case_id: int,
        changes: Mapping[str, str | None] | None = None,
        *,
        note: str | None = None,
        outcomes: list[Mapping[str, str]] | None = None,
        at: dt.datetime | None = None,
        model: Mapping[str, str] | None = None,
        posterior: Mapping | None = None,
        answers: Mapping[str, object] | None = None,
    ) -> list[Entry]:
        """Append, in one transaction, a change of answers (``changes``: variable -> state,
        None takes an answer back; or ``answers``, the whole answers anew in case-file form,
        for a change a ``changes`` cannot say: a soft answer or an intervention), follow-up
        ``outcomes`` and a ``note``; returns the new entries. Nothing already written
        changes."""
        if changes and answers is not None:
            raise UsageError("give the new answers as changes or as answers, not both")
        at = _stamp(at)
        with self.engine.begin() as connection:
            self._exists(connection, case_id)
            new = []
            if answers is not None:
                data = _answers_data(answers)
                new.append(self._append(connection, case_id, "answers", data, at, model, posterior))
            if changes:
                new.append(
                    self._append(
                        connection, case_id, "set", {"set": dict(changes)}, at, model, posterior
                    )
                )
            for outcome in outcomes or []:
                if outcome.get("outcome") not in OUTCOMES:
                    raise UsageError(
                        f"an outcome must be one of {', '.join(OUTCOMES)}, not "
                        f"{outcome.get('outcome')!r}"
                    )
                new.append(self._append(connection, case_id, "outcome", dict(outcome), at))
            if note:
                new.append(self._append(connection, case_id, "note", {"text": str(note)}, at))
        return new

    def delete(self, case_id: int) -> None:
        """Remove a case and every entry of it (SQLite overwrites the freed pages)."""
        with self.engine.begin() as connection:
            self._exists(connection, case_id)
            connection.execute(sa.delete(entries_table).where(entries_table.c.case_id == case_id))
            connection.execute(sa.delete(cases_table).where(cases_table.c.id == case_id))

    def _append(self, connection, case_id, kind, data, at, model=None, posterior=None) -> Entry:
        model = dict(model) if model else None
        entry_id = connection.execute(
            sa.insert(entries_table).values(
                case_id=case_id,
                at=at,
                kind=kind,
                data=data,
                model_version=(model or {}).get("version"),
                priors_sha256=(model or {}).get("sha256"),
                posterior=posterior,
            )
        ).inserted_primary_key[0]
        connection.execute(  # the case's last update and count, in the same transaction
            sa.update(cases_table)
            .where(cases_table.c.id == case_id)
            .values(
                updated=sa.func.coalesce(
                    sa.case((cases_table.c.updated > at, cases_table.c.updated), else_=at), at
                ),
                entries=cases_table.c.entries + 1,
            )
        )
        return Entry(int(entry_id), case_id, at, kind, dict(data), model, posterior)

    @staticmethod
    def _exists(connection, case_id: int) -> None:
        found = connection.execute(
            sa.select(cases_table.c.id).where(cases_table.c.id == case_id)
        ).first()
        if found is None:
            raise CaseBookError(f"no case {case_id} in the case book")

    # --- reading -----------------------------------------------------------------------------

    def get(self, case_id: int) -> Case:
        """A case with its whole timeline; a :class:`CaseBookError` if there is none."""
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(cases_table).where(cases_table.c.id == case_id)
            ).first()
            if row is None:
                raise CaseBookError(f"no case {case_id} in the case book")
            entries = connection.execute(
                sa.select(entries_table)
                .where(entries_table.c.case_id == case_id)
                .order_by(entries_table.c.id)
            ).all()
        return Case(row.id, row.label, _utc(row.created), [_entry(e) for e in entries])

    def list(self, limit: int | None = 50) -> list[CaseSummary]:
        """The most recently updated cases first (``limit`` of them; None for all): read
        from an index of the cases' last update, however many entries the book holds."""
        query = sa.select(
            cases_table.c.id,
            cases_table.c.label,
            cases_table.c.created,
            cases_table.c.updated,
            cases_table.c.entries,
        ).order_by(cases_table.c.updated.desc(), cases_table.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [CaseSummary(r[0], r[1], _utc(r[2]), _utc(r[3] or r[2]), r[4]) for r in rows]

    def count(self) -> int:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(sa.func.count()).select_from(cases_table)).scalar()

    def cases(self, batch: int = 1000, *, posteriors: bool = True) -> Iterator[Case]:
        """Every case with its timeline, by id, read ``batch`` cases at a time (flat memory
        however big the book); ``posteriors=False`` leaves the stored posteriors unread (an
        export of the latest answers needs none, and decoding them is most of its time)."""
        columns = [c for c in entries_table.c if posteriors or c.name != "posterior"]
        after = 0
        while True:
            with self.engine.connect() as connection:
                heads = connection.execute(
                    sa.select(cases_table)
                    .where(cases_table.c.id > after)
                    .order_by(cases_table.c.id)
                    .limit(batch)
                ).all()
                if not heads:
                    return
                ids = [h.id for h in heads]
                entries = connection.execute(
                    sa.select(*columns)
                    .where(entries_table.c.case_id.in_(ids))
                    .order_by(entries_table.c.case_id, entries_table.c.id)
                ).all()
            by_case: dict[int, list[Entry]] = {i: [] for i in ids}
            for e in entries:
                by_case[e.case_id].append(_entry(e, posteriors))
            for h in heads:
                yield Case(h.id, h.label, _utc(h.created), by_case[h.id])
            after = ids[-1]

    # --- whole books -------------------------------------------------------------------------

    def dump(self) -> Iterator[dict]:
        """Every case as a dict (:meth:`Case.to_dict`): the lines of a full JSON Lines copy."""
        for case in self.cases():
            yield case.to_dict()

    def load(self, cases: Iterator[Mapping]) -> int:
        """Add cases from :meth:`dump`'s dicts, each with its whole timeline as it was (new
        ids, the same labels, times, entries and stored posteriors); returns how many."""
        n = 0
        for case in cases:
            with self.engine.begin() as connection:
                created = _stamp(dt.datetime.fromisoformat(case["created"]))
                case_id = connection.execute(
                    sa.insert(cases_table).values(
                        label=_check_label(case["label"]), created=created, updated=created
                    )
                ).inserted_primary_key[0]
                for e in case["entries"]:
                    if e["kind"] not in KINDS:
                        raise UsageError(f"entry kind {e['kind']!r} is not one of {KINDS}")
                    self._append(
                        connection,
                        case_id,
                        e["kind"],
                        e["data"],
                        _stamp(dt.datetime.fromisoformat(e["at"])),
                        e.get("model"),
                        e.get("posterior"),
                    )
            n += 1
        return n


def _entry(row, posterior: bool = True) -> Entry:
    """An entry from its row (``posterior=False``: a row read without that column)."""
    model = None
    if row.model_version or row.priors_sha256:
        model = {"version": row.model_version, "sha256": row.priors_sha256}
    shown = row.posterior if posterior else None
    return Entry(row.id, row.case_id, _utc(row.at), row.kind, row.data, model, shown)


def _check_label(label: object) -> str:
    text = str(label).strip()
    if not text or len(text) > LABEL_CHARS:
        raise UsageError(f"a case label must be 1 to {LABEL_CHARS} characters, got {label!r}")
    return text


def read_dump(path: str | Path) -> Iterator[dict]:
    """The cases of a JSON Lines copy written from :meth:`CaseBook.dump`, line by line."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UsageError(f"{path}:{number}: not a JSON line: {exc.msg}") from None

"""A throwaway PostgreSQL cluster for the tests: ``initdb`` into a temporary folder, a server
listening on a unix socket in that folder only (no TCP), a fresh database per test.

The binaries are looked up on ``PATH``, then under ``/usr/lib/postgresql/*/bin/`` (Debian's
layout, newest version first). ``initdb`` refuses to run as root, so when the tests run as root
(as CI does) the cluster belongs to the ``postgres`` system user and every server command runs
through ``runuser -u postgres --``. Nothing is written outside the temporary folder, which
:meth:`Cluster.stop` removes.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

SERVER_TOOLS = ("initdb", "pg_ctl")
START_TIMEOUT = 60  # seconds pg_ctl waits for the server to accept connections
# a server whose clock zone is not UTC, as a practice's server usually is: a case book must keep
# the same instants whatever zone the server hands its times back in
SERVER_TIMEZONE = "America/New_York"


class Unavailable(Exception):
    """No PostgreSQL server can be started here (the reason says why)."""


def find_tool(name: str) -> str | None:
    """The path of a PostgreSQL program: on ``PATH``, else the newest Debian install."""
    found = shutil.which(name)
    if found:
        return found

    def version(path: str) -> tuple:
        part = Path(path).parts[-3]
        return tuple(int(p) if p.isdigit() else 0 for p in part.split("."))

    for candidate in sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=version)[::-1]:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


class Cluster:
    """A running throwaway cluster; :meth:`url` names a database on it."""

    def __init__(self) -> None:
        tools = {name: find_tool(name) for name in SERVER_TOOLS}
        missing = [name for name, path in tools.items() if path is None]
        if missing:
            raise Unavailable(
                f"PostgreSQL server programs not found ({', '.join(missing)}: not on PATH nor "
                "under /usr/lib/postgresql/*/bin/); install them (Debian: apt-get install "
                "postgresql) to run the PostgreSQL half of these tests"
            )
        self.initdb, self.pg_ctl = tools["initdb"], tools["pg_ctl"]
        self.prefix: list[str] = []
        owner = None
        if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to postgres
            runuser = shutil.which("runuser")
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                owner = None
            if runuser is None or owner is None:
                raise Unavailable(
                    "running as root, and initdb refuses root, but there is no 'postgres' "
                    "system user or no runuser to run the server as"
                )
            self.prefix = [runuser, "-u", "postgres", "--"]
        # a short path: a unix socket's path is limited to about 100 bytes
        self.root = Path(tempfile.mkdtemp(prefix="crampnet-pg-", dir="/tmp"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock"
        self.log = self.root / "server.log"
        self.running = False
        try:
            self.socket_dir.mkdir()
            if owner is not None:
                for path in (self.root, self.socket_dir):
                    os.chown(path, owner.pw_uid, owner.pw_gid)
            os.chmod(self.root, 0o700)
            self._run(
                self.initdb,
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            )
            options = (
                f"-k {self.socket_dir} -c listen_addresses='' -c fsync=off "
                f"-c timezone={SERVER_TIMEZONE} -c max_connections=100"
            )
            self._run(
                self.pg_ctl,
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",
                "-t",
                str(START_TIMEOUT),
                "start",
            )
            self.running = True
        except BaseException:
            self.stop()
            raise

    def _run(self, *argv: str) -> None:
        done = subprocess.run(
            [*self.prefix, *argv],
            capture_output=True,
            text=True,
            cwd=self.root,
            timeout=START_TIMEOUT + 30,
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{log}"
            )

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` on this cluster (psycopg 3 drives it)."""
        return f"postgresql://postgres@/{database}?host={self.socket_dir}"

    def _admin(self):
        import psycopg

        return psycopg.connect(
            host=str(self.socket_dir), user="postgres", dbname="postgres", autocommit=True
        )

    def create_database(self) -> str:
        """A new empty database; returns its name."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        with self._admin() as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with self._admin() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server (fast: no waiting for clients) and remove the folder."""
        try:
            if self.running:
                self._run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")
                self.running = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

"""A real PostgreSQL for the tests: Debian's server binaries, a cluster made with initdb in a
temporary directory, listening on 127.0.0.1 on a free port (and a Unix socket in that
directory), stopped and removed at the end.

initdb refuses to run as root: as root the cluster belongs to the ``postgres`` system user
(the Debian package creates it), otherwise to whoever runs the tests. Authentication is
``trust`` and only on loopback; the superuser is ``postgres``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from logmarketd.store.db import Store
from logmarketd.store.pg import PgStore

__all__ = [
    "REFUSED",
    "PgServer",
    "location",
    "open_store",
    "pg_bin",
    "pg_server",
    "running_postgres",
]

SUPERUSER = "postgres"
# What either engine raises when the database itself refuses a write (a trigger, a constraint).
REFUSED = (sqlite3.IntegrityError, psycopg.errors.IntegrityError, psycopg.errors.RaiseException)


def pg_bin() -> Path | None:
    """The directory of the server's binaries (initdb, pg_ctl, postgres), None if absent."""
    found = shutil.which("pg_ctl")
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    if found:
        candidates.insert(0, Path(found).resolve().parent)
    for d in candidates:
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            return d
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    port: int
    datadir: Path
    bindir: Path
    user: str | None  # the OS user the server runs as (None: this process's)

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        out = subprocess.run(
            [str(self.bindir / "psql"), "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-d",
             self.dsn(dbname), "-c", sql],
            check=True, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        return out.stdout

    def create_database(self) -> str:
        """A new, empty database; its DSN."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.psql(f"CREATE DATABASE {name}")
        return self.dsn(name)

    def pg_ctl(self, *args: str, check: bool = True) -> None:
        subprocess.run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args],
            check=check, capture_output=True, user=self.user, timeout=120,
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("stop", "-m", mode, "-w", check=False)

    def start(self) -> None:
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.datadir.parent}"
        opts += " -c fsync=off -c max_connections=200"
        self.pg_ctl("start", "-w", "-l", str(self.datadir.parent / "server.log"), "-o", opts)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(subprocess.CalledProcessError):
                self.psql("SELECT 1")
                return
            time.sleep(0.1)
        raise RuntimeError("PostgreSQL did not come up")


@contextlib.contextmanager
def running_postgres() -> Iterator[PgServer]:
    """A fresh cluster, running; stopped and removed after."""
    bindir = pg_bin()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL server binaries (Debian package postgresql)")
    user = SUPERUSER if os.geteuid() == 0 else None
    # Short path: the Unix socket's name must fit in 107 bytes.
    top = Path(tempfile.mkdtemp(prefix="lmpg-", dir="/tmp"))
    datadir = top / "data"
    try:
        if user is not None:
            shutil.chown(top, user)
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(datadir), "-U", SUPERUSER, "--auth=trust",
             "-E", "UTF8", "--locale=C", "--no-sync"],
            check=True, capture_output=True, user=user, timeout=120,
        )  # fmt: skip
        server = PgServer(_free_port(), datadir, bindir, user)
        server.start()
        try:
            yield server
        finally:
            server.stop("immediate")
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL for the session (skipped where the server is not installed)."""
    if pg_bin() is None:
        pytest.skip("PostgreSQL is not installed (Debian package postgresql)")
    with running_postgres() as server:
        yield server


async def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """The store of the engine ``request.param``: SQLite in ``tmp_path``, or a new database
    on the session's PostgreSQL."""
    if request.param == "sqlite":
        return await Store.open(tmp_path / "ledger.db", sync="normal")
    server: PgServer = request.getfixturevalue("pg_server")
    return await PgStore.open(server.create_database())


def location(store: Any) -> Path | str:
    """Where a store is, as ``verify_ledger`` takes it: the SQLite file or the DSN."""
    return store.dsn if isinstance(store, PgStore) else store.path

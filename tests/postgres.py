"""A PostgreSQL server of our own on a free loopback port (tests and benchmarks).

PostgreSQL refuses to run as root, which CI is: there the server runs as `nobody`
(through setpriv), in a folder of /tmp that `nobody` owns, since pytest's own
temporary folders are private to root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.mosquitto import free_port, wait_for_port

SUPERUSER = "borne"
UNPRIVILEGED = "nobody"


def postgres_bin() -> Path:
    """The newest Debian PostgreSQL's bin folder."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/postgres"),
        key=lambda path: int(Path(path).parent.parent.name),
    )
    if not candidates:
        raise FileNotFoundError("no PostgreSQL under /usr/lib/postgresql (apt install postgresql)")
    return Path(candidates[-1]).parent


def _as_server_user(argv: list[str]) -> list[str]:
    """`argv` run as `nobody` when we are root; as ourselves otherwise."""
    if os.geteuid() != 0:
        return argv
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]


@dataclass
class PostgresServer:
    """initdb + postgres in a temporary folder, on 127.0.0.1, stopped by its pid."""

    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="borne-pg-")))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    databases: int = 0

    @property
    def data(self) -> Path:
        """The cluster's data folder."""
        return self.directory / "data"

    def dsn(self, database: str = "postgres") -> str:
        """A libpq connection string for `database` on this server."""
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database}"

    def start(self) -> None:
        """Create the cluster and start the server; returns once it accepts connections."""
        if os.geteuid() == 0:
            user = pwd.getpwnam(UNPRIVILEGED)
            os.chown(self.directory, user.pw_uid, user.pw_gid)
        binaries = postgres_bin()
        subprocess.run(
            _as_server_user(
                [
                    str(binaries / "initdb"),
                    "--pgdata",
                    str(self.data),
                    "--username",
                    SUPERUSER,
                    "--auth",
                    "trust",
                    "--encoding",
                    "UTF8",
                    "--no-instructions",
                ]
            ),
            check=True,
            capture_output=True,
        )
        log = (self.directory / "postgres.log").open("ab")
        with log:
            self.process = subprocess.Popen(
                _as_server_user(
                    [
                        str(binaries / "postgres"),
                        "-D",
                        str(self.data),
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(self.port),
                        "-k",
                        str(self.directory),
                        # A throwaway cluster: durability only costs time here.
                        "-c",
                        "fsync=off",
                        "-c",
                        "synchronous_commit=off",
                        "-c",
                        "full_page_writes=off",
                    ]
                ),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, timeout=30)
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        # The port opens before the server accepts sessions ("starting up").
        for _ in range(300):
            try:
                with psycopg.connect(self.dsn(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if self.process is not None and self.process.poll() is not None:
                    raise
                time.sleep(0.05)
        raise TimeoutError(f"PostgreSQL on port {self.port} never accepted a session")

    def new_database(self) -> str:
        """A fresh, empty database; returns its connection string."""
        self.databases += 1
        name = f"borne_{self.databases}"
        with psycopg.connect(self.dsn(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        """Stop the server by its pid (a fast shutdown) and remove its folder."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGINT)
            self.process.wait(timeout=30)
        shutil.rmtree(self.directory, ignore_errors=True)

"""A PostgreSQL server for benchmarks that commits as production does.

tests/postgres.py's server runs with fsync and synchronous commits off (a throwaway
cluster for tests); the hub's SQLite store commits with synchronous=FULL. Comparing
the two needs a PostgreSQL whose commit also waits for the disk, so this one keeps
PostgreSQL's durable defaults. Started the same way: initdb in a temporary folder, on
127.0.0.1 and a free port, as `nobody` when we are root.
"""

from __future__ import annotations

import os
import pwd
import subprocess
from dataclasses import dataclass

from tests.mosquitto import wait_for_port
from tests.postgres import SUPERUSER, UNPRIVILEGED, PostgresServer, postgres_bin


def _as_server_user(argv: list[str]) -> list[str]:
    """`argv` run as `nobody` when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return argv
    return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *argv]


@dataclass
class DurablePostgres(PostgresServer):
    """`tests.postgres.PostgresServer` with fsync, synchronous commit and full pages on."""

    def start(self) -> None:
        """Create the cluster and start the server; returns once it accepts sessions."""
        if os.geteuid() == 0:
            user = pwd.getpwnam(UNPRIVILEGED)
            os.chown(self.directory, user.pw_uid, user.pw_gid)
        binaries = postgres_bin()
        initdb = [str(binaries / "initdb"), "--pgdata", str(self.data), "--username", SUPERUSER]
        initdb += ["--auth", "trust", "--encoding", "UTF8", "--no-instructions"]
        subprocess.run(_as_server_user(initdb), check=True, capture_output=True)
        server = [str(binaries / "postgres"), "-D", str(self.data), "-h", "127.0.0.1"]
        server += ["-p", str(self.port), "-k", str(self.directory)]
        with (self.directory / "postgres.log").open("ab") as log:
            self.process = subprocess.Popen(
                _as_server_user(server), stdout=log, stderr=subprocess.STDOUT
            )
        wait_for_port(self.port, timeout=30)
        self._wait_until_ready()

    def new_database_url(self) -> str:
        """A fresh, empty database, as the `postgresql://` URL a hub's `[store] url` takes."""
        dsn = dict(part.split("=", 1) for part in self.new_database().split())
        return f"postgresql://{dsn['user']}@{dsn['host']}:{dsn['port']}/{dsn['dbname']}"

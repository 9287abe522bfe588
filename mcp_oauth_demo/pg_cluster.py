"""A throw-away PostgreSQL server for tests and benchmarks: ``initdb`` + ``pg_ctl`` in a temp dir.

Uses Debian's ``postgresql`` binaries (``/usr/lib/postgresql/<version>/bin``, installed by
``.ci/run``). PostgreSQL refuses to run as root, so as root the cluster is created and run
as ``nobody`` (``runuser``), in a directory handed to that user. It listens on a free
127.0.0.1 port, trusts local connections and skips fsync (a test database, never a real one).
One cluster serves a whole test session; each test module gets a database of its own
(:meth:`Cluster.new_database`). Like :mod:`mcp_oauth_demo.launcher`, for tests and benchmarks.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

RUN_AS = "nobody"


class ClusterUnavailable(Exception):
    """The PostgreSQL server binaries are not installed here."""


def find_bin_dir() -> Path:
    """The ``bin`` directory of the newest installed PostgreSQL, or :class:`ClusterUnavailable`."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3].split(".")[0])
    )
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise ClusterUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; apt-get install postgresql"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Cluster:
    bin_dir: Path
    root: Path
    port: int = field(default_factory=_free_port)
    _databases: int = 0

    @property
    def _as_user(self) -> list[str]:
        return ["runuser", "-u", RUN_AS, "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        # PostgreSQL's own binaries, with arguments built here: nothing from outside.
        subprocess.run([*self._as_user, *args], check=True, capture_output=True, timeout=120)  # noqa: S603

    def start(self) -> None:
        if os.geteuid() == 0:
            user = pwd.getpwnam(RUN_AS)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        data = self.root / "data"
        self._run(
            str(self.bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--no-sync", "--locale=C",
        )  # fmt: skip
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=300"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.root / "log"),
                  "-w", "-t", "60", "start")  # fmt: skip

    def stop(self) -> None:
        try:
            self._run(
                str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop"
            )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def new_database(self, prefix: str = "test") -> str:
        """A fresh, empty database; returns its URL."""
        self._databases += 1
        name = f"{prefix}_{self._databases}".lower()
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def start_cluster() -> Cluster:
    """Start a cluster (raises :class:`ClusterUnavailable` when PostgreSQL is not installed)."""
    bin_dir = find_bin_dir()
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        raise ClusterUnavailable("running as root and runuser is missing; PostgreSQL refuses to run as root")
    cluster = Cluster(bin_dir, Path(tempfile.mkdtemp(prefix="mcp-oauth-pg-")))
    try:
        cluster.start()
    except BaseException:
        shutil.rmtree(cluster.root, ignore_errors=True)
        raise
    return cluster

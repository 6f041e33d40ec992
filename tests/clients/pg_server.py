"""A throwaway PostgreSQL server for the replica tests, from Debian's package.

The cluster lives in a temporary directory, listens on loopback on a free port, trusts
local connections and is stopped (and deleted) afterwards. PostgreSQL refuses to run
as root, so under root the server runs as the `postgres` user the package creates.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    p = shutil.which(name)
    if p:
        return p
    raise RuntimeError(
        f"PostgreSQL's {name} not found: install the Debian package `postgresql` (scripts/deps.sh does)"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """`with PostgresServer() as pg: pg.url` -> postgres://cirrus@127.0.0.1:PORT/cirrus"""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="cirrus-pg-"))
        self.port = _free_port()
        self.proc = None
        self.as_root = os.geteuid() == 0

    def _cmd(self, argv):
        if self.as_root:
            return ["runuser", "-u", "postgres", "--", *argv]
        return argv

    def __enter__(self):
        data = self.dir / "data"
        if self.as_root:
            shutil.chown(self.dir, "postgres")
        subprocess.run(
            self._cmd([_bin("initdb"), "-D", str(data), "-U", "cirrus", "-A", "trust", "--no-sync", "-E", "UTF8"]),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.log = open(self.dir / "postgres.log", "wb")
        self.proc = subprocess.Popen(
            self._cmd([
                _bin("postgres"), "-D", str(data), "-p", str(self.port), "-k", str(self.dir),
                "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=100",
            ]),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {(self.dir / 'postgres.log').read_text()[-2000:]}")
            r = subprocess.run(
                [_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "cirrus", "-d", "postgres",
                 "-c", "CREATE DATABASE cirrus"],
                capture_output=True,
            )
            if r.returncode == 0:
                return self
            time.sleep(0.2)
        raise RuntimeError("postgres did not start in 30 s")

    @property
    def url(self) -> str:
        return f"postgres://cirrus@127.0.0.1:{self.port}/cirrus"

    def sql(self, query: str) -> str:
        r = subprocess.run(
            [_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "cirrus", "-d", "cirrus", "-At", "-c", query],
            capture_output=True, text=True, check=True,
        )
        return r.stdout

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

"""Helpers of the lockable_pg tests: the temporary server, a TCP proxy, queries on the server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

HERE = Path(__file__).resolve().parent
PKG_ROOT = HERE.parent  # python/
REPO_ROOT = PKG_ROOT.parent
sys.path.insert(0, str(PKG_ROOT))  # the package from this tree, installed or not

PG_CONFIG = os.environ.get("PG_CONFIG", "/usr/lib/postgresql/15/bin/pg_config")
PGBOUNCER = "/usr/sbin/pgbouncer"

# Used when lockable.conf is not next to the package (the package copied elsewhere).
FALLBACK_CONF = """\
shared_preload_libraries = 'lockable'
lockable.max_leases = 1000
lockable.worker_naptime = 100ms
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def pg_bindir() -> Path:
    try:
        out = subprocess.run([PG_CONFIG, "--bindir"], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.exit(f"cannot run PG_CONFIG={PG_CONFIG}: {exc}", returncode=3)
    return Path(out.strip())


def check_extension_installed() -> None:
    pkglibdir = subprocess.run([PG_CONFIG, "--pkglibdir"], check=True, capture_output=True, text=True).stdout.strip()
    sharedir = subprocess.run([PG_CONFIG, "--sharedir"], check=True, capture_output=True, text=True).stdout.strip()
    missing = [
        p for p in (Path(pkglibdir) / "lockable.so", Path(sharedir) / "extension" / "lockable.control") if not p.exists()
    ]
    if missing:
        pytest.exit(
            f"the lockable extension is not installed into {PG_CONFIG} "
            f"(missing {', '.join(map(str, missing))}): run `make PG_CONFIG={PG_CONFIG} install`",
            returncode=3,
        )


class PgServer:
    """A PostgreSQL data directory and its server, driven with pg_ctl."""

    def __init__(self, bindir: Path, datadir: Path, sockdir: Path, port: int, conf: str):
        self.bindir = bindir
        self.datadir = datadir
        self.sockdir = sockdir
        self.port = port
        self.logfile = datadir.parent / f"{datadir.name}.log"
        with open(datadir / "postgresql.conf", "a") as f:
            f.write(
                "\n# lockable_pg tests\n"
                f"port = {port}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{sockdir}'\n"
                "fsync = off\n"
                "max_connections = 60\n"
                "log_min_messages = info\n"
                + conf
            )

    def pg_ctl(self, *args: str) -> None:
        cmd = [str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60", *args]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {res.stdout}{res.stderr}\n{self.log_tail()}")

    def start(self) -> None:
        self.pg_ctl("start")

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("stop", "-m", mode)

    def restart(self) -> None:
        self.pg_ctl("restart", "-m", "fast")

    def is_running(self) -> bool:
        res = subprocess.run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "status"], capture_output=True)
        return res.returncode == 0

    def log_tail(self, n: int = 40) -> str:
        try:
            return "".join(self.logfile.read_text(errors="replace").splitlines(True)[-n:])
        except OSError:
            return ""

    def dsn(self, dbname: str = "postgres", **extra) -> str:
        """Connection string over the unix socket."""
        parts = [f"host={self.sockdir}", f"port={self.port}", f"dbname={dbname}"]
        parts += [f"{k}={v}" for k, v in extra.items()]
        return " ".join(parts)

    def tcp_dsn(self, dbname: str = "postgres", port: int = None) -> str:
        return f"host=127.0.0.1 port={port or self.port} dbname={dbname} sslmode=disable"

    def sql(self, query: str, params=None, dbname: str = "postgres"):
        """Run one query on a new connection; all rows (or None for no result set)."""
        with psycopg.connect(self.dsn(dbname), autocommit=True) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description else None

    def one(self, query: str, params=None, dbname: str = "postgres"):
        rows = self.sql(query, params, dbname)
        return rows[0][0] if rows else None


class Proxy:
    """A TCP forwarder in front of the server, to make it unreachable or silent at will.

    cut(): drop every connection and refuse new ones (connection refused).
    freeze(): keep connections open but forward nothing (requests hang).
    restore(): back to normal.
    """

    def __init__(self, upstream_port: int):
        self.upstream = ("127.0.0.1", upstream_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._socks: list = []
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = False
        self._listener = None
        self._listen()

    def _listen(self):
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(64)
        self._listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def _accept(self, ls):
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while not self._flowing.wait(0.05):
                    if self._closed:
                        return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _drop_all(self):
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def cut(self):
        if self._listener is not None:
            # shutdown() wakes the accept() in progress; close() alone would not
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        self._drop_all()

    def freeze(self):
        self._flowing.clear()

    def restore(self):
        self._flowing.set()
        if self._listener is None:
            self._listen()

    def close(self):
        self._closed = True
        self.cut()
        self._flowing.set()


def lease_row(pg, name):
    """The row of lockable_leases for ``name`` as a dict, or None."""
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        cur = conn.execute(
            "SELECT name, token, pid, ttl, renewals, waiters, expires_at FROM lockable_leases WHERE name = %s",
            (name,),
        )
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d.name for d in cur.description], row))


def stats(pg):
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        cur = conn.execute("SELECT * FROM lockable_stats")
        return dict(zip([d.name for d in cur.description], cur.fetchone()))


def waiting_backends(pg, name_fragment: str = ""):
    """pids of backends waiting in lockable_acquire (wait event type Extension)."""
    rows = pg.sql(
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Extension' AND query LIKE %s",
        (f"%lockable_acquire%{name_fragment}%",),
    )
    return [r[0] for r in rows]


def subprocess_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PKG_ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env

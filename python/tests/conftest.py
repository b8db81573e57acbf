"""Fixtures: a temporary PostgreSQL server with lockable preloaded, PgBouncer, a TCP proxy.

The servers run in a temporary directory as the current OS user (initdb
refuses root: scripts/test.sh runs pytest as `postgres` when it is root).
PostgreSQL's binaries are found through $PG_CONFIG (default
/usr/lib/postgresql/15/bin/pg_config); the lockable extension must be
installed into that PostgreSQL (`make install`).  The server uses the
settings of lockable.conf at the top of the repository, listens on a unix
socket in the temporary directory and on 127.0.0.1 (a free port), and is
stopped at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from support import (
    FALLBACK_CONF,
    PGBOUNCER,
    REPO_ROOT,
    PgServer,
    Proxy,
    check_extension_installed,
    free_port,
    pg_bindir,
    wait_until,
)


@pytest.fixture(scope="session")
def _tmpdir():
    d = Path(tempfile.mkdtemp(prefix="lockable-pytest-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def _template(_tmpdir):
    """A fresh data directory (initdb once; servers start from copies)."""
    check_extension_installed()
    bindir = pg_bindir()
    tmpl = _tmpdir / "template"
    res = subprocess.run(
        [str(bindir / "initdb"), "-D", str(tmpl), "-A", "trust", "-E", "UTF8", "--locale=C", "-N"],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        pytest.exit(f"initdb failed: {res.stdout}{res.stderr}", returncode=3)
    return bindir, tmpl


def _new_server(tmpdir: Path, template, name: str, conf: str) -> PgServer:
    bindir, tmpl = template
    datadir = tmpdir / name
    shutil.copytree(tmpl, datadir, symlinks=True)
    os.chmod(datadir, 0o700)
    sockdir = tmpdir / f"{name}-sock"
    sockdir.mkdir()
    server = PgServer(bindir, datadir, sockdir, free_port(), conf)
    server.start()
    return server


@pytest.fixture(scope="session")
def pg(_tmpdir, _template):
    """The server with lockable preloaded; database `postgres` has the extension, `noext` has not."""
    conf_file = REPO_ROOT / "lockable.conf"
    conf = conf_file.read_text() if conf_file.exists() else FALLBACK_CONF
    server = _new_server(_tmpdir, _template, "main", conf)
    try:
        server.sql("CREATE EXTENSION lockable")
        server.sql("CREATE DATABASE noext")
        yield server
    finally:
        if server.is_running():
            server.stop("fast")


@pytest.fixture()
def pg_up(pg):
    """`pg`, for tests that stop or restart it: make sure it runs again afterwards."""
    yield pg
    if not pg.is_running():
        pg.start()


@pytest.fixture(scope="session")
def pg_not_preloaded(_tmpdir, _template):
    """A server without lockable in shared_preload_libraries, with the extension created."""
    server = _new_server(_tmpdir, _template, "nopreload", "")
    try:
        server.sql("CREATE EXTENSION lockable")
        yield server
    finally:
        if server.is_running():
            server.stop("fast")


@pytest.fixture(scope="session")
def pgbouncer(pg, _tmpdir):
    """PgBouncer in transaction pooling mode in front of `pg`, on 127.0.0.1; its dsn and pool size."""
    if not os.access(PGBOUNCER, os.X_OK):
        pytest.skip(f"{PGBOUNCER} is not installed (Debian package pgbouncer)")
    d = _tmpdir / "pgbouncer"
    d.mkdir()
    user = pg.one("SELECT current_user")
    port = free_port()
    pool_size = 4
    (d / "userlist.txt").write_text(f'"{user}" ""\n')
    (d / "pgbouncer.ini").write_text(
        f"""\
[databases]
postgres = host={pg.sockdir} port={pg.port} dbname=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {d}/userlist.txt
pool_mode = transaction
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
server_round_robin = 0
server_reset_query =
logfile = {d}/pgbouncer.log
pidfile = {d}/pgbouncer.pid
"""
    )
    proc = subprocess.Popen(
        [PGBOUNCER, str(d / "pgbouncer.ini")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    dsn = f"host=127.0.0.1 port={port} dbname=postgres user={user} sslmode=disable"

    def ready():
        if proc.poll() is not None:
            raise RuntimeError(f"pgbouncer exited: {proc.stderr.read().decode(errors='replace')}")
        try:
            with psycopg.connect(dsn, autocommit=True, prepare_threshold=None, connect_timeout=2) as c:
                return c.execute("SELECT 1").fetchone()[0] == 1
        except psycopg.OperationalError:
            return False

    try:
        wait_until(ready, 15, 0.05, "pgbouncer to accept connections")
        yield {"dsn": dsn, "pool_size": pool_size}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture()
def proxy(pg):
    p = Proxy(pg.port)
    yield p
    p.close()


@pytest.fixture()
def lease_name(request):
    """A lease name of its own for each test."""
    return f"pytest:{request.node.name}"



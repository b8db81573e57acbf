"""Lock: the with-block, waits, acquire_any, try_*, fencing, bad input."""

from __future__ import annotations

import datetime
import socket
import subprocess
import sys
import threading
import time

import psycopg
import pytest

import lockable_pg
from lockable_pg import (
    CouldNotAcquireLockError,
    ExtensionNotInstalledError,
    ExtensionNotLoadedError,
    InvalidNameError,
    InvalidRequestError,
    Lock,
    LockLostError,
    try_acquire,
    try_heartbeat,
    try_release,
)
from support import lease_row, stats, subprocess_env, wait_until, waiting_backends


def is_held(pg, name, token):
    return pg.one("SELECT lockable_is_held(%s, %s)", (name, token))


# ---------------------------------------------------------------------------
# the with-block


def test_with_block_holds_the_lease_and_releases_it(pg, lease_name):
    with Lock(lease_name, dsn=pg.dsn(), ttl=30) as lock:
        assert isinstance(lock.token, int) and lock.token > 0
        assert lock.held and not lock.lost.is_set()
        row = lease_row(pg, lease_name)
        assert row is not None and row["token"] == lock.token
        assert row["ttl"] == datetime.timedelta(seconds=30)
        # someone else cannot take it meanwhile
        assert pg.one("SELECT lockable_acquire(%s)", (lease_name,)) is None
        token = lock.token
    assert lease_row(pg, lease_name) is None
    assert lock.token is None and not lock.held
    assert not is_held(pg, lease_name, token)


def test_with_block_releases_on_exception(pg, lease_name):
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with Lock(lease_name, dsn=pg.dsn()) as lock:
            assert lease_row(pg, lease_name)["token"] == lock.token
            raise Boom()
    assert lease_row(pg, lease_name) is None


def test_tokens_increase_and_lock_can_be_reused(pg, lease_name):
    lock = Lock(lease_name, dsn=pg.dsn())
    first = lock.acquire()
    assert first == lock.token
    with pytest.raises(RuntimeError, match="already acquired"):
        lock.acquire()
    assert lock.release() is True
    with pytest.raises(RuntimeError, match="not acquired"):
        lock.release()
    second = lock.acquire()
    assert second > first
    assert lock.release() is True


def test_dsn_defaults_to_libpq_environment(pg, lease_name, monkeypatch):
    monkeypatch.setenv("PGHOST", str(pg.sockdir))
    monkeypatch.setenv("PGPORT", str(pg.port))
    monkeypatch.setenv("PGDATABASE", "postgres")
    monkeypatch.delenv("PGAPPNAME", raising=False)
    with Lock(lease_name, ttl=datetime.timedelta(seconds=20)) as lock:
        row = lease_row(pg, lease_name)
        assert row["token"] == lock.token
        assert row["ttl"] == datetime.timedelta(seconds=20)
        apps = pg.sql("SELECT application_name FROM pg_stat_activity WHERE application_name = 'lockable_pg'")
        assert apps  # the lock's own connections, named


def test_release_after_force_release_returns_false(pg, lease_name):
    lock = Lock(lease_name, dsn=pg.dsn(), ttl=30)
    lock.acquire()
    assert pg.one("SELECT lockable_force_release(%s)", (lease_name,)) is True
    assert lock.release() is False


# ---------------------------------------------------------------------------
# non-blocking and timed waits


def test_non_blocking_raises_at_once_when_held(pg, lease_name):
    holder = try_acquire(lease_name, dsn=pg.dsn(), ttl=30)
    assert holder is not None
    try:
        before = stats(pg)
        with pytest.raises(CouldNotAcquireLockError) as info:
            with Lock(lease_name, dsn=pg.dsn(), blocking=False):
                pytest.fail("the block must not run")
        assert info.value.name == lease_name
        assert isinstance(info.value, lockable_pg.LockableError)
        after = stats(pg)
        assert after["refused"] == before["refused"] + 1
        assert after["waited"] == before["waited"]  # never queued
        with pytest.raises(CouldNotAcquireLockError):
            Lock(lease_name, dsn=pg.dsn(), timeout=0).acquire()
        with pytest.raises(CouldNotAcquireLockError):
            Lock(lease_name, dsn=pg.dsn()).acquire(blocking=False)
    finally:
        assert try_release(lease_name, holder, dsn=pg.dsn()) is True
    with Lock(lease_name, dsn=pg.dsn(), blocking=False) as lock:
        assert lock.token > holder


def test_timed_wait_runs_out_in_the_server(pg, lease_name):
    holder = try_acquire(lease_name, dsn=pg.dsn(), ttl=30)
    try:
        before = stats(pg)
        t0 = time.monotonic()
        with pytest.raises(CouldNotAcquireLockError):
            with Lock(lease_name, dsn=pg.dsn(), timeout=0.5):
                pytest.fail("the block must not run")
        assert time.monotonic() - t0 >= 0.45  # it did wait
        after = stats(pg)
        # one acquire that queued once and was refused once: no polling
        assert after["waited"] == before["waited"] + 1
        assert after["refused"] == before["refused"] + 1
        assert lease_row(pg, lease_name)["waiters"] == 0
    finally:
        try_release(lease_name, holder, dsn=pg.dsn())


def test_timed_wait_ignores_statement_timeout(pg, lease_name):
    # The session's statement_timeout (here 100 ms) does not cut the wait short.
    holder = try_acquire(lease_name, dsn=pg.dsn(), ttl=30)
    try:
        dsn = pg.dsn(options="'-c statement_timeout=100 -c lock_timeout=100'")
        t0 = time.monotonic()
        with pytest.raises(CouldNotAcquireLockError):
            Lock(lease_name, dsn=dsn, timeout=datetime.timedelta(milliseconds=600)).acquire()
        assert time.monotonic() - t0 >= 0.55
    finally:
        try_release(lease_name, holder, dsn=pg.dsn())


def test_timed_wait_gets_the_lease_when_released(pg, lease_name):
    holder = try_acquire(lease_name, dsn=pg.dsn(), ttl=30)
    timer = threading.Timer(0.3, try_release, (lease_name, holder), {"dsn": pg.dsn()})
    timer.start()
    try:
        with Lock(lease_name, dsn=pg.dsn(), timeout=20) as lock:
            assert lock.token > holder
            assert lease_row(pg, lease_name)["token"] == lock.token
    finally:
        timer.join()


HOLDER_SCRIPT = r"""
import sys
from lockable_pg import try_acquire, try_release
name, dsn = sys.argv[1], sys.argv[2]
token = try_acquire(name, dsn=dsn, ttl=30)
print(token, flush=True)
sys.stdin.readline()           # the test says when
print(try_release(name, token, dsn=dsn), flush=True)
"""


def test_blocking_acquire_is_woken_by_a_release_from_another_process(pg, lease_name):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER_SCRIPT, lease_name, pg.dsn()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    try:
        holder_token = int(holder.stdout.readline())
        before = stats(pg)
        got = {}

        def waiter():
            with Lock(lease_name, dsn=pg.dsn(), timeout=None) as lock:  # waits forever
                got["token"] = lock.token
                got["row"] = lease_row(pg, lease_name)

        t = threading.Thread(target=waiter)
        t.start()
        # the waiter is queued in the server, not polling
        wait_until(lambda: lease_row(pg, lease_name)["waiters"] == 1, what="the waiter to queue")
        assert waiting_backends(pg, lease_name)
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "True"
        t.join(20)
        assert not t.is_alive()
        assert got["token"] > holder_token
        assert got["row"]["token"] == got["token"]
        after = stats(pg)
        assert after["waited"] == before["waited"] + 1
        assert after["refused"] == before["refused"]  # it never had to ask again
    finally:
        holder.kill()
        holder.wait()


# ---------------------------------------------------------------------------
# fencing


def test_check_passes_while_held_and_raises_once_lost(pg, lease_name):
    with Lock(lease_name, dsn=pg.dsn(), ttl=30) as lock:
        for _ in range(8):  # the same query many times on one connection
            lock.check()
        token = lock.token
        assert pg.one("SELECT lockable_force_release(%s)", (lease_name,)) is True
        newer = try_acquire(lease_name, dsn=pg.dsn(), ttl=30)
        assert newer > token
        with pytest.raises(LockLostError) as info:
            lock.check()
        assert info.value.sqlstate == "55P03"
        assert info.value.name == lease_name and info.value.token == token
        assert str(token) in str(info.value)
        assert lock.lost.is_set() and not lock.held
    # the with-block's release found it no longer ours, and left the newer holder alone
    assert is_held(pg, lease_name, newer)
    try_release(lease_name, newer, dsn=pg.dsn())


def test_token_fences_writes_in_a_trigger(pg, lease_name):
    table = "fenced_report"
    pg.sql(
        f"""
        CREATE TABLE {table} (id int PRIMARY KEY, body text, lease_token bigint NOT NULL);
        CREATE FUNCTION {table}_fence() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM lockable_check({psycopg.sql.quote(lease_name)}, NEW.lease_token);
            RETURN NEW;
        END $$;
        CREATE TRIGGER {table}_fence BEFORE INSERT OR UPDATE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {table}_fence();
        """
    )
    try:
        a = Lock(lease_name, dsn=pg.dsn(), ttl=30)
        a.acquire()
        pg.sql(f"INSERT INTO {table} VALUES (1, 'a', %s)", (a.token,))
        pg.sql("SELECT lockable_force_release(%s)", (lease_name,))  # A "stalls" and loses it
        with Lock(lease_name, dsn=pg.dsn(), blocking=False) as b:
            pg.sql(f"UPDATE {table} SET body = 'b', lease_token = %s", (b.token,))
            with pytest.raises(psycopg.errors.LockNotAvailable):
                pg.sql(f"UPDATE {table} SET body = 'late a', lease_token = %s", (a.token,))
        assert pg.one(f"SELECT body FROM {table}") == "b"
        assert a.release() is False
    finally:
        pg.sql(f"DROP TABLE {table}; DROP FUNCTION {table}_fence()")


# ---------------------------------------------------------------------------
# acquire_any


def test_acquire_any_takes_the_first_free_name(pg, lease_name):
    names = [f"{lease_name}:{i}" for i in range(3)]
    first = try_acquire(names[0], dsn=pg.dsn(), ttl=30)
    try:
        with Lock.acquire_any(names, dsn=pg.dsn(), ttl=30) as lock:
            assert lock.name == names[1]
            assert lease_row(pg, names[1])["token"] == lock.token
            lock.check()
            with Lock.acquire_any(names, dsn=pg.dsn(), ttl=30) as other:
                assert other.name == names[2]
                with pytest.raises(CouldNotAcquireLockError) as info:
                    Lock.acquire_any(names, dsn=pg.dsn(), blocking=False)
                assert info.value.name == tuple(names)
            assert lease_row(pg, names[2]) is None
        assert lease_row(pg, names[1]) is None
    finally:
        try_release(names[0], first, dsn=pg.dsn())


def test_acquire_any_waits_for_any_name_to_come_free(pg, lease_name):
    names = [f"{lease_name}:{i}" for i in range(2)]
    tokens = [try_acquire(n, dsn=pg.dsn(), ttl=30) for n in names]
    timer = threading.Timer(0.3, try_release, (names[1], tokens[1]), {"dsn": pg.dsn()})
    timer.start()
    try:
        with Lock.acquire_any(names, dsn=pg.dsn(), timeout=20) as lock:
            assert lock.name == names[1]
            assert lock.token > tokens[1]
        with pytest.raises(CouldNotAcquireLockError):
            Lock.acquire_any([names[0]], dsn=pg.dsn(), timeout=0.2)
    finally:
        timer.join()
        try_release(names[0], tokens[0], dsn=pg.dsn())


def test_acquire_any_bad_input(pg, lease_name):
    with pytest.raises(ValueError):
        Lock.acquire_any([], dsn=pg.dsn())
    with pytest.raises(TypeError):
        Lock.acquire_any("abc", dsn=pg.dsn())
    with pytest.raises(TypeError):
        Lock.acquire_any(["a", None], dsn=pg.dsn())
    with pytest.raises(InvalidNameError) as info:
        Lock.acquire_any([lease_name, ""], dsn=pg.dsn())
    assert info.value.sqlstate == "22023"
    assert lease_row(pg, lease_name) is None  # nothing taken


# ---------------------------------------------------------------------------
# try_*


def test_try_functions(pg, lease_name):
    token = try_acquire(lease_name, dsn=pg.dsn(), ttl=2)
    assert isinstance(token, int)
    assert try_acquire(lease_name, dsn=pg.dsn()) is None
    assert lease_row(pg, lease_name)["ttl"] == datetime.timedelta(seconds=2)
    expires = lease_row(pg, lease_name)["expires_at"]
    assert try_heartbeat(lease_name, token, dsn=pg.dsn()) is True
    assert lease_row(pg, lease_name)["expires_at"] > expires
    assert lease_row(pg, lease_name)["renewals"] == 1
    assert try_heartbeat(lease_name, token + 1, dsn=pg.dsn()) is False
    assert try_release(lease_name, token + 1, dsn=pg.dsn()) is False
    assert try_release(lease_name, token, dsn=pg.dsn()) is True
    assert try_release(lease_name, token, dsn=pg.dsn()) is False
    assert try_heartbeat(lease_name, token, dsn=pg.dsn()) is False
    again = try_acquire(lease_name, dsn=pg.dsn())
    assert again > token
    assert try_release(lease_name, again, dsn=pg.dsn()) is True


# ---------------------------------------------------------------------------
# bad input and missing pieces


@pytest.mark.parametrize(
    "name, sqlstate",
    [("", "22023"), ("x" * 201, "22001"), ("é" * 101, "22001"), ("a\x00b", "22021")],
    ids=["empty", "201-bytes", "202-utf8-bytes", "nul"],
)
def test_refused_names_raise_a_value_error_with_the_servers_message(pg, name, sqlstate):
    for call in (
        lambda: Lock(name, dsn=pg.dsn()).acquire(),
        lambda: try_acquire(name, dsn=pg.dsn()),
        lambda: try_heartbeat(name, 1, dsn=pg.dsn()),
        lambda: try_release(name, 1, dsn=pg.dsn()),
    ):
        try:
            call()
        except InvalidNameError as err:
            assert isinstance(err, ValueError)
            assert err.sqlstate == sqlstate
            assert "lease name" in err.message
            if sqlstate == "22001":
                assert "200 bytes" in err.detail
        else:
            pytest.fail(f"{name!r} was accepted")


def test_names_are_exact_bytes(pg):
    odd = "  spaces, 'quotes' \\backslash\\ $$dollars$$ ünïcödé / ? # %  "
    with Lock(odd, dsn=pg.dsn()) as lock:
        assert lease_row(pg, odd)["token"] == lock.token
        assert lease_row(pg, odd.strip()) is None
    long = "é" * 100  # 200 bytes: the limit
    with Lock(long, dsn=pg.dsn()) as lock:
        assert lease_row(pg, long)["token"] == lock.token


def test_refused_ttl_is_a_value_error(pg, lease_name):
    with pytest.raises(InvalidRequestError) as info:
        Lock(lease_name, dsn=pg.dsn(), ttl=datetime.timedelta(days=2)).acquire()  # above max_ttl (1 h)
    assert isinstance(info.value, ValueError) and not isinstance(info.value, InvalidNameError)
    assert info.value.sqlstate == "22023"
    assert "max_ttl" in str(info.value)
    assert lease_row(pg, lease_name) is None


def test_bad_arguments_are_refused_before_any_connection():
    dsn = "host=/nonexistent port=1"  # would fail if it were used
    for kwargs, exc in [
        ({"ttl": 0}, ValueError),
        ({"ttl": -1}, ValueError),
        ({"ttl": float("nan")}, ValueError),
        ({"ttl": "60"}, TypeError),
        ({"ttl": True}, TypeError),
        ({"timeout": -1}, ValueError),
        ({"blocking": False, "timeout": 5}, ValueError),
        ({"ttl": 3, "heartbeat_period": 3}, ValueError),
        ({"heartbeat_period": 0}, ValueError),
        ({"on_lock_loss": "not callable"}, TypeError),
        ({"slots": 2}, NotImplementedError),
        ({"shared": True}, NotImplementedError),
    ]:
        with pytest.raises(exc):
            Lock("x", dsn=dsn, **kwargs)
    with pytest.raises(TypeError):
        Lock(None, dsn=dsn)
    with pytest.raises(TypeError):
        Lock(b"bytes", dsn=dsn)
    with pytest.raises(NotImplementedError):
        Lock.acquire_any(["a"], dsn=dsn, slots=3)
    with pytest.raises(TypeError):
        try_heartbeat("x", "1", dsn=dsn)
    lock = Lock("x", dsn=dsn, ttl=datetime.timedelta(minutes=1), slots=1, shared=False)
    assert lock.ttl == 60 and lock.heartbeat_period == 20
    with pytest.raises(RuntimeError):
        lock.check()


def test_missing_extension_says_so(pg, lease_name):
    with pytest.raises(ExtensionNotInstalledError) as info:
        Lock(lease_name, dsn=pg.dsn("noext")).acquire()
    assert "CREATE EXTENSION lockable" in str(info.value)
    assert '"noext"' in str(info.value)
    assert info.value.sqlstate == "42883"
    with pytest.raises(ExtensionNotInstalledError):
        try_release(lease_name, 1, dsn=pg.dsn("noext"))


def test_extension_without_shared_preload_libraries_says_so(pg_not_preloaded, lease_name):
    with pytest.raises(ExtensionNotLoadedError) as info:
        Lock(lease_name, dsn=pg_not_preloaded.dsn()).acquire()
    assert "shared_preload_libraries" in str(info.value)
    assert info.value.sqlstate == "55000"
    with pytest.raises(ExtensionNotLoadedError):
        try_acquire(lease_name, dsn=pg_not_preloaded.dsn())


def test_unreachable_server_raises_operational_error(tmp_path, lease_name):
    with pytest.raises(psycopg.OperationalError):
        Lock(lease_name, dsn=f"host={tmp_path} port=1 connect_timeout=2").acquire()
    with pytest.raises(psycopg.OperationalError):
        try_acquire(lease_name, dsn=f"host={tmp_path} port=1")


def test_connect_timeout_bounds_connecting_to_a_silent_server(lease_name):
    with socket.socket() as silent:  # accepts TCP connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        with pytest.raises(lockable_pg.ServerTimeoutError):
            Lock(lease_name, dsn=f"host=127.0.0.1 port={port} connect_timeout=2").acquire()

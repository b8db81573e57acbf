"""Faults during a blocking acquire: Ctrl-C, cancel, lost connection. No lease is ever left behind."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
import threading

import psycopg
import pytest

from lockable_pg import Lock, try_acquire, try_release
from lockable_pg._pgconn import Connection
from support import lease_row, stats, subprocess_env, wait_until, waiting_backends

WAITER_SCRIPT = r"""
import signal, sys, time
from lockable_pg import Lock
# Ctrl-C as at a terminal: a shell without job control that started the
# test run in the background (a CI runner's, say) leaves SIGINT ignored,
# and Python then raises no KeyboardInterrupt.
signal.signal(signal.SIGINT, signal.default_int_handler)
name, dsn = sys.argv[1], sys.argv[2]
try:
    with Lock(name, dsn=dsn, ttl=30) as lock:     # waits until free
        print("ACQUIRED", lock.token, flush=True)
        time.sleep(60)
except KeyboardInterrupt:
    print("INTERRUPTED", flush=True)
"""


def start_waiter(pg, name):
    return subprocess.Popen(
        [sys.executable, "-c", WAITER_SCRIPT, name, pg.dsn()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )


def test_ctrl_c_cancels_the_server_side_wait(pg, lease_name):
    holder = try_acquire(lease_name, dsn=pg.dsn(), ttl=30)
    child = start_waiter(pg, lease_name)
    try:
        wait_until(lambda: lease_row(pg, lease_name)["waiters"] == 1, what="the child to queue")
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=20)
        assert child.returncode == 0, err
        assert out.split() == ["INTERRUPTED"]
        # the wait was cancelled in the server before KeyboardInterrupt reached the program
        assert lease_row(pg, lease_name)["waiters"] == 0
        assert not waiting_backends(pg, lease_name)
    finally:
        child.kill()
        child.wait()
    assert try_release(lease_name, holder, dsn=pg.dsn()) is True
    assert lease_row(pg, lease_name) is None  # not handed to the interrupted waiter


@pytest.mark.parametrize("attempt", range(3))
def test_ctrl_c_at_the_moment_of_the_grant_leaves_no_lease(pg, lease_name, attempt):
    # The release hands the lease to the waiter while Ctrl-C reaches it: whether
    # the grant, the cancel or the with-block comes first, nothing is left held.
    holder = try_acquire(lease_name, dsn=pg.dsn(), ttl=30)
    child = start_waiter(pg, lease_name)
    try:
        wait_until(lambda: lease_row(pg, lease_name)["waiters"] == 1, what="the child to queue")
        assert try_release(lease_name, holder, dsn=pg.dsn()) is True
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=20)
        assert child.returncode == 0, err
        assert out.rstrip().endswith("INTERRUPTED")  # Ctrl-C may cut the "ACQUIRED" line short
    finally:
        child.kill()
        child.wait()
    assert lease_row(pg, lease_name) is None


def test_interrupt_after_the_grant_arrived_releases_it(pg, lease_name, monkeypatch):
    # Deterministically: the answer (a grant) is in the socket, unread, when
    # KeyboardInterrupt strikes.  The client cancels (too late), reads the
    # grant anyway and releases it before re-raising.
    real_collect = Connection._collect
    armed = {"on": True}

    def collect(self, deadline):
        if armed["on"]:
            armed["on"] = False
            select.select([self.pgconn.socket], [], [], 10)  # the answer has arrived
            raise KeyboardInterrupt
        return real_collect(self, deadline)

    monkeypatch.setattr(Connection, "_collect", collect)
    before = stats(pg)
    lock = Lock(lease_name, dsn=pg.dsn(), ttl=30)
    with pytest.raises(KeyboardInterrupt):
        lock.acquire()
    assert not armed["on"]
    after = stats(pg)
    assert after["acquired"] == before["acquired"] + 1  # it was granted...
    assert after["released"] == before["released"] + 1  # ...and released
    assert lease_row(pg, lease_name) is None
    assert lock.token is None and not lock.held


def test_interrupt_right_after_the_answer_releases_the_grant(pg, lease_name, monkeypatch):
    # KeyboardInterrupt between reading the answer and storing the token.
    import lockable_pg._lock as impl

    real = impl._granted
    calls = {"n": 0}

    def granted(results, name):
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt
        return real(results, name)

    monkeypatch.setattr(impl, "_granted", granted)
    with pytest.raises(KeyboardInterrupt):
        Lock(lease_name, dsn=pg.dsn(), ttl=30).acquire()
    assert calls["n"] == 2
    assert lease_row(pg, lease_name) is None


def run_waiter_thread(lock):
    """Run lock.acquire() in a thread; a dict that gets 'token' or 'error'."""
    out = {}

    def run():
        try:
            out["token"] = lock.acquire()
        except BaseException as e:  # noqa: B902 - recorded for the test
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    out["thread"] = t
    return out


def test_connection_lost_while_waiting_raises(pg, proxy, lease_name):
    holder = try_acquire(lease_name, dsn=pg.dsn(), ttl=30)
    lock = Lock(lease_name, dsn=pg.tcp_dsn(port=proxy.port), ttl=30)
    out = run_waiter_thread(lock)
    try:
        wait_until(lambda: lease_row(pg, lease_name)["waiters"] == 1, what="the waiter to queue")
        proxy.cut()
        out["thread"].join(20)
        assert not out["thread"].is_alive()
        assert "token" not in out
        assert isinstance(out["error"], psycopg.OperationalError)
        assert lock.token is None and not lock.held
        # its backend notices that the client has gone (client_connection_check_interval)
        # and leaves the queue, so the lease is not handed to a dead session
        wait_until(lambda: not waiting_backends(pg, lease_name), what="the orphaned waiter to go")
        assert lease_row(pg, lease_name)["waiters"] == 0
    finally:
        try_release(lease_name, holder, dsn=pg.dsn())
    assert lease_row(pg, lease_name) is None


def test_backend_terminated_while_waiting_raises(pg, lease_name):
    holder = try_acquire(lease_name, dsn=pg.dsn(), ttl=30)
    lock = Lock(lease_name, dsn=pg.dsn(), ttl=30)
    out = run_waiter_thread(lock)
    try:
        (pid,) = wait_until(lambda: waiting_backends(pg, lease_name), what="the waiter to queue")
        pg.sql("SELECT pg_terminate_backend(%s)", (pid,))
        out["thread"].join(20)
        assert isinstance(out.get("error"), psycopg.errors.AdminShutdown)  # the server's FATAL, 57P01
        assert isinstance(out["error"], psycopg.OperationalError)
        assert lock.token is None
        assert lease_row(pg, lease_name)["waiters"] == 0
    finally:
        try_release(lease_name, holder, dsn=pg.dsn())
    assert lease_row(pg, lease_name) is None


def test_wait_cancelled_by_an_administrator_raises(pg, lease_name):
    holder = try_acquire(lease_name, dsn=pg.dsn(), ttl=30)
    lock = Lock(lease_name, dsn=pg.dsn(), ttl=30)
    out = run_waiter_thread(lock)
    try:
        (pid,) = wait_until(lambda: waiting_backends(pg, lease_name), what="the waiter to queue")
        pg.sql("SELECT pg_cancel_backend(%s)", (pid,))
        out["thread"].join(20)
        assert isinstance(out.get("error"), psycopg.errors.QueryCanceled)
        assert lock.token is None
    finally:
        try_release(lease_name, holder, dsn=pg.dsn())
    assert lease_row(pg, lease_name) is None
    # the Lock is usable again
    with lock:
        assert lease_row(pg, lease_name)["token"] == lock.token

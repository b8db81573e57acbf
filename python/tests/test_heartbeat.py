"""Heartbeats: keeping a lease past its ttl, on_lock_loss, on_heartbeat_exception, server restarts."""

from __future__ import annotations

import logging
import threading
import time

import psycopg

from lockable_pg import Lock, ServerTimeoutError, try_acquire
from support import lease_row, stats, wait_until


class Recorder:
    """Callbacks that record what happened, when, and on which thread."""

    def __init__(self, pg=None, name=None):
        self.pg = pg
        self.name = name
        self.losses = []  # (monotonic time, thread name, server's lockable_is_held at that moment)
        self.exceptions = []  # (monotonic time, thread name, exception)
        self.lost = threading.Event()
        self.token = None

    def on_lock_loss(self):
        held = None
        if self.pg is not None and self.pg.is_running():
            held = self.pg.one("SELECT lockable_is_held(%s, %s)", (self.name, self.token))
        self.losses.append((time.monotonic(), threading.current_thread().name, held))
        self.lost.set()

    def on_heartbeat_exception(self, e):
        self.exceptions.append((time.monotonic(), threading.current_thread().name, e))

    def kwargs(self):
        return {"on_lock_loss": self.on_lock_loss, "on_heartbeat_exception": self.on_heartbeat_exception}


def test_heartbeats_keep_the_lease_alive_past_its_ttl(pg, lease_name):
    rec = Recorder()
    unrenewed = try_acquire(lease_name + ":unrenewed", dsn=pg.dsn(), ttl=1.5)
    with Lock(lease_name, dsn=pg.dsn(), ttl=1.5, heartbeat_period=0.2, **rec.kwargs()) as lock:
        t0 = time.monotonic()
        # hold it for more than two ttls
        while time.monotonic() - t0 < 3.2:
            assert lock.lost.wait(0.1) is False
        row = lease_row(pg, lease_name)
        assert row is not None and row["token"] == lock.token
        assert row["renewals"] >= 8
        lock.check()
        assert lock.held
        # the same lease without heartbeats is gone
        assert pg.one("SELECT lockable_is_held(%s, %s)", (lease_name + ":unrenewed", unrenewed)) is False
        assert lock.release() is True
    assert rec.losses == [] and rec.exceptions == []


def test_on_lock_loss_when_the_lease_is_force_released(pg, lease_name, caplog):
    rec = Recorder()
    with Lock(lease_name, dsn=pg.dsn(), ttl=30, heartbeat_period=0.1, **rec.kwargs()) as lock:
        before = stats(pg)
        assert pg.one("SELECT lockable_force_release(%s)", (lease_name,)) is True
        assert rec.lost.wait(10), "on_lock_loss was not called"
        assert lock.lost.wait(1)
        assert not lock.held
        assert len(rec.losses) == 1
        _, thread_name, _ = rec.losses[0]
        assert thread_name.startswith("lockable-heartbeat") and thread_name != threading.current_thread().name
        assert rec.exceptions == []
        # heartbeats stopped: exactly one was refused, and no more follow
        wait_until(lambda: stats(pg)["heartbeats_failed"] == before["heartbeats_failed"] + 1)
        time.sleep(0.5)  # five more periods
        assert stats(pg)["heartbeats_failed"] == before["heartbeats_failed"] + 1
        assert len(rec.losses) == 1
    assert lock.token is None  # the with-block released it (release returned false)


def test_on_lock_loss_exceptions_are_logged_and_heartbeats_stop(pg, lease_name, caplog):
    def boom():
        raise RuntimeError("callback failed")

    with caplog.at_level(logging.ERROR, logger="lockable_pg"):
        with Lock(lease_name, dsn=pg.dsn(), ttl=30, heartbeat_period=0.1, on_lock_loss=boom) as lock:
            pg.sql("SELECT lockable_force_release(%s)", (lease_name,))
            assert lock.lost.wait(10)
            wait_until(lambda: any("on_lock_loss" in r.getMessage() for r in caplog.records))
    assert any(r.exc_info and "callback failed" in str(r.exc_info[1]) for r in caplog.records)


def test_on_heartbeat_exception_when_the_server_is_unreachable(pg, proxy, lease_name):
    rec = Recorder(pg, lease_name)
    lock = Lock(lease_name, dsn=pg.tcp_dsn(port=proxy.port), ttl=2, heartbeat_period=0.3, **rec.kwargs())
    rec.token = lock.acquire()
    cut_at = time.monotonic()
    proxy.cut()  # connections dropped, new ones refused
    assert rec.lost.wait(15), "on_lock_loss was not called"
    assert lock.lost.is_set()
    # failed requests were reported, on the heartbeat thread, and retried on new connections
    assert len(rec.exceptions) >= 2
    assert all(isinstance(e, psycopg.OperationalError) for _, _, e in rec.exceptions)
    assert all(t.startswith("lockable-heartbeat") for _, t, _ in rec.exceptions)
    assert rec.exceptions[0][0] < rec.losses[0][0]
    assert len(rec.losses) == 1
    # loss is declared only once the lease must have run out: the server agrees
    loss_time, _, held_then = rec.losses[0]
    assert held_then is False
    assert loss_time - cut_at < 2 + 3  # and not long after the ttl
    n = len(rec.exceptions)
    time.sleep(0.5)
    assert len(rec.exceptions) == n  # no more attempts after the loss
    proxy.restore()
    assert lock.release() is False


def test_heartbeats_recover_when_the_server_comes_back_within_the_ttl(pg, proxy, lease_name):
    rec = Recorder(pg, lease_name)
    lock = Lock(lease_name, dsn=pg.tcp_dsn(port=proxy.port), ttl=3, heartbeat_period=0.2, **rec.kwargs())
    rec.token = lock.acquire()
    proxy.cut()
    wait_until(lambda: len(rec.exceptions) >= 2, what="failed heartbeats")
    renewals = lease_row(pg, lease_name)["renewals"]
    proxy.restore()
    wait_until(lambda: lease_row(pg, lease_name)["renewals"] > renewals, what="a heartbeat after the outage")
    assert not lock.lost.is_set() and rec.losses == []
    lock.check()  # its own connection was cut too: reopened
    assert lock.release() is True


def test_heartbeat_requests_that_hang_time_out(pg, proxy, lease_name):
    rec = Recorder(pg, lease_name)
    lock = Lock(lease_name, dsn=pg.tcp_dsn(port=proxy.port), ttl=2.5, heartbeat_period=0.3, **rec.kwargs())
    rec.token = lock.acquire()
    proxy.freeze()  # connections stay open, nothing gets through
    assert rec.lost.wait(15), "on_lock_loss was not called"
    assert rec.exceptions and all(isinstance(e, ServerTimeoutError) for _, _, e in rec.exceptions)
    assert isinstance(rec.exceptions[0][2], TimeoutError)
    assert rec.losses[0][2] is False  # the server had let it go
    proxy.restore()
    assert lock.release() is False


def test_on_lock_loss_when_the_server_is_restarted_past_the_ttl(pg_up, lease_name):
    pg = pg_up
    rec = Recorder(pg, lease_name)
    lock = Lock(lease_name, dsn=pg.dsn(), ttl=2, heartbeat_period=0.3, **rec.kwargs())
    rec.token = lock.acquire()
    pg.stop("fast")  # a clean shutdown: the lease is saved with its deadline
    try:
        assert rec.lost.wait(15), "on_lock_loss was not called while the server was down"
    finally:
        pg.start()
    assert len(rec.losses) == 1
    assert rec.exceptions and all(isinstance(e, psycopg.OperationalError) for _, _, e in rec.exceptions)
    # back up: the saved lease had expired, someone else gets it, the old token is refused
    assert lease_row(pg, lease_name) is None
    assert pg.one("SELECT lockable_heartbeat(%s, %s)", (lease_name, rec.token)) is False
    with Lock(lease_name, dsn=pg.dsn(), blocking=False) as other:
        assert other.token > rec.token
    assert lock.release() is False  # on a new connection: the old one died with the server
    assert len(rec.losses) == 1


def test_lease_survives_a_restart_shorter_than_the_ttl(pg_up, lease_name):
    pg = pg_up
    rec = Recorder(pg, lease_name)
    # ttl 15 s: a restart on a busy machine takes seconds, and must be shorter
    with Lock(lease_name, dsn=pg.dsn(), ttl=15, heartbeat_period=0.2, **rec.kwargs()) as lock:
        pg.restart()  # clean restart: the lease is restored with its token
        row = lease_row(pg, lease_name)
        assert row is not None and row["token"] == lock.token
        expires = row["expires_at"]
        wait_until(lambda: lease_row(pg, lease_name)["expires_at"] > expires, what="a heartbeat after the restart")
        lock.check()
        assert not lock.lost.is_set() and rec.losses == []
        assert lock.release() is True

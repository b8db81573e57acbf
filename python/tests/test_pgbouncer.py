"""Leases through PgBouncer in transaction pooling mode.

Consecutive transactions of one client land on different server connections
there, so nothing may depend on the session: not the lease (it is a plain
lease: name + token), not prepared statements (psycopg prepares a query it
has run five times; lockable_pg uses the simple query protocol only).
"""

from __future__ import annotations

import signal
import threading

import psycopg
import pytest

from lockable_pg import CouldNotAcquireLockError, Lock, try_acquire, try_release
from support import lease_row, wait_until, waiting_backends
from test_interrupt import start_waiter


def bouncer_connect(dsn, **kw):
    return psycopg.connect(dsn, prepare_threshold=None, connect_timeout=5, **kw)


def test_lock_through_pgbouncer_moves_between_backends(pg, pgbouncer, lease_name):
    dsn = pgbouncer["dsn"]
    helpers = []
    with Lock(lease_name, dsn=dsn, ttl=1.5, heartbeat_period=0.15) as lock:
        acquired_on = lease_row(pg, lease_name)["pid"]
        try:
            # Pin the backend the lease was acquired on inside another client's
            # open transaction, so that this client's next statements must run
            # elsewhere.  PgBouncer reuses the last released server connection
            # first, so the first helper normally gets it; there are at most
            # pool_size - 1 helpers, so a backend is always left for the lock.
            for _ in range(pgbouncer["pool_size"] - 1):
                h = bouncer_connect(dsn)  # not autocommit: the transaction stays open
                helpers.append(h)
                if h.execute("SELECT pg_backend_pid()").fetchone()[0] == acquired_on:
                    break
            else:
                pytest.fail("no helper got the backend the lease was acquired on")
            renewals = lease_row(pg, lease_name)["renewals"]
            # past the ttl, with the acquiring backend busy elsewhere: heartbeats
            # (more than five, on one client connection) and checks go on
            # through other backends
            for _ in range(10):
                lock.check()
            assert not lock.lost.wait(2.5)
            row = lease_row(pg, lease_name)
            assert row["token"] == lock.token and row["renewals"] >= renewals + 8
            # another client is refused meanwhile, on whatever backend it lands
            with pytest.raises(CouldNotAcquireLockError):
                Lock(lease_name, dsn=dsn, blocking=False).acquire()
            assert lock.release() is True  # not on the backend it was acquired on
            assert lease_row(pg, lease_name) is None
        finally:
            for h in helpers:
                h.close()


def test_wait_and_cancel_through_pgbouncer(pg, pgbouncer, lease_name):
    dsn = pgbouncer["dsn"]
    holder = try_acquire(lease_name, dsn=dsn, ttl=30)
    got = {}

    def waiter():
        with Lock(lease_name, dsn=dsn, timeout=20) as lock:
            got["token"] = lock.token

    t = threading.Thread(target=waiter)
    t.start()
    wait_until(lambda: lease_row(pg, lease_name)["waiters"] == 1, what="the waiter to queue")
    assert try_release(lease_name, holder, dsn=dsn) is True
    t.join(20)
    assert got["token"] > holder

    # Ctrl-C's cancel request goes through PgBouncer to the right backend
    holder = try_acquire(lease_name, dsn=dsn, ttl=30)

    class Via:  # start_waiter() wants something with dsn()
        @staticmethod
        def dsn():
            return dsn

    child = start_waiter(Via, lease_name)
    try:
        wait_until(lambda: lease_row(pg, lease_name)["waiters"] == 1, what="the child to queue")
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=20)
        assert out.strip() == "INTERRUPTED", err
        assert lease_row(pg, lease_name)["waiters"] == 0
        assert not waiting_backends(pg, lease_name)
    finally:
        child.kill()
        child.wait()
    assert try_release(lease_name, holder, dsn=dsn) is True
    assert lease_row(pg, lease_name) is None

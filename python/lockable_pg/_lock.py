"""Lock, its heartbeat thread, and the try_* functions."""

from __future__ import annotations

import datetime
import logging
import math
import threading
import time
from typing import Callable, Iterable, List, Optional, Sequence, Tuple, Union

import psycopg
from psycopg import pq

from ._errors import (
    CouldNotAcquireLockError,
    InvalidNameError,
    LockLostError,
)
from ._pgconn import Connection, conninfo_for, interval

log = logging.getLogger("lockable_pg")

Seconds = Union[int, float, datetime.timedelta]

# The acquire runs in one implicit transaction (one simple-query message),
# after a prelude that holds for that transaction only:
# - statement_timeout, lock_timeout and (PostgreSQL 17+) transaction_timeout
#   off: the wait is what `timeout` says, not what a server or role default
#   says;
# - client_connection_check_interval 1 s: if this client goes away while
#   waiting, its backend notices within a second and leaves the queue,
#   instead of being handed the lease later and keeping it for a ttl.
# The last two do not exist everywhere (transaction_timeout before 17,
# client_connection_check_interval where the platform lacks POLLRDHUP):
# their errors are swallowed.
_NO_TIMEOUTS = b"""SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0; \
DO $lockable_pg$ BEGIN \
BEGIN PERFORM set_config('transaction_timeout', '0', true); \
EXCEPTION WHEN OTHERS THEN NULL; END; \
BEGIN PERFORM set_config('client_connection_check_interval', '1000', true); \
EXCEPTION WHEN OTHERS THEN NULL; END; \
END $lockable_pg$; """

# First retry of a failed heartbeat after this long, then twice as long each
# time, up to the heartbeat period.
_BACKOFF_START = 0.1
# A heartbeat request (connecting included) is given up after
# max(heartbeat_period, this), or when the lease must have run out.
_MIN_REQUEST_SECONDS = 1.0
# Bound of the clean-up requests (release of a lease granted during an
# interrupt, release in __exit__ when the connection was lost).
_CLEANUP_SECONDS = 10.0

_UNSET = object()


# ---------------------------------------------------------------------------
# argument checks


def _check_name(name: object, what: str = "name") -> str:
    if not isinstance(name, str):
        raise TypeError(f"lock {what} must be a str, not {type(name).__name__}")
    if "\x00" in name:
        raise InvalidNameError(
            'lease name must not contain NUL characters: invalid byte sequence for encoding "UTF8": 0x00',
            sqlstate="22021",
        )
    return name


def _seconds(value: object, what: str) -> float:
    """``value`` (seconds or a timedelta) as float seconds; finite, not negative."""
    if isinstance(value, datetime.timedelta):
        secs = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        secs = float(value)
    else:
        raise TypeError(f"{what} must be a number of seconds or a datetime.timedelta, not {type(value).__name__}")
    if math.isnan(secs) or math.isinf(secs):
        raise ValueError(f"{what} must be finite, not {secs}")
    if secs < 0:
        raise ValueError(f"{what} must not be negative, not {secs}")
    return secs


def _ttl_seconds(ttl: object) -> float:
    secs = _seconds(ttl, "ttl")
    if secs <= 0:
        raise ValueError("ttl must be positive")
    return secs


def _check_counting(slots: object, shared: object) -> None:
    if not (type(slots) is int and slots == 1) or shared is not False:
        raise NotImplementedError(
            "slots and shared need counting leases, which the lockable extension does not "
            "have yet; only slots=1, shared=False (an exclusive lease) is supported"
        )


# ---------------------------------------------------------------------------
# queries


def _q_acquire(conn: Connection, name: str, ttl: float, wait: Optional[float]) -> bytes:
    return _NO_TIMEOUTS + b"SELECT lockable_acquire(%s::text, %s, %s)" % (
        conn.literal(name),
        interval(ttl),
        interval(wait) if wait is not None else b"NULL::interval",
    )


def _q_acquire_any(conn: Connection, names: Sequence[str], ttl: float, wait: Optional[float]) -> bytes:
    array = b"ARRAY[%s]::text[]" % b", ".join(conn.literal(n) for n in names)
    return _NO_TIMEOUTS + b"SELECT name, token FROM lockable_acquire_any(%s, %s, %s)" % (
        array,
        interval(ttl),
        interval(wait) if wait is not None else b"NULL::interval",
    )


def _q_call(conn: Connection, function: bytes, name: str, token: int) -> bytes:
    return b"SELECT %s(%s::text, %d::bigint)" % (function, conn.literal(name), token)


def _last_row(results: List[pq.abc.PGresult]) -> Optional[Tuple[Optional[bytes], ...]]:
    for res in reversed(results):
        if res.status == pq.ExecStatus.TUPLES_OK:
            if res.ntuples < 1:
                return None
            return tuple(res.get_value(0, c) for c in range(res.nfields))
    return None


def _bool(results: List[pq.abc.PGresult]) -> bool:
    row = _last_row(results)
    return row is not None and row[0] == b"t"


def _granted(results: List[pq.abc.PGresult], name: Optional[str]) -> Optional[Tuple[str, int]]:
    """(name, token) if ``results`` (of an acquire or acquire_any) hold a grant."""
    row = _last_row(results)
    if row is None:
        return None
    if name is not None:  # lockable_acquire: one column, the token
        return (name, int(row[0])) if row[0] is not None else None
    if len(row) >= 2 and row[0] is not None and row[1] is not None:
        return (row[0].decode("utf-8"), int(row[1]))
    return None


def _release_quietly(conn: Optional[Connection], conninfo: bytes, name: str, token: int) -> None:
    """Release (name, token), on ``conn`` if it is usable, else on a fresh connection."""
    deadline = time.monotonic() + _CLEANUP_SECONDS
    own = None
    try:
        if conn is None or conn.broken:
            conn = own = Connection.open(conninfo, deadline=deadline)
        conn.execute(_q_call(conn, b"lockable_release", name, token), deadline=deadline)
        log.info("lockable_pg: released lease %r (token %d), granted while the acquire was interrupted", name, token)
    except Exception as exc:
        log.warning(
            "lockable_pg: could not release lease %r (token %d), granted while the acquire was "
            "interrupted; it expires after its ttl: %s",
            name,
            token,
            exc,
        )
    finally:
        if own is not None:
            own.close()


def _release_grant_in(conn: Optional[Connection], conninfo: bytes, name: Optional[str]) -> None:
    """After a failed or interrupted acquire on ``conn``: release what its results granted, close it."""
    if conn is None:
        return
    try:
        grant = _granted(conn.results, name)
    except Exception:
        grant = None
    if grant is not None:
        _release_quietly(conn, conninfo, *grant)
    conn.close()


def _try_acquire_once(conninfo: bytes, name: str, ttl: float) -> Optional[int]:
    """try_acquire's body: a token or None; no lease left behind on any error or interrupt."""
    conn: Optional[Connection] = None
    try:
        conn = Connection.open(conninfo)
        conn.execute(_q_acquire(conn, name, ttl, 0.0))
        grant = _granted(conn.results, name)
        conn.close()
        return None if grant is None else grant[1]
    except BaseException:
        _release_grant_in(conn, conninfo, name)
        raise


# ---------------------------------------------------------------------------
# heartbeats


class _Heartbeat(threading.Thread):
    """Renews one grant every ``period`` until stopped, lost, or past its ttl."""

    def __init__(self, lock: "Lock", token: int, received: float):
        super().__init__(name=f"lockable-heartbeat:{lock.name}", daemon=True)
        self.lock = lock
        self.token = token
        self.received = received
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        lk = self.lock
        ttl = lk._ttl
        period = lk._heartbeat_period
        # The lease surely ended by expires_by: the server sets its deadline
        # to (when it handled the request) + ttl, before we got the answer.
        expires_by = self.received + ttl
        next_at = self.received + period
        failures = 0
        conn: Optional[Connection] = None
        try:
            while True:
                now = time.monotonic()
                if now >= expires_by:
                    self._lose("no heartbeat succeeded within the ttl")
                    return
                if self.stopping.wait(max(0.0, min(next_at, expires_by) - now)):
                    return
                now = time.monotonic()
                if now >= expires_by:
                    self._lose("no heartbeat succeeded within the ttl")
                    return
                deadline = min(expires_by, now + max(period, _MIN_REQUEST_SECONDS))
                try:
                    if conn is None or conn.broken:
                        if conn is not None:
                            conn.close()
                        conn = None
                        conn = Connection.open(lk._conninfo, deadline=deadline)
                    sent = time.monotonic()
                    conn.execute(_q_call(conn, b"lockable_heartbeat", lk.name, self.token), deadline=deadline)
                    ok = _bool(conn.results)
                except Exception as exc:
                    if conn is not None:
                        conn.close()
                        conn = None
                    if self.stopping.is_set():
                        return
                    lk._heartbeat_failed(exc)
                    next_at = time.monotonic() + min(_BACKOFF_START * (2 ** failures), period)
                    failures = min(failures + 1, 30)
                    continue
                if self.stopping.is_set():
                    return
                if not ok:
                    self._lose("a heartbeat returned false")
                    return
                failures = 0
                expires_by = time.monotonic() + ttl
                next_at = sent + period
                lk._heartbeats += 1
        except BaseException:  # pragma: no cover - a bug: say so, and stop
            log.exception("lockable_pg: heartbeat thread of %r failed", lk.name)
            raise
        finally:
            if conn is not None:
                conn.close()

    def _lose(self, why: str) -> None:
        if not self.stopping.is_set():
            self.lock._lose(self.token, why)


# ---------------------------------------------------------------------------
# Lock


class Lock:
    """A lease on a lockable server: ``with Lock('name'):`` runs the block while holding it.

    The lockable.dev client's interface over the lockable PostgreSQL
    extension: ``with Lock('my-lock-name'):`` waits until the lease is free,
    takes it, heartbeats it on a daemon thread while the block runs, and
    releases it at the end (on exceptions too)::

        from lockable_pg import Lock

        with Lock('nightly-report', dsn='dbname=app', ttl=60) as lock:
            write_report(fencing_token=lock.token)

    Parameters (all but ``name`` keyword-only):

    name
        The lease name: 1 to 200 bytes of UTF-8, compared byte for byte,
        per database.
    dsn
        A libpq connection string or URI.  None: libpq's environment
        (``PGHOST``, ``PGPORT``, ``PGDATABASE``, ``PGUSER``, ``~/.pgpass``,
        ...), as psql does.
    ttl
        How long the lease lasts without a heartbeat: seconds, or a
        ``datetime.timedelta`` (default 60, as lockable.dev).  At most the
        server's ``lockable.max_ttl``.
    blocking, timeout
        How the acquire waits when the lease is held.  ``timeout=None``
        (default) waits until it is free; a number of seconds (or a
        timedelta) waits at most that long; ``blocking=False`` (or
        ``timeout=0``) does not wait.  The wait happens in the server
        (``lockable_acquire(..., wait => timeout)``), which hands the lease
        over the moment it is released, in arrival order: the client never
        polls.  When the lease does not come free, the acquire raises
        :class:`CouldNotAcquireLockError`.  The session's
        ``statement_timeout``, ``lock_timeout`` and ``transaction_timeout``
        do not apply to the wait (they are off for the acquire's transaction).
    on_lock_loss
        ``on_lock_loss()`` is called once when the lease is known to be lost:
        a heartbeat returned false (it expired, was force-released or taken
        over), or no heartbeat succeeded before the lease must have run out.
        Heartbeats stop then.
    on_heartbeat_exception
        ``on_heartbeat_exception(e)`` is called when a heartbeat request fails
        (connection refused or lost, no answer in time:
        :class:`ServerTimeoutError`, a server error).  The thread then retries
        on a fresh connection, after 0.1 s, 0.2 s, ... (at most
        ``heartbeat_period`` apart) until one succeeds or the lease must have
        run out, and then calls ``on_lock_loss()``.
    heartbeat_period
        Seconds between heartbeats (default ttl/3); less than the ttl.
    slots, shared
        For counting leases, which the extension does not have yet: anything
        but ``slots=1, shared=False`` raises ``NotImplementedError``.

    Both callbacks run on the heartbeat thread, as in the lockable.dev
    client; an exception they raise is logged (logger ``lockable_pg``) and
    otherwise ignored.  Unlike lockable.dev 0.1.2, heartbeats go on for as
    long as the lock is held.

    Attributes: ``name``; ``token``, the fencing token of the current grant
    (None when not acquired); ``lost``, a ``threading.Event`` set when the
    lease is known to be lost (long work can test it, or wait on it);
    ``held``, acquired and not released nor known lost.

    Connections: the lease is a plain lease, identified by its name and
    token, not by a connection.  So acquire, heartbeats, check and release
    may each run on a different server connection, and the lock works
    through PgBouncer in transaction pooling mode.  A held Lock has two
    connections open: the one it acquired on (used by :meth:`check` and
    :meth:`release`, reopened if it was lost) and the heartbeat thread's.
    Only the simple query protocol is used, without prepared statements or
    session state.

    Leases are not re-entrant: a second Lock on the same name, even in the
    same thread, waits for the first to be released.  A Lock object may be
    acquired again after it was released (with a new token).
    """

    def __init__(
        self,
        name: str,
        *,
        dsn: Optional[str] = None,
        ttl: Seconds = 60,
        blocking: bool = True,
        timeout: Optional[Seconds] = None,
        on_lock_loss: Optional[Callable[[], object]] = None,
        on_heartbeat_exception: Optional[Callable[[BaseException], object]] = None,
        heartbeat_period: Optional[Seconds] = None,
        slots: int = 1,
        shared: bool = False,
    ):
        _check_counting(slots, shared)
        self.name = _check_name(name)
        self._dsn = dsn
        self._conninfo = conninfo_for(dsn)
        self._ttl = _ttl_seconds(ttl)
        self._blocking = bool(blocking)
        self._timeout = None if timeout is None else _seconds(timeout, "timeout")
        if not self._blocking and timeout is not None:
            raise ValueError("can't specify a timeout for a non-blocking lock")
        if heartbeat_period is None:
            self._heartbeat_period = self._ttl / 3
        else:
            self._heartbeat_period = _seconds(heartbeat_period, "heartbeat_period")
            if not 0 < self._heartbeat_period < self._ttl:
                raise ValueError(
                    f"heartbeat_period must be positive and shorter than the ttl ({self._ttl} s), "
                    f"not {self._heartbeat_period}"
                )
        for cb, what in ((on_lock_loss, "on_lock_loss"), (on_heartbeat_exception, "on_heartbeat_exception")):
            if cb is not None and not callable(cb):
                raise TypeError(f"{what} must be callable")
        self.on_lock_loss = on_lock_loss
        self.on_heartbeat_exception = on_heartbeat_exception
        self.lost = threading.Event()
        self.token: Optional[int] = None
        self._conn: Optional[Connection] = None
        self._thread: Optional[_Heartbeat] = None
        # _state guards token, _thread, _acquiring and _loss_reported, and is
        # never held during I/O; _conn_lock serialises the use of _conn.
        self._state = threading.Lock()
        self._conn_lock = threading.RLock()
        self._acquiring = False
        self._loss_reported: Optional[int] = None  # token whose loss was reported
        self._heartbeats = 0

    # -- properties -------------------------------------------------------

    @property
    def ttl(self) -> float:
        """The ttl in seconds."""
        return self._ttl

    @property
    def heartbeat_period(self) -> float:
        """Seconds between two heartbeats."""
        return self._heartbeat_period

    @property
    def held(self) -> bool:
        """Acquired, not released, and not known to be lost (no server round trip; see check())."""
        return self.token is not None and not self.lost.is_set()

    def __repr__(self) -> str:
        if self.token is None:
            state = "not acquired"
        elif self.lost.is_set():
            state = f"lost token={self.token}"
        else:
            state = f"held token={self.token}"
        return f"<lockable_pg.Lock {self.name!r} {state}>"

    # -- acquire / release ------------------------------------------------

    def acquire(self, blocking: Optional[bool] = None, timeout: object = _UNSET) -> int:
        """Take the lease; return its fencing token (also in ``self.token``).

        ``blocking`` and ``timeout`` override the constructor's for this call.
        Raises :class:`CouldNotAcquireLockError` when the lease is held and did
        not come free in time; ``RuntimeError`` if this Lock is already
        acquired; server errors as described in the package documentation.

        An acquire is all or nothing: whatever error or interrupt ends it, it
        leaves no lease behind.  The wait is the server's.  If the connection
        is lost while waiting, the acquire raises (``psycopg.OperationalError``)
        and the lock is not held; the server-side waiter notices within a
        second that its client is gone (``client_connection_check_interval``
        is set for the acquire) and leaves the queue.  Ctrl-C
        (KeyboardInterrupt) cancels the server-side wait (through libpq's
        cancel request, as ``pg_cancel_backend``) and propagates; a lease
        granted in that very instant is released first.
        """
        if blocking is None:
            blocking = self._blocking
        if timeout is _UNSET:
            timeout = self._timeout if blocking else None
        elif timeout is not None:
            if not blocking:
                raise ValueError("can't specify a timeout for a non-blocking acquire")
            timeout = _seconds(timeout, "timeout")
        wait: Optional[float] = (timeout if blocking else 0.0)  # None: forever
        return self._take(lambda c: _q_acquire(c, self.name, self._ttl, wait), self.name, self.name)

    def _take(self, build, name: Optional[str], what) -> int:
        """Run an acquire (``name`` None: an acquire_any) and hold what it grants.

        All or nothing: on any error or interrupt, at any point, a lease that
        was granted is released before the exception propagates.
        """
        self._begin_acquire()
        box: List[Connection] = []  # the connection, as soon as there is one
        try:
            box.append(Connection.open(self._conninfo))
            conn = box[0]
            conn.execute(build(conn))
            received = time.monotonic()
            grant = _granted(conn.results, name)
            if grant is None:
                raise CouldNotAcquireLockError(what)
            self._install(conn, grant, received)
            return grant[1]
        except BaseException:
            self._undo_take(box[0] if box else None, name)
            raise
        finally:
            with self._state:
                self._acquiring = False

    def _undo_take(self, conn: Optional[Connection], name: Optional[str]) -> None:
        with self._state:
            token, thread = self.token, self._thread
            self.token = self._thread = None
        if thread is not None:
            thread.stop()
        with self._conn_lock:
            if token is not None:  # installed already
                _release_quietly(self._conn, self._conninfo, self.name, token)
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
            if conn is not None and not conn.closed:
                _release_grant_in(conn, self._conninfo, name)

    def _begin_acquire(self) -> None:
        with self._state:
            if self.token is not None:
                raise RuntimeError(f"lock {self.name!r} is already acquired by this Lock object (token {self.token})")
            if self._acquiring:
                raise RuntimeError(f"lock {self.name!r} is being acquired by another thread")
            self._acquiring = True

    def _install(self, conn: Connection, grant: Tuple[str, int], received: float) -> None:
        """Hold the grant: keep its connection, start its heartbeats (the caller undoes it on failure)."""
        self.name = grant[0]  # acquire_any: the name taken
        thread = _Heartbeat(self, grant[1], received)
        with self._conn_lock:
            if self._conn is not None:
                self._conn.close()
            self._conn = conn
        with self._state:
            self.lost.clear()
            self.token = grant[1]
            self._heartbeats = 0
            self._thread = thread
        thread.start()

    def release(self) -> bool:
        """Stop the heartbeats and release the lease.

        True: released now (the next waiter holds it at once).  False: it was
        no longer held with this token (lost, expired, force-released).
        ``RuntimeError`` if the lock is not acquired.  A lost connection is
        reopened once.  If the server cannot be reached, or does not answer
        within max(ttl, 10 s) (:class:`ServerTimeoutError`), the error
        propagates; the lock is not acquired any more either way, and the
        lease, no longer renewed, ends after its ttl.
        """
        with self._state:
            token = self.token
            if token is None:
                raise RuntimeError(f"lock {self.name!r} is not acquired")
            # From here on the lock is not acquired: the heartbeat thread
            # reports no loss, whatever it sees.
            self.token = None
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.stop()
            if thread is not threading.current_thread():
                # a request in flight is bounded by max(period, 1 s)
                thread.join(max(self._heartbeat_period, _MIN_REQUEST_SECONDS) + 1.0)
        with self._conn_lock:
            try:
                return self._call_main(b"lockable_release", token, _bool)
            finally:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

    def _call_main(self, function: bytes, token: int, parse):
        """Run function(name, token) on the lock's connection, reconnecting once if it was lost.

        The caller holds _conn_lock.  Gives up (ServerTimeoutError) after
        max(ttl, 10 s) without an answer: by then a lease is over anyway.
        """
        deadline = time.monotonic() + max(self._ttl, _CLEANUP_SECONDS)
        for attempt in (1, 2):
            if self._conn is None or self._conn.broken:
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None
                self._conn = Connection.open(self._conninfo, deadline=deadline)
            try:
                self._conn.execute(_q_call(self._conn, function, self.name, token), deadline=deadline)
                return parse(self._conn.results)
            except psycopg.OperationalError:
                if attempt == 1 and self._conn.broken:
                    continue  # the connection was lost: once more on a new one
                raise

    def __enter__(self) -> "Lock":
        try:
            if self.token is None:  # a lock from acquire_any() is already held
                self.acquire()
            return self
        except BaseException:
            # interrupted after acquire() returned: __exit__ will not run
            if self.token is not None:
                self._undo_take(None, self.name)
            raise

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.token is None:
            return  # released inside the block
        lost = self.lost.is_set()
        try:
            self.release()
        except Exception as release_error:
            # A lease already known to be lost has nothing left to release:
            # failing to say so to the server must not fail the block.
            if exc is None and not lost:
                raise
            log.warning(
                "lockable_pg: releasing %r at the end of the with-block failed; "
                "the lease ends after its ttl: %s",
                self.name,
                release_error,
            )

    # -- fencing ------------------------------------------------------------

    def check(self) -> None:
        """Raise :class:`LockLostError` unless the lease is held with ``self.token`` right now.

        Calls ``lockable_check(name, token)`` on the server (one hash lookup).
        Call it before touching the protected resource, or pass ``token`` to
        the resource itself (for example to a trigger that calls
        ``lockable_check``), which also catches a holder paused between its
        check and its write.  A failed check sets ``lost``.
        ``RuntimeError`` if the lock is not acquired.  Connection errors
        propagate as for :meth:`release`: they say nothing about the lease.
        """
        token = self.token
        if token is None:
            raise RuntimeError(f"lock {self.name!r} is not acquired")
        try:
            with self._conn_lock:
                self._call_main(b"lockable_check", token, lambda results: None)
        except psycopg.errors.LockNotAvailable as err:
            with self._state:
                if self.token == token:
                    self.lost.set()
            raise LockLostError(
                self.name, token, err.diag.message_primary or str(err), sqlstate=err.sqlstate
            ) from err

    # -- heartbeat thread's side ----------------------------------------

    def _heartbeat_failed(self, exc: BaseException) -> None:
        log.debug("lockable_pg: heartbeat of %r failed: %s", self.name, exc)
        if self.on_heartbeat_exception is not None:
            try:
                self.on_heartbeat_exception(exc)
            except Exception:
                log.exception("lockable_pg: on_heartbeat_exception of %r raised", self.name)

    def _lose(self, token: int, why: str) -> None:
        with self._state:
            if self.token != token or self._loss_reported == token:
                return
            self._loss_reported = token
        log.warning("lockable_pg: lease %r (token %d) lost: %s", self.name, token, why)
        self.lost.set()
        if self.on_lock_loss is not None:
            try:
                self.on_lock_loss()
            except Exception:
                log.exception("lockable_pg: on_lock_loss of %r raised", self.name)

    # -- several names ------------------------------------------------------

    @classmethod
    def acquire_any(
        cls,
        names: Iterable[str],
        *,
        dsn: Optional[str] = None,
        ttl: Seconds = 60,
        blocking: bool = True,
        timeout: Optional[Seconds] = None,
        on_lock_loss: Optional[Callable[[], object]] = None,
        on_heartbeat_exception: Optional[Callable[[BaseException], object]] = None,
        heartbeat_period: Optional[Seconds] = None,
        slots: int = 1,
        shared: bool = False,
    ) -> "Lock":
        """Take one free lease out of ``names``; return it as a held Lock.

        Wraps ``lockable_acquire_any``: the first free name in the order given
        is taken, waiting (in the server) for any of them to come free as
        ``blocking`` and ``timeout`` say.  The returned Lock's ``name`` is the
        one taken; it heartbeats as any Lock, and a with-block on it releases
        it at the end::

            with Lock.acquire_any(['gpu-0', 'gpu-1', 'gpu-2'], timeout=60) as lock:
                run_on(lock.name)

        Raises :class:`CouldNotAcquireLockError` (with ``name`` the tuple of
        names) when none came free in time, ``ValueError`` for an empty list.
        """
        if isinstance(names, (str, bytes)):
            raise TypeError("names must be a list of names, not a single string")
        names = [_check_name(n, "names element") for n in names]
        if not names:
            raise ValueError("names must not be empty")
        # Builds and checks everything (ttl, timeout, callbacks) before asking the server.
        lock = cls(
            names[0],
            dsn=dsn,
            ttl=ttl,
            blocking=blocking,
            timeout=timeout,
            on_lock_loss=on_lock_loss,
            on_heartbeat_exception=on_heartbeat_exception,
            heartbeat_period=heartbeat_period,
            slots=slots,
            shared=shared,
        )
        wait = lock._timeout if lock._blocking else 0.0
        lock._take(lambda c: _q_acquire_any(c, names, lock._ttl, wait), None, names)
        return lock


# ---------------------------------------------------------------------------
# the lockable.dev client's functions


def _one_shot(dsn: Optional[str], build, parse):
    conn = Connection.open(conninfo_for(dsn))
    try:
        conn.execute(build(conn))
        return parse(conn.results)
    finally:
        conn.close()


def try_acquire(name: str, *, dsn: Optional[str] = None, ttl: Seconds = 60) -> Optional[int]:
    """Take the lease ``name`` for ``ttl`` if it is free; its fencing token, or None if it is held.

    Does not wait and starts no heartbeats: renew it with
    :func:`try_heartbeat` before the ttl runs out, end it with
    :func:`try_release`.  One connection per call (``dsn`` as for
    :class:`Lock`); the three calls may use different connections, poolers
    included.
    """
    name = _check_name(name)
    ttl_s = _ttl_seconds(ttl)
    return _try_acquire_once(conninfo_for(dsn), name, ttl_s)


def try_heartbeat(name: str, token: int, *, dsn: Optional[str] = None) -> bool:
    """Renew the lease held with ``token`` for its ttl; False if it is no longer held with it."""
    name = _check_name(name)
    token = _check_token(token)
    return _one_shot(dsn, lambda c: _q_call(c, b"lockable_heartbeat", name, token), _bool)


def try_release(name: str, token: int, *, dsn: Optional[str] = None) -> bool:
    """Release the lease held with ``token``; False if it was no longer held with it."""
    name = _check_name(name)
    token = _check_token(token)
    return _one_shot(dsn, lambda c: _q_call(c, b"lockable_release", name, token), _bool)


def _check_token(token: object) -> int:
    if isinstance(token, bool) or not isinstance(token, int):
        raise TypeError(f"token must be an int, not {type(token).__name__}")
    if not -(2**63) <= token < 2**63:
        raise ValueError("token out of range for bigint")
    return int(token)


__all__ = ["Lock", "try_acquire", "try_heartbeat", "try_release"]

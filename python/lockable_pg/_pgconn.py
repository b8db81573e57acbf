"""A small connection on psycopg's libpq wrapper (``psycopg.pq``).

lockable_pg drives libpq itself, through psycopg's public ``psycopg.pq``
module, instead of going through ``psycopg.Connection``, for three reasons:

- Ctrl-C.  psycopg cancels the query on KeyboardInterrupt and throws its
  result away.  If a lease was granted in that instant its token would be
  lost, and the lease left behind until its ttl ran out.  Here the result is
  read after the cancel, and a lease that was granted anyway is released.
- Deadlines.  Every wait (connecting, sending, reading) can be bounded, so
  that the heartbeat thread never hangs past the time its lease must have
  run out, however the network fails.
- Poolers.  Only the simple query protocol is used: no prepared statements
  (psycopg prepares a query it has run five times), no session state, so
  PgBouncer in transaction mode is fine.
"""

from __future__ import annotations

import logging
import os
import selectors
import time
from typing import List, Optional

import psycopg
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ._errors import ServerTimeoutError, translate

log = logging.getLogger("lockable_pg")

# How long cleaning up after an interrupt (the cancel, reading the result,
# releasing a lease granted in that instant) may take.
_CLEANUP_SECONDS = 10.0

_ENCODING = "utf-8"


def conninfo_for(dsn: Optional[str]) -> bytes:
    """The connection string lockable_pg connects with.

    ``dsn`` None or "" leaves everything to libpq's environment (``PGHOST``,
    ``PGPORT``, ``PGDATABASE``, ``PGUSER``, ``PGPASSFILE``, ...), as psql
    does.  The client encoding is always UTF-8 (names are sent as UTF-8);
    ``application_name`` is ``lockable_pg`` unless the dsn or ``PGAPPNAME``
    says otherwise.
    """
    dsn = dsn or ""
    extra = {"client_encoding": "UTF8"}
    if "application_name" not in conninfo_to_dict(dsn) and not os.environ.get("PGAPPNAME"):
        extra["application_name"] = "lockable_pg"
    return make_conninfo(dsn, **extra).encode(_ENCODING)


def _notice(res: pq.abc.PGresult) -> None:
    try:
        sev = (res.error_field(pq.DiagnosticField.SEVERITY) or b"NOTICE").decode(_ENCODING, "replace")
        msg = (res.error_field(pq.DiagnosticField.MESSAGE_PRIMARY) or b"").decode(_ENCODING, "replace")
        level = logging.WARNING if sev.startswith("WARN") else logging.DEBUG
        log.log(level, "server %s: %s", sev, msg)
    except Exception:  # pragma: no cover - a notice must never break a request
        pass


def _remaining(deadline: Optional[float]) -> Optional[float]:
    if deadline is None:
        return None
    return deadline - time.monotonic()


class Connection:
    """One libpq connection in non-blocking mode, used by one thread at a time."""

    def __init__(self, pgconn: pq.abc.PGconn):
        self.pgconn = pgconn
        self.closed = False
        self.results: List[pq.abc.PGresult] = []
        pgconn.notice_handler = _notice

    # -- connecting -----------------------------------------------------

    @classmethod
    def open(cls, conninfo: bytes, *, deadline: Optional[float] = None) -> "Connection":
        """Connect; psycopg.OperationalError if it fails, ServerTimeoutError past ``deadline``.

        libpq's ``connect_timeout`` (from the conninfo or ``PGCONNECT_TIMEOUT``)
        applies too, as it does for psql.
        """
        pgconn = pq.PGconn.connect_start(conninfo)
        try:
            if pgconn.status == pq.ConnStatus.BAD:
                raise psycopg.OperationalError(_conn_message(pgconn, "connection failed"))
            timeout = _connect_timeout(pgconn)
            if timeout is not None:
                limit = time.monotonic() + timeout
                deadline = limit if deadline is None else min(deadline, limit)
            status = pq.PollingStatus.WRITING
            with selectors.DefaultSelector() as sel:
                while status != pq.PollingStatus.OK:
                    if status == pq.PollingStatus.FAILED:
                        raise psycopg.OperationalError(_conn_message(pgconn, "connection failed"))
                    fd = pgconn.socket
                    ev = selectors.EVENT_READ if status == pq.PollingStatus.READING else selectors.EVENT_WRITE
                    sel.register(fd, ev)
                    try:
                        if not _wait(sel, deadline):
                            raise ServerTimeoutError("timed out connecting to the server")
                    finally:
                        sel.unregister(fd)
                    status = pgconn.connect_poll()
            pgconn.nonblocking = 1
        except BaseException:
            pgconn.finish()
            raise
        return cls(pgconn)

    @property
    def broken(self) -> bool:
        """Closed, or libpq knows the connection is gone."""
        if self.closed:
            return True
        try:
            return self.pgconn.status != pq.ConnStatus.OK
        except psycopg.Error:
            return True

    @property
    def dbname(self) -> Optional[str]:
        try:
            return self.pgconn.db.decode(_ENCODING, "replace")
        except Exception:
            return None

    def close(self) -> None:
        self.closed = True
        self.pgconn.finish()

    # -- literals -------------------------------------------------------

    def literal(self, value: str) -> bytes:
        """``value`` as an SQL string literal (the caller has refused NUL characters)."""
        return pq.Escaping(self.pgconn).escape_literal(value.encode(_ENCODING))

    # -- running a query ------------------------------------------------

    def execute(self, query: bytes, *, deadline: Optional[float] = None) -> List[pq.abc.PGresult]:
        """Run ``query`` (one or several statements, simple protocol); its results.

        The results are also kept in ``self.results`` as they arrive.  Raises
        the first error among them (translated by ``_errors.translate``),
        psycopg.OperationalError if the connection is lost, and
        ServerTimeoutError (closing the connection) when there is no answer
        by ``deadline``.

        When anything else interrupts the wait (KeyboardInterrupt from Ctrl-C,
        SystemExit from a signal handler, ...), the query is cancelled on the
        server and its results are still read into ``self.results`` before
        the interrupt is re-raised, so that the caller can release a lease
        that was granted in that instant.
        """
        pgconn = self.pgconn
        self.results = []
        try:
            if pgconn.transaction_status != pq.TransactionStatus.IDLE:
                raise psycopg.OperationalError(
                    f"connection not idle (transaction status {pgconn.transaction_status})"
                )
            pgconn.send_query(query)
            self._collect(deadline)
        except ServerTimeoutError:
            self.close()
            raise
        except psycopg.Error:
            raise
        except BaseException:
            self._cancel_and_drain()
            raise
        for res in self.results:
            if res.status == pq.ExecStatus.FATAL_ERROR:
                raise self._error(res)
        if self.broken:
            raise psycopg.OperationalError(_conn_message(pgconn, "connection lost"))
        return self.results

    def _collect(self, deadline: Optional[float]) -> None:
        pgconn = self.pgconn
        with selectors.DefaultSelector() as sel:
            fd = pgconn.socket
            # send what libpq could not write at once
            if pgconn.flush():
                sel.register(fd, selectors.EVENT_READ | selectors.EVENT_WRITE)
                while pgconn.flush():
                    if not _wait(sel, deadline):
                        raise ServerTimeoutError("timed out sending a request to the server")
                    pgconn.consume_input()
                sel.unregister(fd)
            sel.register(fd, selectors.EVENT_READ)
            while True:
                try:
                    pgconn.consume_input()
                except psycopg.OperationalError:
                    # The connection is gone.  What libpq read before that (a
                    # server's FATAL error, a grant) is still to be had.
                    if self._salvage_results():
                        return
                    raise
                while not pgconn.is_busy():
                    res = pgconn.get_result()
                    if res is None:
                        return
                    self.results.append(res)
                if not _wait(sel, deadline):
                    raise ServerTimeoutError("timed out waiting for the server's answer")

    def _salvage_results(self) -> bool:
        """After a failed read: take the results libpq has; True if the server sent an error."""
        for _ in range(100):
            try:
                res = self.pgconn.get_result()
            except psycopg.Error:
                break
            if res is None:
                break
            self.results.append(res)
        return any(
            r.status == pq.ExecStatus.FATAL_ERROR and r.error_field(pq.DiagnosticField.SQLSTATE)
            for r in self.results
        )

    def _cancel_and_drain(self) -> None:
        """After an interrupt: cancel the running query and read the rest of its results."""
        pgconn = self.pgconn
        if self.broken or pgconn.transaction_status != pq.TransactionStatus.ACTIVE:
            return  # gone, or nothing was running
        try:
            pgconn.get_cancel().cancel()
            self._collect(time.monotonic() + _CLEANUP_SECONDS)
        except Exception as exc:
            log.warning("lockable_pg: cancelling after an interrupt failed: %s", exc)
            self.close()
        except BaseException:
            self.close()  # interrupted again: give up
            raise

    def _error(self, res: pq.abc.PGresult) -> BaseException:
        if not res.error_field(pq.DiagnosticField.SQLSTATE):
            # made by libpq, not the server: the connection failed
            msg = res.error_message.decode(_ENCODING, "replace").strip()
            return psycopg.OperationalError(msg or _conn_message(self.pgconn, "connection lost"))
        try:
            err = psycopg.errors.error_from_result(res, encoding=_ENCODING)
        except Exception:  # pragma: no cover - psycopg internals moved
            state = (res.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
            msg = res.error_message.decode(_ENCODING, "replace")
            try:
                err = psycopg.errors.lookup(state)(msg)
            except KeyError:
                err = psycopg.DatabaseError(msg)
        return translate(err, dbname=self.dbname)


def _wait(sel: selectors.BaseSelector, deadline: Optional[float]) -> bool:
    """Wait for the registered events; False when ``deadline`` passed first."""
    while True:
        left = _remaining(deadline)
        if left is not None and left <= 0:
            return False
        if sel.select(None if left is None else max(left, 0.0)):
            return True


def _connect_timeout(pgconn: pq.abc.PGconn) -> Optional[float]:
    """libpq's connect_timeout in effect for ``pgconn`` (None: none), 2 s at least, as libpq."""
    try:
        for opt in pgconn.info:
            if opt.keyword == b"connect_timeout":
                if opt.val is None:
                    return None
                value = int(opt.val.decode())
                return None if value <= 0 else float(max(value, 2))
    except Exception:  # not a number: libpq itself refuses it
        return None
    return None


def _conn_message(pgconn: pq.abc.PGconn, default: str) -> str:
    try:
        msg = pgconn.error_message.decode(_ENCODING, "replace").strip()
    except Exception:
        msg = ""
    return msg or default


def interval(seconds: Optional[float]) -> bytes:
    """An SQL interval literal for ``seconds`` (None: NULL), exact to the microsecond."""
    if seconds is None:
        return b"NULL"
    us = int(round(seconds * 1_000_000))
    return b"'%d microseconds'::interval" % us


__all__ = ["Connection", "conninfo_for", "interval"]

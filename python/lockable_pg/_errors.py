"""Exceptions of lockable_pg, and the translation of server errors into them."""

from __future__ import annotations

from typing import Optional, Sequence, Union

import psycopg

__all__ = [
    "LockableError",
    "CouldNotAcquireLockError",
    "LockLostError",
    "InvalidRequestError",
    "InvalidNameError",
    "ExtensionNotInstalledError",
    "ExtensionNotLoadedError",
    "ServerTimeoutError",
]


class LockableError(Exception):
    """Base class of the errors lockable_pg raises itself.

    Errors of the connection (refused, lost, authentication) are not wrapped:
    they are psycopg's own (``psycopg.OperationalError`` and its subclasses),
    as are server errors that lockable_pg has no better name for (for
    example ``psycopg.errors.InsufficientPrivilege`` when another role holds
    the lease, or ``psycopg.errors.ProgramLimitExceeded`` when
    ``lockable.max_leases`` is reached).

    Errors that come from the server carry its SQLSTATE in ``sqlstate`` and
    the psycopg exception as ``__cause__``; ``sqlstate`` is None otherwise.
    """

    sqlstate: Optional[str] = None

    def __init__(self, message: str, *, sqlstate: Optional[str] = None):
        super().__init__(message)
        self.sqlstate = sqlstate


class CouldNotAcquireLockError(LockableError):
    """The lease is held by someone else (and, with a timeout, did not come free in time).

    ``name`` is the lease name; for :meth:`Lock.acquire_any` it is the tuple
    of names tried.
    """

    def __init__(self, name: Union[str, Sequence[str]]):
        if isinstance(name, str):
            self.name: Union[str, tuple] = name
            message = f"could not acquire lock {name!r}: it is held by someone else"
        else:
            self.name = tuple(name)
            message = f"could not acquire any of the locks {list(self.name)!r}: all are held"
        super().__init__(message)

    def __reduce__(self):  # keep the one-argument constructor picklable
        return (type(self), (self.name,))


class LockLostError(LockableError):
    """:meth:`Lock.check` found that the lease is not held with the lock's token.

    It expired, was force-released or was taken by someone else: whatever the
    lock protects must not be touched any more. ``name`` and ``token`` are
    the lease's; ``sqlstate`` is ``55P03`` (lock_not_available).
    """

    def __init__(self, name: str, token: int, message: str, *, sqlstate: Optional[str] = None):
        super().__init__(message, sqlstate=sqlstate)
        self.name = name
        self.token = token


class InvalidRequestError(LockableError, ValueError):
    """The server refused an argument (a ttl above ``lockable.max_ttl``, an interval too large, ...).

    A ``ValueError``. ``message`` is the server's message, ``sqlstate`` its
    SQLSTATE (class 22, data exception), ``detail`` and ``hint`` what the
    server added, if anything.
    """

    def __init__(
        self,
        message: str,
        *,
        sqlstate: Optional[str] = None,
        detail: Optional[str] = None,
        hint: Optional[str] = None,
    ):
        text = message
        if detail:
            text += f" ({detail})"
        if sqlstate:
            text += f" [SQLSTATE {sqlstate}]"
        super().__init__(text, sqlstate=sqlstate)
        self.message = message
        self.detail = detail
        self.hint = hint


class InvalidNameError(InvalidRequestError):
    """The server refused the lease name: empty (``22023``), longer than 200 bytes (``22001``), ...

    Names are also refused before they reach the server when they contain a
    NUL character, which PostgreSQL text cannot hold; ``sqlstate`` is then
    ``22021`` (character_not_in_repertoire), the state the server gives a
    NUL byte in text input.
    """


class ExtensionNotInstalledError(LockableError):
    """The database has no lockable extension (or it is not in ``search_path``).

    Fix: ``CREATE EXTENSION lockable`` in that database.
    """


class ExtensionNotLoadedError(LockableError):
    """The extension is installed but the server was not started with it in ``shared_preload_libraries``.

    Fix: add ``lockable`` to ``shared_preload_libraries`` in
    ``postgresql.conf`` and restart the server.
    """


class ServerTimeoutError(psycopg.OperationalError, TimeoutError):
    """A request got no answer in time; its connection was closed.

    Raised (and passed to ``on_heartbeat_exception``) by the heartbeat
    thread, whose requests are bounded so that it can retry on a fresh
    connection, and declare the lease lost when it must have run out.
    Both a ``psycopg.OperationalError`` and a ``TimeoutError``.
    """


def translate(err: psycopg.Error, *, dbname: Optional[str] = None) -> BaseException:
    """The lockable_pg exception for a server error, or the error itself."""
    sqlstate = err.sqlstate
    diag = err.diag
    primary = diag.message_primary or str(err).strip()
    where = f' "{dbname}"' if dbname else ""
    if sqlstate == "42883" and "lockable_" in primary:
        new: LockableError = ExtensionNotInstalledError(
            f"the lockable extension is not installed in database{where}, or not in its "
            f"search_path (server said: {primary}); run CREATE EXTENSION lockable there",
            sqlstate=sqlstate,
        )
    elif sqlstate == "55000" and "shared_preload_libraries" in str(err):
        new = ExtensionNotLoadedError(
            f"the lockable extension is installed in database{where} but the server was not "
            f"started with lockable in shared_preload_libraries (server said: {primary}); add "
            "lockable to shared_preload_libraries in postgresql.conf and restart the server",
            sqlstate=sqlstate,
        )
    elif sqlstate is not None and sqlstate.startswith("22"):
        cls = InvalidRequestError
        if sqlstate == "22001" or primary.startswith("lease name"):
            cls = InvalidNameError
        new = cls(primary, sqlstate=sqlstate, detail=diag.message_detail, hint=diag.message_hint)
    else:
        return err
    new.__cause__ = err
    return new

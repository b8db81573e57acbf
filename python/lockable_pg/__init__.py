"""lockable_pg: leases on PostgreSQL's lockable extension, in the shape of the lockable.dev client.

::

    from lockable_pg import Lock

    with Lock('my-lock-name'):
        ...  # runs while holding the lease; heartbeats go on in a thread

The lease is a plain lockable lease (a name and a fencing token), so any
connection may be used for any call: it works through PgBouncer in
transaction pooling mode.  See the ``Lock`` docstring and README.md.
"""

from ._errors import (
    CouldNotAcquireLockError,
    ExtensionNotInstalledError,
    ExtensionNotLoadedError,
    InvalidNameError,
    InvalidRequestError,
    LockableError,
    LockLostError,
    ServerTimeoutError,
)
from ._lock import Lock, try_acquire, try_heartbeat, try_release

__version__ = "0.1.0"

__all__ = [
    "Lock",
    "try_acquire",
    "try_heartbeat",
    "try_release",
    "LockableError",
    "CouldNotAcquireLockError",
    "LockLostError",
    "InvalidRequestError",
    "InvalidNameError",
    "ExtensionNotInstalledError",
    "ExtensionNotLoadedError",
    "ServerTimeoutError",
]

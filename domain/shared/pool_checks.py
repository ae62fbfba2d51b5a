"""Finding out PostgreSQL connections that a database restart broke, before a request
draws one from a pool.

A restart breaks every pooled connection at once, and a broken one is found out only when
used: the request that drew it is refused (503). Pinging on every checkout finds it first
but costs a round trip per use. So:

- a connection is pinged when handed out (`check_when_due`, the pool's `check`) if it
  has not been checked for `CHECK_EVERY_SECONDS` (one idle through a restart), or if
  the process has seen the database fail since it was last checked;
- when the database fails (`suspect()`: the API's 503 handler, or a ping that found a
  broken connection), every watched pool checks all its idle connections at once, in a
  thread of its own (psycopg_pool's `check()`: the broken ones are replaced). Only the
  first request to meet a restart pays for it; psycopg_pool makes a request whose
  connection failed the ping wait a second before it draws another, by which time the
  pool holds live ones.

The read store's pool is watched. The event store's reads and writes are retried on a
broken connection by the library, the audit store pings on every checkout and reopens
its appending connection, and the key store retries its statements once.
"""

from __future__ import annotations

import contextlib
import threading
import time
import weakref
from typing import Any

CHECK_EVERY_SECONDS = 1.0

_checked: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
_pools: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.Lock()
_suspect_since = 0.0
_checking = False


def watch(pool: Any) -> None:
    """Check this psycopg_pool pool's connections when the database fails."""
    with _lock:
        _pools.add(pool)


def suspect() -> None:
    """The database failed here: check every watched pool's idle connections now, and
    each pooled connection before its next use."""
    global _suspect_since, _checking
    with _lock:
        _suspect_since = time.monotonic()
        if _checking:
            return
        _checking = True
        pools = list(_pools)
    threading.Thread(target=_check_all, args=(pools,), name="pool-check", daemon=True).start()


def _check_all(pools: list[Any]) -> None:
    global _checking
    try:
        for pool in pools:
            with contextlib.suppress(Exception):  # a closed pool, a database still down
                pool.check()
    finally:
        with _lock:
            _checking = False


def check_when_due(conn: Any) -> None:
    """A psycopg_pool `check`: raises if `conn` is broken (the pool then discards it and
    draws another), pinging only when due (above)."""
    from psycopg_pool import ConnectionPool

    now = time.monotonic()
    last = _checked.get(conn, 0.0)
    if last > _suspect_since and now - last < CHECK_EVERY_SECONDS:
        return
    try:
        ConnectionPool.check_connection(conn)
    except Exception:
        suspect()
        raise
    _checked[conn] = now

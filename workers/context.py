"""The runtime an actor works with: set by the host process (the embedded server, a test,
`careloop worker`), or built once per process from settings on first use."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bootstrap.runtime import Runtime

_runtime: Runtime | None = None
_lock = threading.Lock()


def use(runtime: Runtime | None) -> None:
    global _runtime
    with _lock:
        _runtime = runtime


def get_runtime() -> Runtime:
    global _runtime
    with _lock:
        if _runtime is None:
            from bootstrap.runtime import Runtime
            from bootstrap.settings import get_settings

            _runtime = Runtime(get_settings())
        return _runtime

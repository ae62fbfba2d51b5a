"""`careloop serve` freezes its start-up heap before it serves (docs/decisions/0039), so
that the collector's full collections no longer walk the modules, routes and schemas
while requests wait."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import api.heap
import api.server
from api.cli import app as careloop
from bootstrap.settings import get_settings
from tests.support.app import SECRET

# Run in a fresh interpreter: freezing the test worker's own heap would keep every
# object alive now out of its collections for the rest of the session.
PROBE = """
import gc, weakref
from api.heap import freeze_startup_heap

class Node:
    pass

a, b = Node(), Node()
a.other, b.other = b, a          # a cycle: only the collector can free it
dropped = weakref.ref(a)
del a, b
kept = [Node() for _ in range(1000)]
frozen = freeze_startup_heap()
assert dropped() is None, "garbage alive at start-up was frozen, not freed"
assert frozen == gc.get_freeze_count() > len(kept)
print(frozen)
"""


def test_freezing_frees_the_garbage_first_and_freezes_what_lives() -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 1000


def test_serve_freezes_the_heap_after_building_the_app_and_before_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(api.heap, "freeze_startup_heap", lambda: calls.append("freeze") or 0)
    monkeypatch.setattr(api.server, "run", lambda app, *args: calls.append(f"run {app.title}"))
    for name in ("CARELOOP_DATABASE_URL", "CARELOOP_DATABASE_SCHEMA", "CARELOOP_API_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CARELOOP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CARELOOP_JWT_SECRET", SECRET)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(careloop, ["serve", "--port", "0"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert calls == ["freeze", "run CareLoop"]

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bootstrap.runtime import Runtime
from tests.support.app import Api, make_api, make_runtime

BACKENDS = ["sqlite", "postgresql"]

# Both cores run tests at once (pytest-xdist), so a new PostgreSQL connection can take
# over the production default of 1 s; the processes the tests start keep that default
# (their environment drops every CARELOOP_ variable).
os.environ.setdefault("CARELOOP_DATABASE_CONNECT_TIMEOUT", "10")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def runtime(backend: str, tmp_path: Path) -> Iterator[Runtime]:
    with make_runtime(backend, tmp_path) as rt:
        yield rt


@pytest.fixture
def api(backend: str, tmp_path: Path) -> Iterator[Api]:
    with make_api(backend, tmp_path) as a:
        yield a


@pytest.fixture
def sqlite_api(tmp_path: Path) -> Iterator[Api]:
    with make_api("sqlite", tmp_path) as a:
        yield a


def is_serial(path: str) -> bool:
    """Tests that must have the machine's services to themselves: the fault tests kill
    processes, restart PostgreSQL and time recoveries; the Redis tests share one server
    (one of them FLUSHALLs it)."""
    return path.startswith("tests/faults/") or "redis" in path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if is_serial(item.nodeid.split("::")[0]):
            item.add_marker(pytest.mark.serial)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fault tests' figures (tests/faults/harness.report), when they were collected."""
    path = os.environ.get("CARELOOP_FAULT_FIGURES")
    if not path or not os.path.exists(path):
        return
    terminalreporter.section("fault-test figures")
    with open(path) as figures:
        for line in figures:
            terminalreporter.write_line(line.rstrip())

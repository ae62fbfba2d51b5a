from __future__ import annotations

import fcntl
import os
import tempfile
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
    processes, restart PostgreSQL and time recoveries."""
    return path.startswith("tests/faults/")


def uses_the_shared_redis(path: str) -> bool:
    """The Redis tests share one server and FLUSHALL it; they run in the parallel part
    beside tests that leave Redis alone, one at a time (`the_shared_redis`)."""
    return "redis" in path


# The files that take longest, longest first: the parallel part starts them first, so
# that neither worker is left waiting at the end on one long file (the Makefile's
# `--no-loadscope-reorder` keeps this order; the other files follow as collected).
LONGEST_FIRST = (
    "tests/contract/test_schemathesis.py",
    "tests/integration/test_zero_downtime_rebuild.py",
    "tests/e2e/test_readme_session.py",
    "tests/e2e/test_serve_workers.py",
    "tests/e2e/test_cli_audit.py",
    "tests/integration/test_survey_loop_state_machine.py",
    "tests/e2e/test_privacy_end_to_end.py",
    "tests/integration/test_postgres_no_gap.py",
    "tests/e2e/test_cli.py",
    "tests/browser/test_admin_pages.py",
    "tests/browser/test_public_survey_form.py",
    "tests/browser/test_docs_page.py",
    "tests/integration/test_coalescing_window_state_machine.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if is_serial(item.nodeid.split("::")[0]):
            item.add_marker(pytest.mark.serial)

    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the files stay whole, each in its collected order


@pytest.fixture(autouse=True)
def the_shared_redis(request: pytest.FixtureRequest) -> Iterator[None]:
    """Held by each Redis test for its whole run, across the xdist workers: one Redis
    test at a time, so one's FLUSHALL never lands in another's run."""
    if not uses_the_shared_redis(request.node.nodeid.split("::")[0]):
        yield
        return
    with open(Path(tempfile.gettempdir()) / "careloop-tests-redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The fault tests' figures (tests/faults/harness.report), when they were collected."""
    path = os.environ.get("CARELOOP_FAULT_FIGURES")
    if not path or not os.path.exists(path):
        return
    terminalreporter.section("fault-test figures")
    with open(path) as figures:
        for line in figures:
            terminalreporter.write_line(line.rstrip())

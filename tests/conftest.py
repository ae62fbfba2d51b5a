from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bootstrap.runtime import Runtime
from tests.support.app import Api, make_api, make_runtime

BACKENDS = ["sqlite", "postgresql"]


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

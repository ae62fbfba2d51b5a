"""The `careloop` command line as an operator meets it, run as a real subprocess: refusals are
one line naming the fix, with exit status 2 and no traceback."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import careloop_env, free_port, run_careloop
from tests.support.services import drop_schema, new_schema_name, postgres_url, redis_url

STRONG = "s" * 32
LONG_RUNNING = [
    pytest.param(("serve",), id="serve"),
    pytest.param(("worker",), id="worker"),
    pytest.param(("projections", "run"), id="projections-run"),
]
NEEDS_TABLES = [
    *LONG_RUNNING,
    pytest.param(("projections", "status"), id="projections-status"),
    pytest.param(("demo",), id="demo"),
]


def refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refusal prints, after checking it is one."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("careloop: ")
    return lines[0]


def unreachable_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """Settings of a shared deployment whose PostgreSQL and Redis nobody answers for."""
    return careloop_env(
        tmp_path,
        CARELOOP_DATABASE_URL=f"postgresql://careloop@127.0.0.1:{free_port()}/careloop",
        CARELOOP_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        **overrides,
    )


# -- safe production defaults ---------------------------------------------------------


@pytest.mark.parametrize("command", LONG_RUNNING)
def test_with_a_database_url_the_development_secret_is_refused(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    env = unreachable_env(tmp_path)
    del env["CARELOOP_JWT_SECRET"]  # the development default
    line = refusal(run_careloop(*command, env=env))
    assert "CARELOOP_JWT_SECRET is the development default" in line


@pytest.mark.parametrize("command", LONG_RUNNING)
@pytest.mark.parametrize("secret", ["s" * 31])
def test_with_a_database_url_a_secret_under_32_bytes_is_refused(
    tmp_path: Path, command: tuple[str, ...], secret: str
) -> None:
    env = unreachable_env(tmp_path, CARELOOP_JWT_SECRET=secret)
    line = refusal(run_careloop(*command, env=env))
    assert "CARELOOP_JWT_SECRET" in line and "32 bytes" in line


@pytest.mark.parametrize("command", LONG_RUNNING)
def test_a_strong_secret_gets_past_the_secret_check(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    # ... as far as the next check, the unreachable database.
    line = refusal(
        run_careloop(*command, env=unreachable_env(tmp_path, CARELOOP_JWT_SECRET=STRONG))
    )
    assert "JWT" not in line and "cannot connect to PostgreSQL" in line


# -- friendly refusals ----------------------------------------------------------------


@pytest.mark.parametrize("command", NEEDS_TABLES)
def test_an_unreachable_database_is_one_line_naming_the_setting(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    env = unreachable_env(tmp_path, CARELOOP_JWT_SECRET=STRONG)
    line = refusal(run_careloop(*command, env=env))
    assert "cannot connect to PostgreSQL at 127.0.0.1:" in line
    assert "CARELOOP_DATABASE_URL" in line


def test_db_init_against_an_unreachable_database_is_one_line_too(tmp_path: Path) -> None:
    env = unreachable_env(tmp_path, CARELOOP_JWT_SECRET=STRONG)
    assert "cannot connect to PostgreSQL" in refusal(run_careloop("db", "init", env=env))


@pytest.fixture
def fresh_schema() -> Iterator[tuple[str, str]]:
    url = postgres_url()
    schema = new_schema_name()
    try:
        yield url, schema
    finally:
        drop_schema(url, schema)


@pytest.mark.parametrize("command", NEEDS_TABLES)
def test_before_db_init_every_process_says_to_run_it(
    tmp_path: Path, fresh_schema: tuple[str, str], command: tuple[str, ...]
) -> None:
    url, schema = fresh_schema
    env = careloop_env(
        tmp_path,
        CARELOOP_DATABASE_URL=url,
        CARELOOP_DATABASE_SCHEMA=schema,
        CARELOOP_REDIS_URL=redis_url(),
        CARELOOP_JWT_SECRET=STRONG,
    )
    line = refusal(run_careloop(*command, env=env))
    assert f"'{schema}'" in line and "run `careloop db init` first" in line


def test_after_db_init_the_same_process_starts(
    tmp_path: Path, fresh_schema: tuple[str, str]
) -> None:
    url, schema = fresh_schema
    env = careloop_env(
        tmp_path,
        CARELOOP_DATABASE_URL=url,
        CARELOOP_DATABASE_SCHEMA=schema,
        CARELOOP_JWT_SECRET=STRONG,
    )
    init = run_careloop("db", "init", env=env)
    assert init.returncode == 0, init.stderr
    status = run_careloop("projections", "status", env=env)
    assert status.returncode == 0, status.stderr
    assert "tenants" in status.stdout


def test_an_unreachable_redis_stops_the_worker_with_one_line(
    tmp_path: Path, fresh_schema: tuple[str, str]
) -> None:
    url, schema = fresh_schema
    port = free_port()
    env = careloop_env(
        tmp_path,
        CARELOOP_DATABASE_URL=url,
        CARELOOP_DATABASE_SCHEMA=schema,
        CARELOOP_REDIS_URL=f"redis://:hunter2@127.0.0.1:{port}/0",
        CARELOOP_JWT_SECRET=STRONG,
    )
    assert run_careloop("db", "init", env=env).returncode == 0
    line = refusal(run_careloop("worker", env=env))
    assert f"cannot connect to Redis at 127.0.0.1:{port}" in line
    assert "CARELOOP_REDIS_URL" in line
    assert "hunter2" not in line


def test_the_embedded_default_needs_no_strong_secret(tmp_path: Path) -> None:
    env = careloop_env(tmp_path / "data")
    del env["CARELOOP_JWT_SECRET"]
    result = run_careloop("projections", "status", env=env)
    assert result.returncode == 0, result.stderr


# -- token ----------------------------------------------------------------------------


def test_token_help_lists_only_the_roles_that_can_log_in(tmp_path: Path) -> None:
    env = careloop_env(tmp_path, COLUMNS="200", TERM="dumb", NO_COLOR="1")
    result = run_careloop("token", "--help", env=env)
    assert result.returncode == 0, result.stderr
    for role in ("patient", "doctor", "hospital_admin", "px_admin", "platform_admin"):
        assert role in result.stdout
    assert "system" not in result.stdout


def test_token_refuses_the_system_role_as_a_usage_error(tmp_path: Path) -> None:
    result = run_careloop(
        "token",
        "--user",
        "00000000-0000-4000-a000-000000000001",
        "--role",
        "system",
        env=careloop_env(tmp_path),
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "system" in result.stderr


# -- make demo ------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("args", "port"), [((), "8000"), (("PORT=8010",), "8010")])
def test_make_demo_serves_on_the_port_it_is_given(args: tuple[str, ...], port: str) -> None:
    result = subprocess.run(
        ["make", "--dry-run", "demo", *args], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert f".venv/bin/careloop serve --demo --port {port}" in result.stdout

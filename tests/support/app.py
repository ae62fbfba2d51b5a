"""Building runtimes and HTTP clients over either backend, and tokens for any actor."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from api.auth import mint_token
from api.main import create_app
from bootstrap.runtime import Runtime
from bootstrap.settings import Settings
from domain.shared.clock import Clock, IdSource
from domain.shared.context import Role
from tests.support.services import drop_schema, new_schema_name, postgres_url

SECRET = "careloop-test-secret-of-at-least-32-bytes"


@contextmanager
def make_runtime(
    backend: str,
    tmp_path: Path,
    clock: Clock | None = None,
    ids: IdSource | None = None,
    **overrides: Any,
) -> Iterator[Runtime]:
    """A runtime on a fresh SQLite directory or a fresh PostgreSQL schema."""
    if backend == "sqlite":
        settings = Settings(data_dir=tmp_path / "data", jwt_secret=SECRET, **overrides)
        runtime = Runtime(settings, clock=clock, ids=ids)
        try:
            yield runtime
        finally:
            runtime.close()
        return
    url = postgres_url()
    schema = new_schema_name()
    settings = Settings(database_url=url, database_schema=schema, jwt_secret=SECRET, **overrides)
    runtime = Runtime(settings, clock=clock, ids=ids, create_tables=True)
    try:
        yield runtime
    finally:
        runtime.close()
        drop_schema(url, schema)


def token(
    role: Role | str, user_id: uuid.UUID | str | None = None, tenant: Any = None, ttl: int = 3600
) -> str:
    role = Role(role)
    return mint_token(
        SECRET,
        uuid.UUID(str(user_id or uuid.uuid4())),
        role,
        uuid.UUID(str(tenant)) if tenant else None,
        ttl,
    )


def auth(role: Role | str, user_id: Any = None, tenant: Any = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, user_id, tenant)}"}


PLATFORM = uuid.UUID("00000000-0000-4000-a000-0000000000aa")


class Api:
    """A test client plus the steps most tests start from."""

    def __init__(self, client: TestClient, runtime: Runtime) -> None:
        self.client = client
        self.runtime = runtime
        self.admin = auth(Role.PLATFORM_ADMIN, PLATFORM)

    def ok(
        self, method: str, path: str, headers: dict[str, str], expect: int = 200, **kw: Any
    ) -> Any:
        response = self.client.request(method, path, headers=headers, **kw)
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        return response.json()

    def tenant(self, name: str = "Clinic") -> str:
        return str(self.ok("POST", "/v1/tenants", self.admin, 201, json={"name": name})["id"])

    def flag(self, tenant: str, flag: str, enabled: bool = True) -> None:
        self.ok(
            "PUT",
            f"/v1/tenants/{tenant}/feature-flags/{flag}",
            self.admin,
            json={"enabled": enabled},
        )

    def staff(
        self,
        tenant: str,
        kind: str = "DOCTOR",
        first: str = "Maya",
        last: str = "Lind",
        approve: bool = True,
    ) -> str:
        body = {
            "type": kind,
            "firstName": first,
            "lastName": last,
            "email": f"{first.lower()}.{uuid.uuid4().hex[:6]}@clinic.example",
        }
        staff_id = str(
            self.ok("POST", f"/v1/tenants/{tenant}/staff", self.admin, 201, json=body)["id"]
        )
        if approve and kind == "DOCTOR":
            self.ok("POST", f"/v1/staff/{staff_id}/approve", self.admin)
        return staff_id

    def doctor(
        self, tenant: str, first: str = "Maya", last: str = "Lind"
    ) -> tuple[str, dict[str, str]]:
        doctor_id = self.staff(tenant, "DOCTOR", first, last)
        return doctor_id, auth(Role.DOCTOR, doctor_id, tenant)

    def invite(
        self, doctor_headers: dict[str, str], first: str = "Sam", extra: list[str] | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "firstName": first,
            "lastName": "Carter",
            "email": f"{first.lower()}.{uuid.uuid4().hex[:6]}@patients.example",
        }
        if extra is not None:
            body["additionalTherapistIds"] = extra
        result: dict[str, Any] = self.ok(
            "POST", "/v1/patients/invite", doctor_headers, 201, json=body
        )
        return result


@contextmanager
def make_api(
    backend: str, tmp_path: Path, process_managers: bool = False, **kw: Any
) -> Iterator[Api]:
    """An API over a fresh runtime with its projections running; with `process_managers`,
    the feedback loop's dispatcher, sweep and in-process Dramatiq workers run too."""
    with make_runtime(backend, tmp_path, **kw) as runtime:
        app = create_app(runtime, run_workers=True, run_process_managers=process_managers)
        with TestClient(app) as client:
            yield Api(client, runtime)

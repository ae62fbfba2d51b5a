"""Access is not granted without its record: while the audit store refuses writes, a
command answers 503 and writes nothing, and a read of patient data answers 503 too. The
store refuses for real: a trigger on its table rejects every insert, as a full disk or
a revoked grant would. Once it takes writes again, everything works and the chain holds.
"""

from __future__ import annotations

from domain.audit.chain import verify
from domain.audit.store import AuditFilter
from tests.support.app import Api
from tests.support.audit import refusing
from tests.support.http import assert_problem


def register(api: Api, tenant: str) -> object:
    body = {"type": "PX_ADMIN", "firstName": "Noor", "lastName": "Haddad", "email": "n@c.example"}
    return api.client.post(f"/v1/tenants/{tenant}/staff", headers=api.admin, json=body)


def test_while_the_audit_store_refuses_writes_a_command_is_503_and_writes_nothing(
    api: Api,
) -> None:
    tenant = api.tenant()
    head = api.runtime.log.head()
    with refusing(api, "1 = 1"):
        response = register(api, tenant)
        body = assert_problem(response, 503)  # type: ignore[arg-type]
        assert body["type"].endswith("audit-unavailable")
        assert api.runtime.log.head() == head, "the command must not have run"
    accepted = register(api, tenant)
    assert accepted.status_code == 201  # type: ignore[attr-defined]
    assert api.runtime.log.head() > head


def test_while_the_audit_store_refuses_writes_a_read_is_503(api: Api) -> None:
    tenant = api.tenant()
    with refusing(api, "1 = 1"):
        response = api.client.get(f"/v1/tenants/{tenant}", headers=api.admin)
        assert_problem(response, 503)
    assert api.client.get(f"/v1/tenants/{tenant}", headers=api.admin).status_code == 200


def test_after_the_store_takes_writes_again_every_request_is_recorded_and_the_chain_holds(
    api: Api,
) -> None:
    tenant = api.tenant()
    with refusing(api, "1 = 1"):
        register(api, tenant)
    register(api, tenant)
    api.client.get(f"/v1/tenants/{tenant}/staff", headers=api.admin)
    audit = api.runtime.audit
    actions = [e.action for e in reversed(audit.query(tenant, AuditFilter(), 10))]
    assert actions == ["tenant_created", "staff_registered", "staff.read"]
    result = verify(audit.key, audit.all_entries(tenant), audit.head(tenant))
    assert result.verified and result.entries == 3


def test_a_command_whose_entry_fails_after_it_wrote_still_answers_and_its_events_name_it(
    api: Api,
) -> None:
    """The store takes the command's probe, then refuses its entry: the command's events
    are committed, so the response goes out and the entry is derivable from them."""
    tenant = api.tenant()
    with refusing(api, "NEW.action = 'staff_registered'"):
        response = register(api, tenant)
    assert response.status_code == 201  # type: ignore[attr-defined]
    position = response.json()["position"]  # type: ignore[attr-defined]
    event = api.runtime.log.decode(api.runtime.log.read(position - 1, 1)[0])
    meta = event.metadata  # type: ignore[attr-defined]
    assert (meta["action"], meta["actionStatus"]) == ("staff_registered", 201)
    assert meta["causationId"].startswith("request:")
    assert meta["tenantId"] == tenant

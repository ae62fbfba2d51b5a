"""The demo clinic's audit trail shows the demo's commands: one entry per command it ran,
under the API's action names, in a chain that verifies; loading the demo again runs
nothing new and adds no entry."""

from __future__ import annotations

from pathlib import Path

from api.audit.actions import ACTIONS
from api.demo import load_demo
from domain.audit.chain import verify
from domain.audit.entry import PLATFORM
from tests.support.app import make_runtime


def test_the_demo_leaves_one_entry_per_command_and_none_when_loaded_again(
    tmp_path: Path,
) -> None:
    with make_runtime("sqlite", tmp_path) as runtime:
        demo = load_demo(runtime)
        audit = runtime.audit
        tenant = str(demo.tenant_id)
        entries = list(audit.all_entries(tenant))
        actions = [e.action for e in entries]
        assert actions[0] == "tenant_created"
        assert {"patient_invited", "workout_finalized", "survey_patient_contacted"} <= set(actions)
        assert {"satisfaction_feedback_sent", "treatment_plan_assigned"} <= set(actions)
        assert set(actions) <= {action.name for action in ACTIONS.values()}
        assert all(e.outcome == "success" and e.position is not None for e in entries)
        assert audit.tenants() == [tenant], "the platform admin's steps are the clinic's"
        assert verify(audit.key, entries, audit.head(tenant)).verified

        load_demo(runtime)
        assert len(list(audit.all_entries(tenant))) == len(entries)
        assert PLATFORM not in audit.tenants()

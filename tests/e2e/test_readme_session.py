"""The README's example session, pasted into bash against `careloop serve --demo`: its ids
and positions travel in shell variables, so it works as written."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.processes import careloop_env, careloop_server
from tests.support.services import require

ROOT = Path(__file__).resolve().parents[2]


def session_after(heading: str) -> str:
    """The first ```sh block of the README after `heading`."""
    readme = (ROOT / "README.md").read_text()
    after = readme.split(heading, 1)[1]
    match = re.search(r"```sh\n(.*?)```", after, re.DOTALL)
    assert match, f"the README's session after {heading!r} is not a ```sh block"
    return match.group(1)


def example_session() -> str:
    return session_after("An example session against `make demo`")


def run_session(session: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`session` pasted into bash against `careloop serve --demo`."""
    assert session.startswith("BASE=http://127.0.0.1:8000\n")
    env = careloop_env(tmp_path / "data")
    with careloop_server(tmp_path, "--demo", env=env) as server:
        script = session.replace("BASE=http://127.0.0.1:8000", f"BASE={server.base_url}", 1)
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 0, result.stderr
    return result


def test_the_readme_example_session_runs_as_pasted(tmp_path: Path) -> None:
    require(shutil.which("curl") is not None, "curl is not installed")
    result = run_session(example_session(), tmp_path)
    created, flags = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert set(created) == {"id", "position"} and created["position"] > 0
    assert flags == {
        "flags": {
            "feedbackNotifications": False,
            "therapistPatientAssignment": False,
            "allActivePatientsDashboard": False,
        }
    }


@pytest.mark.parametrize("placeholder", ["0ca71910-b639-4698-937e-f289a623396d", "=33"])
def test_the_session_commands_use_no_ids_or_positions_from_the_example_output(
    placeholder: str,
) -> None:
    commands = [line for line in example_session().splitlines() if not line.startswith("#")]
    assert not any(placeholder in line for line in commands)


def test_the_readme_auditor_session_runs_as_pasted(tmp_path: Path) -> None:
    require(shutil.which("curl") is not None, "curl is not installed")
    result = run_session(session_after("An auditor's session"), tmp_path)
    lines = result.stdout.strip().splitlines()
    assert lines[0].endswith("hospital_admin service_plan_set success 200")
    assert lines[1].endswith("doctor patient_invited success 200")
    assert lines[2] == "403"
    assert lines[3].endswith("auditor patient.read denied 403")
    assert lines[4] == "['Patient.Invited']"
    assert lines[5] == "1 Sam"
    verified = json.loads(lines[6])
    assert verified["verified"] is True and verified["firstBrokenSeq"] is None
    assert lines[7].endswith(": verified")


def test_the_readme_operations_session_runs_as_pasted(tmp_path: Path) -> None:
    require(shutil.which("curl") is not None, "curl is not installed")
    session = session_after("An operator's and an analyst's session")
    result = run_session(session.replace("${TMPDIR:-/tmp}", str(tmp_path)), tmp_path)
    lines = result.stdout.strip().splitlines()
    assert json.loads(lines[0]) == {"name": "directory", "status": "rebuilding"}
    assert re.match(r"workout_session: done at position \d+ \(live\)", lines[1])
    assert [cell.strip() for cell in lines[2].strip("│ ").split("│")] == [
        "flagged_workouts",
        "1",
        "4",
        "+3",
    ]
    wrote = re.fullmatch(rf"wrote (\d+) Parquet files to {tmp_path}/careloop-export", lines[3])
    assert wrote, lines[3]
    files = list((tmp_path / "careloop-export").glob("*.parquet"))
    assert int(wrote.group(1)) == len(files) > 30  # the events, and every read-model table
    assert int(lines[4]) > 200

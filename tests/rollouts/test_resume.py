"""A worker killed in the middle of starting a step: the step resumes once, nothing twice.

The worker here is a real process running rollouts.steps.step_start on the test database; it
is killed (SIGKILL, as the OOM killer or a hard time limit would) after it published the
step's versions and just before it wrote the deployment, from a database execute wrapper, the
one seam that sees that moment. The start is one transaction: the killed attempt left nothing,
and the next start (what beat's resume_pending_steps sends) publishes and requests it once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from fleet.models import Deployment
from policies.models import PolicyVersion
from rollouts import steps
from rollouts.models import Step, StepStatus
from tests.rollouts.support import planned

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DOOMED_WORKER = r"""
import json, os, signal, sys
import django
django.setup()
from django.db import connection
from rollouts import steps

step_id, marker = int(sys.argv[1]), sys.argv[2]
published = []

def die_before_the_deployment(execute, sql, params, many, context):
    text = sql.lstrip().upper()
    if text.startswith("INSERT") and '"POLICIES_POLICYVERSION"' in text:
        published.append(sql)
    if text.startswith("INSERT") and '"FLEET_DEPLOYMENT"' in text:
        with open(marker, "w") as out:
            json.dump({"versions_inserted": len(published)}, out)
        os.kill(os.getpid(), signal.SIGKILL)
    return execute(sql, params, many, context)

with connection.execute_wrapper(die_before_the_deployment):
    steps.step_start(step_id, "doomed")
"""


def database_url() -> str:
    params = connection.settings_dict
    if params["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{params['NAME']}"
    auth = params.get("USER") or ""
    if params.get("PASSWORD"):
        auth += f":{params['PASSWORD']}"
    host = params.get("HOST") or "127.0.0.1"
    return f"postgres://{auth}@{host}:{params.get('PORT') or 5432}/{params['NAME']}"


def test_a_worker_killed_mid_start_leaves_nothing_and_the_step_starts_once(
    estate: Any, people: dict[str, Any], tmp_path: Path
) -> None:
    campaign = planned(estate, people)
    # As campaign_promote makes it (its enqueue needs a broker; here the starts are driven).
    step = Step.objects.create(
        campaign=campaign,
        position=0,
        cohort=campaign.cohorts.get(position=0),
        requested_by=people["alice"],
    )
    versions, deployments = PolicyVersion.objects.count(), Deployment.objects.count()
    marker = tmp_path / "killed.json"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": database_url(),
        "DATABASE_CONN_MAX_AGE": "0",
        "DJANGO_DEBUG": "true",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "FLEET_SECRETS_KEY": settings.FLEET_SECRETS_KEY,
    }
    connection.close()  # SQLite: no lock of ours in the way of the worker's transaction
    doomed = subprocess.run(
        [sys.executable, "-c", DOOMED_WORKER, str(step.id), str(marker)],
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        timeout=120,
    )
    assert doomed.returncode == -signal.SIGKILL, doomed.stderr.decode()[-2000:]
    assert json.loads(marker.read_text())["versions_inserted"] == 2  # SYSA's and SYSB's

    # Nothing of the killed attempt is kept: no version, no deployment, the step pending.
    step.refresh_from_db()
    assert (step.status, step.attempts, step.versions) == (StepStatus.PENDING, 0, {})
    assert PolicyVersion.objects.count() == versions
    assert Deployment.objects.count() == deployments

    # Resumed once: published and requested once; a further start (a redelivered message,
    # the next beat) finds it started and changes nothing.
    assert steps.step_start(step.id, "survivor") is not None
    assert steps.step_start(step.id, "survivor") is None
    step.refresh_from_db()
    assert step.status == StepStatus.REQUESTED and step.attempts == 1
    assert step.claimed_by == "survivor"
    assert PolicyVersion.objects.count() == versions + 2
    assert Deployment.objects.count() == deployments + 1

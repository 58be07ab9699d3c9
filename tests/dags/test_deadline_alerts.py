"""Deadline Alerts under a real scheduler and triggerer: a late run e-mails the on-call, an on-time run does not.

A scratch Airflow (scheduler, DAG processor, triggerer, API server; tests/support/airflow_local.py) parses the
repository's DAGs with an alerts file (``BCDC_ALERTS_CONFIG``) that gives ``cdc_stack_health`` a 1-second
deadline, so its run is certainly late (starting a task alone takes longer), and sends mail to a local
SMTP server (aiosmtpd) that keeps what it receives. ``airflow dags test`` cannot check this: it runs no
scheduler loop, so deadlines are never evaluated there.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml

from banking_cdc.operate.alerts import CONFIG_ENV, AlertsConfig
from tests.support.airflow_local import ScratchAirflow, free_port

ROOT = Path(__file__).resolve().parents[2]
LATE_DAG = "cdc_stack_health"
ON_TIME_DAG = "warehouse_setup"
SMTP_CONN_ID = "smtp_deadline_test"
RECIPIENTS = ["data-oncall@bank.invalid", "platform@bank.invalid"]


class Mailbox:
    """aiosmtpd handler keeping every message it is sent."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def wait_for(self, needle: str, timeout: float, airflow: ScratchAirflow) -> list[EmailMessage]:
        """Messages whose subject contains ``needle``, waiting up to ``timeout`` seconds for the first."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            airflow.check_alive()
            with self._lock:
                found = [m for m in self.messages if needle in str(m["Subject"])]
            if found:
                return found
            time.sleep(0.5)
        raise AssertionError(f"no e-mail with {needle!r} in its subject within {timeout:.0f}s (see {airflow.logs})")


@pytest.fixture(scope="module")
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    from aiosmtpd.controller import Controller

    handler = Mailbox()
    port = free_port(18400, 18499)
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def scheduler(
    stack: dict[str, str], mailbox: tuple[Mailbox, int], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ScratchAirflow]:
    _, port = mailbox
    scratch = tmp_path_factory.mktemp("deadline-airflow")
    packaged = AlertsConfig.load()
    alerts = {
        "email": {"smtp_conn_id": SMTP_CONN_ID, "from_email": "airflow@bank.invalid", "to": RECIPIENTS},
        "deadlines": {**packaged.deadlines, LATE_DAG: 1},
    }
    alerts_file = scratch / "alerts.yaml"
    alerts_file.write_text(yaml.safe_dump(alerts))
    smtp = {
        "conn_type": "smtp",
        "host": "127.0.0.1",
        "port": port,
        "extra": {"disable_tls": True, "disable_ssl": True, "timeout": 10, "retry_limit": 0},
    }
    env = {CONFIG_ENV: str(alerts_file), f"AIRFLOW_CONN_{SMTP_CONN_ID.upper()}": json.dumps(smtp)}
    airflow = ScratchAirflow(scratch, ROOT / "dags", env)
    try:
        airflow.migrate()
        airflow.start()
        airflow.wait_until_ready([LATE_DAG, ON_TIME_DAG])
        yield airflow
    finally:
        airflow.stop()


def _deadline_row(airflow: ScratchAirflow, dag_id: str, run_id: str) -> list[tuple[Any, ...]]:
    return airflow.query(
        "SELECT d.deadline_time, d.missed, r.queued_at FROM deadline d JOIN dag_run r ON r.id = d.dagrun_id "
        "WHERE r.dag_id = ? AND r.run_id = ?",
        dag_id,
        run_id,
    )


def test_a_run_past_its_deadline_emails_subject_and_body_naming_dag_run_and_deadline(
    scheduler: ScratchAirflow, mailbox: tuple[Mailbox, int]
) -> None:
    box, _ = mailbox
    run_id = f"deadline_late_{uuid.uuid4().hex[:8]}"
    scheduler.trigger(LATE_DAG, run_id)

    [message] = box.wait_for(run_id, timeout=180, airflow=scheduler)
    assert message["Subject"] == f"[banking-cdc] Deadline missed: {LATE_DAG} / {run_id}"
    assert message["From"] == "airflow@bank.invalid"
    assert sorted(box.recipients[box.messages.index(message)]) == sorted(RECIPIENTS)
    body = message.get_body(preferencelist=("html",))
    assert body is not None
    html = body.get_content()
    assert f"DAG: {LATE_DAG}" in html
    assert f"Run: {run_id}" in html

    [(deadline_time, missed, queued_at)] = _deadline_row(scheduler, LATE_DAG, run_id)
    assert missed
    # SQLite keeps naive UTC
    deadline_at = datetime.fromisoformat(deadline_time).replace(tzinfo=UTC)
    queued = datetime.fromisoformat(queued_at).replace(tzinfo=UTC)
    assert deadline_at - queued == timedelta(seconds=1)  # the configured interval, counted from "queued"
    shown = re.search(r"Deadline: ([^<]+)<", html)
    assert shown, html
    assert datetime.fromisoformat(shown.group(1).strip()) == deadline_at

    # the alert does not stop the run: it still finishes, and no second e-mail is sent for it
    assert scheduler.wait_for_run(LATE_DAG, run_id, timeout=300) == "success"
    time.sleep(5)
    assert len([m for m in box.messages if run_id in str(m["Subject"])]) == 1


def test_a_run_finished_before_its_deadline_clears_it_and_sends_nothing(
    scheduler: ScratchAirflow, mailbox: tuple[Mailbox, int]
) -> None:
    box, _ = mailbox
    run_id = f"deadline_on_time_{uuid.uuid4().hex[:8]}"
    scheduler.trigger(ON_TIME_DAG, run_id)
    assert scheduler.wait_for_run(ON_TIME_DAG, run_id, timeout=300) == "success"
    assert _deadline_row(scheduler, ON_TIME_DAG, run_id) == []  # pruned when the run succeeded
    assert not [m for m in box.messages if run_id in str(m["Subject"])]

"""Deadline Alerts configuration: validated, one alert per pipeline DAG, e-mail naming DAG, run, deadline."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from banking_cdc.operate.alerts import (
    BODY,
    CONFIG_ENV,
    SUBJECT,
    AlertsConfig,
    AlertsConfigError,
    pipeline_deadline,
    running_dags_test,
)

GOOD = """
email:
  smtp_conn_id: smtp_default
  from_email: airflow@example.com
  to: [oncall@example.com]
deadlines:
  some_dag: 120
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alerts.yaml"
    path.write_text(text)
    return path


def test_packaged_config_loads_and_covers_every_dag_file() -> None:
    config = AlertsConfig.load()
    dags = {p.stem for p in (Path(__file__).resolve().parents[3] / "dags").glob("*.py")}
    assert dags <= set(config.deadlines), f"DAGs without a deadline: {sorted(dags - set(config.deadlines))}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("deadlines:", "deadline:"), "exactly the keys email and deadlines"),
        (GOOD.replace("some_dag: 120", "some_dag: -5"), "deadlines.some_dag must be a positive"),
        (GOOD.replace("some_dag: 120", "some_dag: soon"), "deadlines.some_dag must be a positive"),
        (GOOD.replace("oncall@example.com", "oncall"), "email.to: 'oncall' is not an e-mail address"),
        (GOOD.replace("  smtp_conn_id: smtp_default\n", ""), "email must have exactly the keys"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(AlertsConfigError, match=re.escape(message)):
        AlertsConfig.load(_write(tmp_path, text))


def test_unknown_dag_names_the_missing_key(tmp_path: Path) -> None:
    config = AlertsConfig.load(_write(tmp_path, GOOD))
    with pytest.raises(AlertsConfigError, match=re.escape("deadlines.other_dag is missing")):
        pipeline_deadline("other_dag", config)


def test_alert_counts_from_queued_and_mails_through_smtp_notifier(tmp_path: Path) -> None:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier
    from airflow.sdk import AsyncCallback, DeadlineReference

    alert = pipeline_deadline("some_dag", AlertsConfig.load(_write(tmp_path, GOOD)))
    assert alert.reference == DeadlineReference.DAGRUN_QUEUED_AT  # manual runs have no logical date
    assert alert.interval == timedelta(seconds=120)
    assert isinstance(alert.callback, AsyncCallback)
    assert alert.callback.path == f"{SmtpNotifier.__module__}.{SmtpNotifier.__qualname__}"
    kwargs = alert.callback.kwargs
    assert kwargs["smtp_conn_id"] == "smtp_default" and kwargs["to"] == ["oncall@example.com"]
    assert kwargs["subject"] == SUBJECT and kwargs["html_content"] == BODY


def test_email_templates_name_dag_run_and_deadline() -> None:
    from jinja2 import Template

    context = {
        "dag_run": {"dag_id": "cdc_stage", "dag_run_id": "manual__1", "queued_at": "2026-11-26T10:00:00Z",
                    "start_date": "2026-11-26T10:00:01Z", "state": "running"},
        "deadline": {"deadline_time": "2026-11-26 10:05:00+00:00"},
    }  # fmt: skip
    subject, body = Template(SUBJECT).render(context), Template(BODY).render(context)
    assert subject == "[banking-cdc] Deadline missed: cdc_stage / manual__1"
    for expected in ("DAG: cdc_stage", "Run: manual__1", "Deadline: 2026-11-26 10:05:00+00:00", "State now: running"):
        assert expected in body


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/opt/venv/bin/airflow", "dags", "test", "cdc_stage"], True),
        (["airflow", "dags", "test", "cdc_stage", "--conf", "{}"], True),
        (["/opt/venv/bin/airflow", "dags", "list"], False),
        (["/opt/venv/bin/airflow", "scheduler"], False),
        (["/usr/bin/python", "-m", "pytest", "dags", "test"], False),
        (["airflow"], False),
    ],
)
def test_running_dags_test_recognises_only_the_dags_test_command(argv: list[str], expected: bool) -> None:
    assert running_dags_test(argv) is expected


def test_no_deadline_under_airflow_dags_test_but_the_interval_is_still_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = AlertsConfig.load(_write(tmp_path, GOOD))
    monkeypatch.setattr("sys.argv", ["/x/bin/airflow", "dags", "test", "some_dag"])
    assert pipeline_deadline("some_dag", config) is None
    with pytest.raises(AlertsConfigError, match=re.escape("deadlines.other_dag is missing")):
        pipeline_deadline("other_dag", config)


def test_bcdc_alerts_config_names_another_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONFIG_ENV, str(_write(tmp_path, GOOD.replace("some_dag: 120", "some_dag: 7"))))
    assert AlertsConfig.load().deadlines == {"some_dag": 7}
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "missing.yaml"))
    with pytest.raises(AlertsConfigError, match=re.escape(f"{tmp_path / 'missing.yaml'} does not exist")):
        AlertsConfig.load()

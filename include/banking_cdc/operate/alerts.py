"""Deadline Alerts of the pipeline's DAGs: an e-mail when a run is not finished in time.

The intervals and recipients live in ``config/alerts.yaml`` (validated on load; a bad key fails naming
the key); ``BCDC_ALERTS_CONFIG`` may name another file with the same keys. Every pipeline DAG passes
``deadline=pipeline_deadline("<dag_id>")``: an Airflow 3 :class:`~airflow.sdk.DeadlineAlert` counted
from when the run was queued (manual runs have no logical date), whose callback is the SMTP provider's
:class:`SmtpNotifier`, run asynchronously in the triggerer. The e-mail names the DAG, the run and the
missed deadline. Reading the YAML at parse time is local file I/O only, like the dbt manifest.

Under ``airflow dags test`` the DAGs are parsed without their deadlines: that command never evaluates
deadlines (no scheduler loop), and in Airflow 3.3.2 it fails a successful run of a DAG that has one
(``DagRun.update_state`` looks the alerts up by id, which ``dags test`` never stored: ``'dict' object
has no attribute 'hex'``). Scheduled and triggered runs always carry them.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from dataclasses import dataclass
from datetime import timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from banking_cdc.exceptions import BankingCdcError

#: e-mail subject; the context of a deadline callback holds ``dag_run`` (REST API fields) and ``deadline``
SUBJECT = "[banking-cdc] Deadline missed: {{ dag_run.dag_id }} / {{ dag_run.dag_run_id }}"
#: e-mail body (HTML)
BODY = (
    "<p>A banking-cdc pipeline run missed its deadline.</p>"
    "<ul>"
    "<li>DAG: {{ dag_run.dag_id }}</li>"
    "<li>Run: {{ dag_run.dag_run_id }}</li>"
    "<li>Deadline: {{ deadline.deadline_time }}</li>"
    "<li>Queued at: {{ dag_run.queued_at }}</li>"
    "<li>Started at: {{ dag_run.start_date }}</li>"
    "<li>State now: {{ dag_run.state }}</li>"
    "</ul>"
    "<p>See the runbooks in the project README (DAG and task logs first).</p>"
)
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+$")
#: environment variable naming an alerts file to use instead of the packaged one
CONFIG_ENV = "BCDC_ALERTS_CONFIG"

log = logging.getLogger(__name__)


class AlertsConfigError(BankingCdcError):
    """The alerts configuration (``alerts.yaml``) is invalid; the message names the key."""


@dataclass(frozen=True)
class AlertsConfig:
    """
    The validated alerts configuration.

    :param smtp_conn_id: Airflow connection of the SMTP server.
    :param from_email: Sender address.
    :param to: Recipient addresses.
    :param deadlines: Seconds from "run queued" to the deadline, per DAG id.
    """

    smtp_conn_id: str
    from_email: str
    to: tuple[str, ...]
    deadlines: dict[str, int]

    def __post_init__(self) -> None:
        if not self.smtp_conn_id:
            raise AlertsConfigError("email.smtp_conn_id must name an Airflow connection")
        for key, address in [("email.from_email", self.from_email), *(("email.to", a) for a in self.to)]:
            if not isinstance(address, str) or not _ADDRESS.match(address):
                raise AlertsConfigError(f"{key}: {address!r} is not an e-mail address")
        if not self.to:
            raise AlertsConfigError("email.to must list at least one address")
        for dag_id, seconds in self.deadlines.items():
            if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
                raise AlertsConfigError(f"deadlines.{dag_id} must be a positive number of seconds, got {seconds!r}")

    @classmethod
    def load(cls, path: str | Path | None = None) -> AlertsConfig:
        """Load and validate ``path`` (default: ``$BCDC_ALERTS_CONFIG``, else the packaged ``config/alerts.yaml``)."""
        path = path if path is not None else (os.environ.get(CONFIG_ENV) or None)
        if path is not None and not Path(path).is_file():
            raise AlertsConfigError(f"alerts configuration {path} does not exist ({CONFIG_ENV} or path argument)")
        text = (
            Path(path).read_text()
            if path is not None
            else files("banking_cdc").joinpath("config/alerts.yaml").read_text()
        )
        data = yaml.safe_load(text)
        if not isinstance(data, dict) or set(data) != {"email", "deadlines"}:
            keys = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise AlertsConfigError(f"alerts.yaml must have exactly the keys email and deadlines, got {keys}")
        email, deadlines = data["email"], data["deadlines"]
        if not isinstance(email, dict) or set(email) != {"smtp_conn_id", "from_email", "to"}:
            raise AlertsConfigError("email must have exactly the keys smtp_conn_id, from_email and to")
        if not isinstance(deadlines, dict):
            raise AlertsConfigError("deadlines must map DAG ids to seconds")
        recipients = email["to"] if isinstance(email["to"], list) else [email["to"]]
        return cls(
            smtp_conn_id=str(email["smtp_conn_id"]),
            from_email=email["from_email"],
            to=tuple(recipients),
            deadlines=dict(deadlines),
        )

    def interval(self, dag_id: str) -> timedelta:
        """The deadline interval of ``dag_id``; raise naming the key when the DAG has none."""
        if dag_id not in self.deadlines:
            raise AlertsConfigError(f"deadlines.{dag_id} is missing from alerts.yaml (every pipeline DAG has one)")
        return timedelta(seconds=self.deadlines[dag_id])


@functools.cache
def _configured(path: str | None) -> AlertsConfig:
    return AlertsConfig.load(path)


def running_dags_test(argv: list[str] | None = None) -> bool:
    """Whether this process is the ``airflow dags test`` command (which parses the DAGs in-process)."""
    args = sys.argv if argv is None else argv
    return len(args) >= 3 and Path(args[0]).name == "airflow" and args[1:3] == ["dags", "test"]


def pipeline_deadline(dag_id: str, config: AlertsConfig | None = None) -> Any:
    """
    The Deadline Alert of a pipeline DAG: e-mail through ``SmtpNotifier`` when a run is not finished
    ``deadlines.<dag_id>`` seconds after it was queued.

    Returns ``None`` (no deadline) under ``airflow dags test``, which never evaluates deadlines and
    fails on them in Airflow 3.3.2 (see the module docstring); the interval is still validated.

    :param dag_id: The DAG's id (its key under ``deadlines`` in alerts.yaml).
    :param config: Alerts configuration; ``None`` uses ``$BCDC_ALERTS_CONFIG`` or the packaged one.
    """
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier
    from airflow.sdk.definitions.callback import AsyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    config = config or _configured(os.environ.get(CONFIG_ENV) or None)
    interval = config.interval(dag_id)
    if running_dags_test():
        log.info("airflow dags test: %s is parsed without its Deadline Alert", dag_id)
        return None
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=interval,
        callback=AsyncCallback(
            SmtpNotifier,
            kwargs={
                "smtp_conn_id": config.smtp_conn_id,
                "from_email": config.from_email,
                "to": list(config.to),
                "subject": SUBJECT,
                "html_content": BODY,
            },
        ),
        name=f"{dag_id}_deadline_email",
    )

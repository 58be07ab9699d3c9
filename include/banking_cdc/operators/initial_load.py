"""The initial load of a table added to ``capture.yaml``: a Debezium incremental snapshot, started by the setup.

Debezium's own initial snapshot (``snapshot.mode: initial``) reads the tables the connector has when it is first
created. A table added to the configuration later would only stream its changes from then on: its existing rows
would never reach bronze. :class:`InitialLoadOperator` runs after the connector is updated and signals an
incremental snapshot of

- every table added to the connector's include list by this setup run, and
- every captured table whose change topic has never received a message while the table holds rows (an earlier
  setup run that failed between the connector update and the signal, or a topic recreated by hand).

Before signalling it waits until the connector's restarted task streams the slot (a new walsender process), so
the signal is read by a task that captures the added tables. :class:`~banking_cdc.operators.resync.\
DebeziumSnapshotCompleteSensor` then waits for Debezium's ``COMPLETED`` notification: a snapshot that never
happens fails the setup run instead of leaving the table silently empty.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from airflow.sdk import Context

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.capture.source_setup import CaptureSetupError
from banking_cdc.operators.capture import slot_active_pid
from banking_cdc.operators.resync import DebeziumIncrementalSnapshotOperator, topic_watermarks

#: Debezium snapshot modes that read no existing rows: the user chose not to load them
NO_DATA_SNAPSHOT_MODES = frozenset({"no_data", "never", "schema_only"})


class InitialLoadOperator(DebeziumIncrementalSnapshotOperator):
    """
    Signal an incremental snapshot of the tables that need their existing rows loaded (see the module).

    Returns the signal's info as :class:`~banking_cdc.operators.resync.DebeziumIncrementalSnapshotOperator` does,
    plus ``added`` and ``never_streamed``; with nothing to load, ``signal_id`` is ``None`` and ``reason`` says why.

    :param connector: The return value of :class:`~banking_cdc.operators.capture.EnsureDebeziumConnectorOperator`
        (an XCom): the include list before this run and the walsender then streaming the slot.
    :param restart_timeout: Seconds to wait for the updated connector to stream again.
    """

    template_fields: Sequence[str] = ("connector",)

    def __init__(self, *, connector: Any, restart_timeout: float = 180.0, **kwargs: Any) -> None:
        super().__init__(tables=(), **kwargs)
        self.connector = connector
        self.restart_timeout = restart_timeout

    def execute(self, context: Context) -> dict[str, Any]:
        capture = self.load_capture_config()
        mode = capture.connector.config.get("snapshot.mode", "initial")
        if mode in NO_DATA_SNAPSHOT_MODES:
            return self._nothing(f"snapshot.mode {mode} loads no existing rows")
        previous = self.connector.get("previous_tables")
        if previous is None:
            return self._nothing("the connector was created by this run: its initial snapshot reads every table")
        added = [table for table in capture.source.tables if capture.source.qualified(table) not in previous]
        never = self.never_streamed(capture, [table for table in capture.source.tables if table not in added])
        tables = [table for table in capture.source.tables if table in added or table in never]
        if not tables:
            return self._nothing("every captured table was captured before")
        if self.connector.get("outcome") != "unchanged":
            self.wait_for_restart(capture, self.connector.get("slot_pid_before"))
        self.log.info(
            "Initial load by incremental snapshot of %s (added to capture.yaml: %s; topic never written, rows in "
            "the source: %s)", tables, added or "none", never or "none",
        )  # fmt: skip
        return {**self.signal_snapshot(capture, tables, context), "added": added, "never_streamed": never}

    def _nothing(self, reason: str) -> dict[str, Any]:
        self.log.info("No initial load to start: %s", reason)
        return {"signal_id": None, "tables": [], "topics": {}, "reason": reason, "added": [], "never_streamed": []}

    def never_streamed(self, capture: CaptureConfig, tables: Sequence[str]) -> list[str]:
        """The ``tables`` whose change topic never received a message although the table holds rows."""
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        if not tables:
            return []
        watermarks = topic_watermarks(self.kafka_config_id, [capture.topic(table) for table in tables])
        empty = [t for t in tables if all(high == 0 for _, high in watermarks[capture.topic(t)].values())]
        hook = PostgresHook(postgres_conn_id=self.postgres_conn_id)
        found = []
        for table in empty:
            row = hook.get_first(f"SELECT EXISTS (SELECT 1 FROM {capture.source.qualified(table)})")
            if row and row[0]:
                found.append(table)
        return found

    def wait_for_restart(self, capture: CaptureConfig, before: int | None) -> None:
        """Wait until a walsender other than ``before`` streams the connector's slot (its task restarted)."""
        slot = capture.connector.config["slot.name"]
        deadline = time.monotonic() + self.restart_timeout
        while True:
            pid = slot_active_pid(self.postgres_conn_id, slot)
            if pid is not None and pid != before:
                self.log.info("Slot %s is streamed by a new walsender (pid %s, before %s)", slot, pid, before)
                return
            if time.monotonic() > deadline:
                raise CaptureSetupError(
                    f"connector {capture.connector.name} did not stream slot {slot} again within "
                    f"{self.restart_timeout:.0f} s of its update (walsender {pid}, before {before}): the initial load "
                    f"was not signalled; check GET /connectors/{capture.connector.name}/status and run the setup again"
                )
            time.sleep(1.0)

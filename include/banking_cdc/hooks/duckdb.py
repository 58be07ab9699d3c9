"""Hook for the embedded DuckDB warehouse (the default when no Snowflake is configured)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from airflow.exceptions import AirflowNotFoundException
from airflow.sdk import BaseHook


class DuckDBHook(BaseHook):
    """
    Open the DuckDB database file that holds the warehouse.

    The connection's ``host`` is the path of the database file. Without a connection named
    ``duckdb_conn_id``, the warehouse lives in ``$AIRFLOW_HOME/warehouse/banking.duckdb``, so a fresh
    installation works with nothing configured. DuckDB allows one writer at a time: tasks that write
    share the one-slot pool ``duckdb_writer``.

    :param duckdb_conn_id: Airflow connection whose ``host`` is the database file path.
    """

    conn_name_attr = "duckdb_conn_id"
    default_conn_name = "duckdb_default"
    conn_type = "duckdb"
    hook_name = "DuckDB"

    def __init__(self, duckdb_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.duckdb_conn_id = duckdb_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Return custom field behaviour for the connection form."""
        return {
            "hidden_fields": ["login", "password", "port", "schema", "extra"],
            "relabeling": {"host": "Database file path"},
            "placeholders": {"host": "/usr/local/airflow/warehouse/banking.duckdb"},
        }

    @property
    def database_path(self) -> Path:
        """The database file this hook opens."""
        try:
            host = self.get_connection(self.duckdb_conn_id).host
        except AirflowNotFoundException:
            host = None
        if host:
            return Path(host)
        home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
        return home / "warehouse" / "banking.duckdb"

    def get_conn(self, read_only: bool = False) -> Any:
        """Open the database (created on first use) and return a ``duckdb`` connection."""
        import duckdb

        path = self.database_path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.log.info("Opening DuckDB warehouse %s%s", path, " (read-only)" if read_only else "")
        return duckdb.connect(str(path), read_only=read_only)

    def test_connection(self) -> tuple[bool, str]:
        """Open the database and run a query."""
        import duckdb

        try:
            with self.get_conn() as conn:
                (version,) = conn.execute("SELECT version()").fetchone()
        except (duckdb.Error, OSError) as exc:
            return False, f"DuckDB at {self.database_path}: {exc}"
        return True, f"DuckDB {version} at {self.database_path}"

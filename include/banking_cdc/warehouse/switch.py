"""Which warehouse the pipeline loads and transforms in: the embedded DuckDB (default) or Snowflake.

The choice is configuration only (the Airflow Variable ``warehouse_backend``); DAG code never changes.
It is read when a task runs, never when a DAG file is parsed (no metadata-database access at parse time).
"""

from __future__ import annotations

from typing import Literal, cast

from banking_cdc.exceptions import BankingCdcError

#: Airflow Variable naming the warehouse backend
WAREHOUSE_BACKEND_VARIABLE = "warehouse_backend"
#: backend used when the Variable is not set
DEFAULT_WAREHOUSE_BACKEND = "duckdb"
WAREHOUSE_BACKENDS: tuple[str, ...] = ("duckdb", "snowflake")

WarehouseBackend = Literal["duckdb", "snowflake"]


class WarehouseConfigError(BankingCdcError):
    """The warehouse backend is misconfigured; the message names the Variable or argument."""


def warehouse_backend(explicit: str | None = None) -> WarehouseBackend:
    """
    Return the warehouse backend: ``explicit`` if given, else the Airflow Variable ``warehouse_backend``.

    Call it at run time (inside a task or a ``@task.branch``), never at module level of a DAG file.
    Values are case-insensitive and stripped.

    :param explicit: A backend chosen by the caller (e.g. an operator argument); skips the Variable.
    :raises WarehouseConfigError: naming the Variable (or the argument) when the value is not a backend.
    """
    if explicit is not None:
        source, value = "argument explicit", explicit
    else:
        from airflow.sdk import Variable

        source = f"Airflow Variable {WAREHOUSE_BACKEND_VARIABLE!r}"
        value = Variable.get(WAREHOUSE_BACKEND_VARIABLE, default=DEFAULT_WAREHOUSE_BACKEND)
    backend = str(value).strip().lower() if value is not None else ""
    if backend not in WAREHOUSE_BACKENDS:
        raise WarehouseConfigError(f"{source} must be one of {', '.join(WAREHOUSE_BACKENDS)}, got {value!r}")
    return cast(WarehouseBackend, backend)

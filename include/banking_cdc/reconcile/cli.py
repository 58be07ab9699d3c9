"""Command line of reconciliation: ``python -m banking_cdc.reconcile --help``."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Sequence

from banking_cdc.command_line import command_parser

EPILOG = """\
examples:
  python -m banking_cdc.reconcile                      # strict: the source is quiet, everything must match
  python -m banking_cdc.reconcile --grace-minutes 5    # leave out keys changed in the last 5 minutes
  python -m banking_cdc.reconcile --json               # machine-readable report

connections come from Airflow (AIRFLOW_CONN_*; natively: source .state/airflow.env).
exit codes: 0 reconciled, 1 differences found, 2 usage, configuration or connection error
"""

EXIT_OK, EXIT_DIFFERENCES, EXIT_ERROR = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    """The argument parser."""
    parser = command_parser(
        "python -m banking_cdc.reconcile",
        "Compare gold with the source database per table: row counts, sums of money to the cent, "
        "current dimension rows, SCD2 versions, deleted keys. Prints keys and counts only, never row data.",
        EPILOG,
    )
    parser.add_argument(
        "--grace-minutes",
        type=int,
        default=0,
        metavar="N",
        help="leave out keys whose last source change is younger than N minutes (default 0: strict)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--postgres-conn-id", default="postgres_source", help="Airflow connection of the source database"
    )
    parser.add_argument(
        "--warehouse",
        choices=("duckdb", "snowflake"),
        help="warehouse backend (default: AIRFLOW_VAR_WAREHOUSE_BACKEND, else duckdb)",
    )
    parser.add_argument("--duckdb-conn-id", default="duckdb_default", help="Airflow connection of the DuckDB file")
    parser.add_argument("--snowflake-conn-id", default="snowflake_default", help="Airflow connection of Snowflake")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 reconciled, 1 differences, 2 error)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    from banking_cdc.exceptions import BankingCdcError
    from banking_cdc.reconcile.checks import ReconcileOptions
    from banking_cdc.reconcile.gold import gold_reader
    from banking_cdc.reconcile.runner import run_reconciliation
    from banking_cdc.transform.dbt_project import dbt_target

    try:
        options = ReconcileOptions(grace_minutes=args.grace_minutes)
        backend = args.warehouse or dbt_target()
        reader = gold_reader(backend, duckdb_conn_id=args.duckdb_conn_id, snowflake_conn_id=args.snowflake_conn_id)
        # Airflow's loggers (hooks) print to stdout; the report owns stdout, so logs go to stderr
        with contextlib.redirect_stdout(sys.stderr):
            report = run_reconciliation(reader, options, postgres_conn_id=args.postgres_conn_id)
    except BankingCdcError as exc:
        print(f"reconcile: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(report.to_json() if args.json else report.render())
    return EXIT_OK if report.ok else EXIT_DIFFERENCES


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

"""Command line of the workload generator: ``python -m banking_cdc.generator --help``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from banking_cdc.command_line import command_parser
from banking_cdc.generator.config import (
    DEFAULT_ACCOUNTS_PER_CUSTOMER,
    DEFAULT_CHUNK_ROWS,
    DEFAULT_CONN_ID,
    DEFAULT_START_TIME,
    DEFAULT_TRANSACTIONS_PER_ACCOUNT,
    GeneratorConfig,
    GeneratorConfigError,
)

EPILOG = """\
examples:
  python -m banking_cdc.generator --events 5000 --seed 7
  python -m banking_cdc.generator --rate 50 --duration 600
  python -m banking_cdc.generator --bulk --customers 100000 --accounts-per-customer 2 --transactions 2000000
  python -m banking_cdc.generator --check-only --dsn postgresql://banking@127.0.0.1:55432/banking

exit codes: 0 done (and invariants hold when checked), 1 invariant violations, 2 bad arguments
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (types are checked here, ranges and combinations by :class:`GeneratorConfig`)."""
    parser = command_parser(
        "python -m banking_cdc.generator",
        "Seedable, realistic banking workload for the source PostgreSQL (customers, accounts, "
        "transactions). Prints counts only, never customer data.",
        EPILOG,
    )
    mode = parser.add_argument_group("mode (choose one)")
    mode.add_argument("--events", type=int, metavar="N", help="perform exactly N operations, as fast as possible")
    mode.add_argument("--rate", type=float, metavar="R", help="steady mode: R operations (transactions) per second")
    mode.add_argument("--duration", type=float, metavar="S", help="steady mode: run for S seconds")
    mode.add_argument("--bulk", action="store_true", help="load backfill-size data with COPY")
    mode.add_argument("--check-only", action="store_true", help="only check the source invariants")

    bulk = parser.add_argument_group("bulk mode")
    bulk.add_argument("--customers", type=int, metavar="N", help="customers to create")
    bulk.add_argument(
        "--accounts-per-customer",
        type=int,
        metavar="K",
        help=f"accounts per customer (default {DEFAULT_ACCOUNTS_PER_CUSTOMER})",
    )
    bulk.add_argument(
        "--transactions",
        type=int,
        metavar="M",
        help=f"transaction rows in total, a transfer is two (default {DEFAULT_TRANSACTIONS_PER_ACCOUNT} per account)",
    )
    bulk.add_argument(
        "--chunk-rows",
        type=int,
        default=DEFAULT_CHUNK_ROWS,
        metavar="ROWS",
        help=f"rows per COPY chunk and commit (default {DEFAULT_CHUNK_ROWS})",
    )

    common = parser.add_argument_group("data and connection")
    common.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    common.add_argument(
        "--start-time",
        default=DEFAULT_START_TIME.isoformat(),
        metavar="ISO",
        help=f"start of the simulated business clock (default {DEFAULT_START_TIME.isoformat()})",
    )
    target = common.add_mutually_exclusive_group()
    target.add_argument("--dsn", help="libpq connection string or URL of the source database")
    target.add_argument(
        "--conn-id",
        default=DEFAULT_CONN_ID,
        help=f"Airflow connection id of the source database (default {DEFAULT_CONN_ID})",
    )
    common.add_argument("--apply-schema", action="store_true", help="apply the source schema first (idempotent)")
    common.add_argument(
        "--verify", action="store_true", help="check the invariants after the run (exit 1 on violations)"
    )

    output = parser.add_argument_group("output")
    output.add_argument("--no-progress", action="store_true", help="no progress bar (also off when not on a terminal)")
    output.add_argument("--json", action="store_true", help="print the summary as JSON")
    output.add_argument("-v", "--verbose", action="store_true", help="log progress messages")
    return parser


def config_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> GeneratorConfig:
    """Build the configuration; a validation error exits with status 2 through ``parser.error``."""
    try:
        return GeneratorConfig(
            seed=args.seed,
            events=args.events,
            rate=args.rate,
            duration=args.duration,
            bulk=args.bulk,
            customers=args.customers,
            accounts_per_customer=args.accounts_per_customer,
            transactions=args.transactions,
            check_only=args.check_only,
            start_time=args.start_time,
            dsn=args.dsn,
            conn_id=args.conn_id,
            apply_schema=args.apply_schema,
            verify=args.verify,
            progress=not args.no_progress,
            chunk_rows=args.chunk_rows,
        )
    except GeneratorConfigError as exc:
        parser.error(str(exc))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    config = config_from_args(parser, args)
    # importing Airflow installs its own handlers on stdout; the summary owns stdout, logs go to stderr
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )

    from banking_cdc.generator.runner import run
    from banking_cdc.generator.summary import render_summary

    summary = run(config)
    print(json.dumps(summary, indent=2) if args.json else render_summary(summary))
    violations = summary.get("violations", summary.get("invariants")) or []
    return 1 if violations else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

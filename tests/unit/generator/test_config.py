"""Generator configuration: every bad argument fails with a message naming it; the CLI exits 2."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from banking_cdc.exceptions import BankingCdcError
from banking_cdc.generator.cli import build_parser, main
from banking_cdc.generator.config import (
    DEFAULT_START_TIME,
    GeneratorConfig,
    GeneratorConfigError,
    GeneratorMode,
)


def test_config_error_is_a_project_error() -> None:
    assert issubclass(GeneratorConfigError, BankingCdcError)


@pytest.mark.parametrize(
    ("kwargs", "mode"),
    [
        ({"events": 10}, GeneratorMode.EVENTS),
        ({"rate": 5, "duration": 1.5}, GeneratorMode.STEADY),
        ({"bulk": True, "customers": 10}, GeneratorMode.BULK),
        ({"check_only": True}, GeneratorMode.CHECK),
    ],
)
def test_each_mode_is_recognised(kwargs: dict[str, Any], mode: GeneratorMode) -> None:
    assert GeneratorConfig(**kwargs).mode is mode


def test_defaults() -> None:
    config = GeneratorConfig(events=1)
    assert config.seed == 0
    assert config.start_time == DEFAULT_START_TIME == datetime(2026, 1, 1, tzinfo=UTC)
    assert config.conn_id == "postgres_source"
    assert config.dsn is None


def test_bulk_defaults_two_accounts_and_ten_transactions_per_account() -> None:
    config = GeneratorConfig(bulk=True, customers=300)
    assert config.bulk_accounts_per_customer == 2
    assert config.bulk_transactions == 300 * 2 * 10
    explicit = GeneratorConfig(bulk=True, customers=300, accounts_per_customer=3, transactions=0)
    assert (explicit.bulk_accounts_per_customer, explicit.bulk_transactions) == (3, 0)


def test_templated_strings_are_coerced() -> None:
    config = GeneratorConfig(events="25", seed=" 7 ", start_time="2026-03-01T12:00:00+01:00")  # type: ignore[arg-type]
    assert (config.events, config.seed) == (25, 7)
    assert config.start_time == datetime(2026, 3, 1, 12, tzinfo=timezone(timedelta(hours=1)))
    steady = GeneratorConfig(rate="2.5", duration="10")  # type: ignore[arg-type]
    assert (steady.rate, steady.duration) == (2.5, 10.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": -5, "duration": 3}, "--rate must be > 0, got -5"),
        ({"rate": 0.0, "duration": 3}, "--rate must be > 0, got 0"),
        ({"rate": float("nan"), "duration": 3}, "--rate must be a finite number"),
        ({"rate": "fast", "duration": 3}, "--rate must be a number, got 'fast'"),
        ({"rate": 5}, "--duration is required with --rate"),
        ({"duration": 5}, "--rate is required with --duration"),
        ({"rate": 5, "duration": -1}, "--duration must be > 0, got -1"),
        ({"events": 0}, "--events must be > 0, got 0"),
        ({"events": -3}, "--events must be > 0, got -3"),
        ({"events": 2.5}, "--events must be an integer, got 2.5"),
        ({"events": True}, "--events must be an integer, got True"),
        ({}, "choose a mode"),
        ({"events": 5, "bulk": True, "customers": 1}, "--events and --bulk cannot be combined"),
        ({"events": 5, "rate": 1, "duration": 1}, "--events and --rate/--duration cannot be combined"),
        ({"check_only": True, "bulk": True, "customers": 1}, "--bulk and --check-only cannot be combined"),
        ({"bulk": True}, "--customers is required with --bulk"),
        ({"bulk": True, "customers": 0}, "--customers must be > 0, got 0"),
        ({"bulk": True, "customers": 5, "accounts_per_customer": 0}, "--accounts-per-customer must be > 0, got 0"),
        ({"bulk": True, "customers": 5, "transactions": -1}, "--transactions must be >= 0, got -1"),
        ({"events": 5, "customers": 5}, "--customers is only valid with --bulk"),
        ({"events": 5, "transactions": 5}, "--transactions is only valid with --bulk"),
        ({"events": 5, "accounts_per_customer": 2}, "--accounts-per-customer is only valid with --bulk"),
        ({"events": 5, "seed": "abc"}, "--seed must be an integer, got 'abc'"),
        ({"events": 5, "start_time": "2026-01-01T00:00:00"}, "--start-time must include a UTC offset"),
        ({"events": 5, "start_time": "yesterday"}, "--start-time must be an ISO-8601 timestamp, got 'yesterday'"),
        ({"events": 5, "start_time": 1700000000}, "--start-time must be an ISO-8601 timestamp"),
        ({"events": 5, "dsn": "  "}, "--dsn must be a non-empty connection string"),
        ({"events": 5, "conn_id": ""}, "--conn-id must be a non-empty Airflow connection id"),
        ({"bulk": True, "customers": 5, "chunk_rows": 10}, "--chunk-rows must be >= 100, got 10"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(GeneratorConfigError) as raised:
        GeneratorConfig(**kwargs)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--rate", "-5", "--duration", "3"], "--rate must be > 0, got -5"),
        (["--rate", "5"], "--duration is required with --rate"),
        (["--events", "0"], "--events must be > 0, got 0"),
        (["--events", "abc"], "argument --events: invalid int value: 'abc'"),
        (["--rate", "x", "--duration", "1"], "argument --rate: invalid float value: 'x'"),
        (["--bulk"], "--customers is required with --bulk"),
        (["--bulk", "--customers", "-2"], "--customers must be > 0, got -2"),
        (["--events", "3", "--bulk", "--customers", "2"], "--events and --bulk cannot be combined"),
        (["--events", "3", "--customers", "2"], "--customers is only valid with --bulk"),
        (["--events", "3", "--start-time", "2026-01-01"], "--start-time must include a UTC offset"),
        (
            ["--events", "3", "--dsn", "dbname=x", "--conn-id", "y"],
            "argument --conn-id: not allowed with argument --dsn",
        ),
        (["--events", "3", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        ([], "choose a mode"),
    ],
)
def test_cli_errors_exit_2_naming_the_argument(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_arguments_map_onto_the_config() -> None:
    from banking_cdc.generator.cli import config_from_args

    parser = build_parser()
    args = parser.parse_args(
        [
            *("--bulk", "--customers", "20", "--accounts-per-customer", "3", "--transactions", "99", "--seed", "4"),
            *("--dsn", "dbname=x", "--no-progress", "--start-time", "2026-02-01T00:00:00Z", "--apply-schema"),
        ]
    )
    config = config_from_args(parser, args)
    assert config.mode is GeneratorMode.BULK
    assert (config.customers, config.accounts_per_customer, config.transactions, config.seed) == (20, 3, 99, 4)
    assert (config.dsn, config.progress, config.apply_schema) == ("dbname=x", False, True)
    assert config.start_time == datetime(2026, 2, 1, tzinfo=UTC)


def test_module_help_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "banking_cdc.generator", "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "--events N" in result.stdout
    assert "--bulk" in result.stdout


def test_module_bad_argument_exits_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "banking_cdc.generator", "--rate", "-5", "--duration", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "--rate must be > 0, got -5" in result.stderr

"""The provider registers itself with Airflow through its entry point."""

from __future__ import annotations

import importlib
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from banking_cdc import __version__
from banking_cdc.get_provider_info import get_provider_info


def test_entry_point_resolves_to_get_provider_info() -> None:
    (entry,) = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("banking_cdc")]
    assert entry.load() is get_provider_info


def test_provider_info_names_package_version_and_connection_type() -> None:
    info = get_provider_info()
    assert info["package-name"] == "banking-cdc-provider"
    assert info["versions"] == [__version__]
    assert {
        "hook-class-name": "banking_cdc.hooks.kafka_connect.KafkaConnectHook",
        "connection-type": "kafka_connect",
    } in info["connection-types"]


def test_every_listed_module_imports_and_the_kafka_group_hook_is_listed() -> None:
    info = get_provider_info()
    modules = [
        module
        for section in ("hooks", "operators", "triggers")
        for entry in info[section]
        for module in entry["python-modules"]
    ] + [entry["python-module"] for entry in info["transfers"]]
    assert len(modules) == len(set(modules))
    for module in modules:
        importlib.import_module(module)
    assert "banking_cdc.hooks.kafka_group" in modules
    # the group hook reuses the Kafka provider's connection type, so it is no connection type of this provider
    assert all(entry["connection-type"] != "kafka" for entry in info["connection-types"])


def test_providers_manager_registers_the_kafka_connect_connection_type() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "banking-cdc-provider" in manager.providers
    assert manager.providers["banking-cdc-provider"].version == __version__
    hook = manager.hooks["kafka_connect"]
    assert hook is not None
    assert hook.hook_class_name == "banking_cdc.hooks.kafka_connect.KafkaConnectHook"


def test_airflow_providers_list_shows_the_provider() -> None:
    airflow = Path(sys.executable).parent / "airflow"
    result = subprocess.run([str(airflow), "providers", "list"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    (line,) = [row for row in result.stdout.splitlines() if row.startswith("banking-cdc-provider")]
    assert line.split("|")[-1].strip() == __version__


def test_every_airflow_class_module_of_the_package_is_registered() -> None:
    """Each module of hooks/, operators/, triggers/ and transfers/ is listed (sensors: beside their operators)."""
    info = get_provider_info()
    listed = {m for section in ("hooks", "operators", "triggers") for e in info[section] for m in e["python-modules"]}
    listed |= {entry["python-module"] for entry in info["transfers"]}
    package = Path(importlib.import_module("banking_cdc").__file__).parent  # type: ignore[arg-type]
    present = {
        f"banking_cdc.{folder}.{path.stem}"
        for folder in ("hooks", "operators", "triggers", "transfers")
        for path in (package / folder).glob("*.py")
        if path.stem != "__init__"
    }
    assert present == listed
    sensors = {m for e in info["sensors"] for m in e["python-modules"]}
    assert sensors == {"banking_cdc.operators.resync"}

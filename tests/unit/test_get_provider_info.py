"""The provider registers itself with Airflow through its entry point."""

from __future__ import annotations

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

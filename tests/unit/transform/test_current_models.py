"""The generic silver model files follow capture.yaml; a table without its model fails loudly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.settings import SettingsError, dbt_project_dir
from banking_cdc.transform import current_models


def test_the_committed_models_follow_the_packaged_capture_yaml() -> None:
    assert current_models.stale(dbt_project_dir(), CaptureConfig.load()) == []
    current_models.require_in_manifest(dbt_project_dir(), CaptureConfig.load())


def test_write_adds_and_removes_model_files(tmp_path: Path) -> None:
    capture = CaptureConfig.load()
    (tmp_path / "models" / "current").mkdir(parents=True)
    (tmp_path / "models" / "current" / "current_gone.sql").write_text("select 1")
    changed = current_models.write(tmp_path, capture)
    assert "models/current/current_gone.sql" in changed and "models/current/current_accounts.sql" in changed
    assert sorted(p.name for p in (tmp_path / "models" / "current").iterdir()) == [
        "_current.yml", "current_accounts.sql", "current_customers.sql", "current_transactions.sql",
    ]  # fmt: skip
    assert current_models.stale(tmp_path, capture) == []
    assert (
        "{{ banking_dbt.current_state('accounts') }}"
        in (tmp_path / "models" / "current" / "current_accounts.sql").read_text()
    )


def test_a_captured_table_missing_from_the_manifest_is_named(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(
        json.dumps({"nodes": {"model.x.current_accounts": {"name": "current_accounts", "resource_type": "model"}}})
    )
    with pytest.raises(SettingsError, match=r"captured table\(s\) customers, transactions .*`make dbt-manifest`"):
        current_models.require_in_manifest(tmp_path, CaptureConfig.load())

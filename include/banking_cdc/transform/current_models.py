"""The generic silver models of the dbt project, one per captured table, written from ``capture.yaml``.

Cosmos renders one Airflow task per dbt model, so every captured table needs a model file; its content is one
macro call (``current_state('<table>')``, ``banking_dbt/macros/current_state.sql``) whose columns and types come
from the source catalog when it runs. :func:`render` gives the files of ``models/current/`` (the models and the
``captured`` source: the tables' bronze relations and ``bronze.source_columns``); ``make dbt-manifest`` writes
them before parsing (``dev/dbt_manifest.py``), and its ``--check`` (a test) fails when they or the manifest
lag behind ``capture.yaml``. Nothing else in the project is written per table.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from banking_cdc.capture.config import CaptureConfig

#: the folder of the generated models, inside the dbt project
FOLDER = Path("models") / "current"
#: the model of a captured table
MODEL = "current_{table}"
#: the dbt source of the captured tables' bronze relations and the catalog
SOURCE = "captured"
#: the first line of every generated file, after its comment marker
GENERATED = "Generated from capture.yaml by `make dbt-manifest` (banking_cdc.transform.current_models): do not edit."


def model_sql(table: str) -> str:
    """The SQL file of ``table``'s current-state model."""
    return f"-- {GENERATED}\n{{{{ banking_dbt.current_state('{table}') }}}}\n"


def properties(capture: CaptureConfig) -> dict[str, object]:
    """The YAML properties of the folder: the ``captured`` source and one model per table."""
    source = capture.source
    return {
        "version": 2,
        "sources": [
            {
                "name": SOURCE,
                "description": "Bronze change events of every captured table (capture.yaml), and the source catalog.",
                "schema": "bronze",
                "tables": [
                    *(
                        {"name": table, "description": f"Change events of {source.qualified(table)}."}
                        for table in source.tables
                    ),
                    {"name": "source_columns", "description": "The source catalog, kept by the bronze load."},
                ],
            }
        ],
        "models": [
            {
                "name": MODEL.format(table=table),
                "description": (
                    f"Current state of every key of {source.qualified(table)} (deletes flagged), typed from the "
                    "source catalog. Values that do not fit their type are in silver.rejects (_rejected_lsn)."
                ),
                "data_tests": ["no_rejects"],
                "columns": [
                    {"name": "_key", "description": "Hash of the key columns' text.", "data_tests": ["unique"]},
                    {"name": "is_deleted", "data_tests": ["not_null"]},
                ],
            }
            for table in source.tables
        ],
    }


def render(capture: CaptureConfig) -> dict[Path, str]:
    """Every file of :data:`FOLDER`, relative to the dbt project."""
    files = {FOLDER / f"{MODEL.format(table=table)}.sql": model_sql(table) for table in capture.source.tables}
    text = yaml.safe_dump(properties(capture), sort_keys=False, width=110)
    files[FOLDER / "_current.yml"] = f"# {GENERATED}\n{text}"
    return files


def stale(project_dir: Path, capture: CaptureConfig) -> list[str]:
    """The files of :data:`FOLDER` that differ from :func:`render` (missing, changed or left over), sorted."""
    wanted = render(capture)
    folder = project_dir / FOLDER
    present = {path.relative_to(project_dir) for path in folder.glob("*")} if folder.exists() else set()
    differing = [
        str(path) for path, text in wanted.items()
        if not (project_dir / path).exists() or (project_dir / path).read_text(encoding="utf-8") != text
    ]  # fmt: skip
    return sorted({*differing, *(str(path) for path in present - set(wanted))})


def write(project_dir: Path, capture: CaptureConfig) -> list[str]:
    """Write :func:`render` into the project, removing models of tables no longer captured; return what changed."""
    changed = stale(project_dir, capture)
    wanted = render(capture)
    (project_dir / FOLDER).mkdir(parents=True, exist_ok=True)
    for path in (project_dir / FOLDER).glob("*"):
        if path.relative_to(project_dir) not in wanted:
            path.unlink()
    for path, text in wanted.items():
        (project_dir / path).write_text(text, encoding="utf-8")
    return changed


def require_in_manifest(project_dir: Path, capture: CaptureConfig) -> None:
    """
    Fail naming every captured table whose generic model is not in the committed manifest (the transform DAG
    calls it at parse time: a table added to ``capture.yaml`` without ``make dbt-manifest`` would otherwise get
    no silver, silently).

    :raises SettingsError: naming the tables and the command that fixes it.
    """
    import json

    from banking_cdc.settings import SettingsError
    from banking_cdc.transform.dbt_project import MANIFEST_NAME

    manifest = json.loads((project_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    models = {node["name"] for node in manifest["nodes"].values() if node.get("resource_type") == "model"}
    missing = [table for table in capture.source.tables if MODEL.format(table=table) not in models]
    if missing:
        raise SettingsError(
            f"captured table(s) {', '.join(missing)} (capture.yaml) have no generic silver model in "
            f"{project_dir / MANIFEST_NAME}: run `make dbt-manifest`, commit and deploy the result"
        )

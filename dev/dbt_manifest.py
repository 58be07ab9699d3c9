"""Regenerate, or check, the committed dbt manifest that the Cosmos DAG renders from, and the generic models.

First the generic silver models, one per table of capture.yaml (``banking_dbt/models/current/``, see
``banking_cdc.transform.current_models``), then the manifest.

``banking_dbt/manifest.json`` is what ``dags/banking_dbt_transform.py`` reads
(``LoadMode.DBT_MANIFEST``): parsing a committed file is fast and needs no dbt at DAG parse time. It is
``dbt parse``'s manifest reduced to what Cosmos reads (metadata, nodes, sources, exposures) and without
the fields that change on every parse or machine (timestamps, invocation ids, absolute paths), so it
only changes when the project does.

    .venv/bin/python dev/dbt_manifest.py            # regenerate (make dbt-manifest)
    .venv/bin/python dev/dbt_manifest.py --check    # exit 1 when the committed one is stale
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "banking_dbt"
MANIFEST = PROJECT / "manifest.json"

#: top-level sections Cosmos reads
KEPT_SECTIONS = ("metadata", "nodes", "sources", "exposures")
#: metadata that is stable for one project and dbt version
KEPT_METADATA = ("dbt_schema_version", "dbt_version", "project_name", "adapter_type")
#: per-resource fields that change between parses or machines
VOLATILE_FIELDS = ("created_at", "root_path", "build_path", "compiled_path")


def build_manifest() -> dict[str, Any]:
    """Run ``dbt parse`` on the project (DuckDB target, scratch paths) and return the reduced manifest."""
    from dbt.cli.main import dbtRunner

    with tempfile.TemporaryDirectory(prefix="bcdc-dbt-manifest-") as scratch:
        target = Path(scratch) / "target"
        os.environ["BCDC_DUCKDB_PATH"] = str(Path(scratch) / "banking.duckdb")  # database name: banking
        result = dbtRunner().invoke(
            [
                "parse",
                "--project-dir", str(PROJECT),
                "--profiles-dir", str(PROJECT),
                "--target", "duckdb",
                "--target-path", str(target),
                "--no-partial-parse",
                "--quiet",
            ]
        )  # fmt: skip
        if not result.success:
            raise SystemExit(f"dbt parse failed: {result.exception}")
        full = json.loads((target / "manifest.json").read_text())
    reduced = {section: full[section] for section in KEPT_SECTIONS}
    reduced["metadata"] = {key: full["metadata"][key] for key in KEPT_METADATA}
    for section in ("nodes", "sources", "exposures"):
        for resource in reduced[section].values():
            for field in VOLATILE_FIELDS:
                resource.pop(field, None)
    return reduced


def render(manifest: dict[str, Any]) -> str:
    """Deterministic text of a manifest (sorted keys, one indent level per nesting)."""
    return json.dumps(manifest, indent=1, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail when the committed manifest is stale")
    args = parser.parse_args()
    from banking_cdc.capture.config import CaptureConfig
    from banking_cdc.transform import current_models

    capture = CaptureConfig.load()
    if args.check:
        stale = current_models.stale(PROJECT, capture)
        if stale:
            print(
                f"the generic silver models lag behind capture.yaml ({', '.join(stale)}): run `make dbt-manifest` "
                "and commit the result",
                file=sys.stderr,
            )
            return 1
    else:
        for path in current_models.write(PROJECT, capture):
            print(f"wrote banking_dbt/{path}")
    text = render(build_manifest())
    if args.check:
        if not MANIFEST.exists() or MANIFEST.read_text() != text:
            print(
                f"{MANIFEST.relative_to(ROOT)} is stale: the dbt project changed since it was generated; "
                "run `make dbt-manifest` and commit the result",
                file=sys.stderr,
            )
            return 1
        print(f"{MANIFEST.relative_to(ROOT)} is current")
        return 0
    MANIFEST.write_text(text)
    print(f"wrote {MANIFEST.relative_to(ROOT)} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

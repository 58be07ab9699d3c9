"""The stack's local credentials: generated once per state folder into ``secrets.json`` (0600)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from .settings import STATE


def secrets_file() -> Path:
    return STATE / "secrets.json"


def local_secrets() -> dict[str, str]:
    """Credentials generated once per state folder (never committed, never printed by ``up``)."""
    path = secrets_file()
    if path.exists():
        return json.loads(path.read_text())
    STATE.mkdir(parents=True, exist_ok=True)
    values = {
        "pg_superuser_password": secrets.token_urlsafe(18),
        "pg_password": secrets.token_urlsafe(18),
        "s3_access_key": "bcdc" + secrets.token_hex(8),
        "s3_secret_key": secrets.token_urlsafe(24),
    }
    path.write_text(json.dumps(values, indent=2))
    path.chmod(0o600)
    return values

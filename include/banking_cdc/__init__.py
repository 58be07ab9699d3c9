"""banking-cdc: Airflow provider for real-time change-data capture of banking data."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]

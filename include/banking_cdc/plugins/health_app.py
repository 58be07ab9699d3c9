"""The pipeline health page as a FastAPI app, mounted by the Airflow API server under ``/bcdc-health``.

Routes (relative to the mount):

- ``GET /`` — the page: charts of freshness, consumer lag, throughput and dbt test results, and the
  current-status table; query ``hours`` (window, default 6, at most 744) and ``lag`` (``topic`` or
  ``partition``);
- ``GET /series.json`` — the same report as JSON (for scripts and tests);
- ``GET /icon.svg`` — the navigation icon.

The page and the JSON need a logged-in Airflow user (the JWT cookie the Airflow UI sets, or a bearer
token) allowed to see the Airflow website; a browser without a session is sent to Airflow's login page
and back. When the metrics database cannot be read, the page answers 503 with a message naming the
connection, never a stack trace.

This module imports FastAPI; the plugin registers it through
:class:`banking_cdc.plugins.health.LazyASGIApp`, so only the API server, on the first request, imports it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from banking_cdc.monitoring.health_page import render_page
from banking_cdc.monitoring.health_report import (
    MAX_WINDOW,
    HealthReport,
    LagGrouping,
    MetricsUnavailableError,
    load_report,
)
from banking_cdc.monitoring.store import METRICS_CONN_ID, MetricsStore

log = logging.getLogger(__name__)

DEFAULT_HOURS = 6.0
MAX_HOURS = MAX_WINDOW.total_seconds() / 3600

ICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="currentColor" '
    'stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M3 3v18h18"/>'
    '<polyline points="7 14 11 10 14 13 20 7"/><circle cx="20" cy="7" r="1"/></svg>'
)


def report_as_json(report: HealthReport) -> dict[str, Any]:
    """The report as JSON-safe data (times in ISO 8601, window in seconds)."""

    def convert(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, timedelta):
            return value.total_seconds()
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [convert(v) for v in value]
        return value

    data: dict[str, Any] = convert(asdict(report))
    for chart, raw in zip(data["charts"], report.charts, strict=True):
        chart["point_count"] = raw.point_count
    return data


def create_app(
    conn_id: str = METRICS_CONN_ID,
    authenticate: bool = True,
    store_factory: Callable[[str], MetricsStore] = MetricsStore,
) -> FastAPI:
    """
    Build the health page app.

    :param conn_id: Airflow connection of the metrics database.
    :param authenticate: Require an Airflow user allowed to see the website (off only in unit tests,
        which run without an API server's auth manager).
    :param store_factory: Builds the metrics store from ``conn_id`` (tests pass a fake).
    """
    app = FastAPI(title="banking-cdc pipeline health", docs_url=None, redoc_url=None, openapi_url=None)
    dependencies = []
    if authenticate:
        from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
        from airflow.api_fastapi.core_api.security import requires_access_view

        dependencies.append(Depends(requires_access_view(AccessView.WEBSITE)))

    def window_error(hours: float) -> str | None:
        if not 0 < hours <= MAX_HOURS:
            return f"hours must be more than 0 and at most {MAX_HOURS:g}, got {hours:g}"
        return None

    @app.get("/", response_class=HTMLResponse, dependencies=dependencies)
    def page(
        hours: Annotated[float, Query(description="window in hours")] = DEFAULT_HOURS,
        lag: Annotated[LagGrouping, Query(description="consumer lag per topic or per partition")] = "topic",
    ) -> HTMLResponse:
        now = datetime.now(UTC)
        problem = window_error(hours)
        if problem:
            return HTMLResponse(f"<!DOCTYPE html><p>Bad request: {problem}</p>", status_code=400)
        try:
            report = load_report(timedelta(hours=hours), store_factory(conn_id), now, lag)
        except MetricsUnavailableError as exc:
            log.warning("health page: %s", exc)
            return HTMLResponse(render_page(None, hours, lag, error=str(exc), now=now), status_code=503)
        return HTMLResponse(render_page(report, hours, lag))

    @app.get("/series.json", dependencies=dependencies)
    def series(
        hours: Annotated[float, Query()] = DEFAULT_HOURS,
        lag: Annotated[LagGrouping, Query()] = "topic",
    ) -> JSONResponse:
        problem = window_error(hours)
        if problem:
            return JSONResponse({"error": problem}, status_code=400)
        try:
            report = load_report(timedelta(hours=hours), store_factory(conn_id), lag_by=lag)
        except MetricsUnavailableError as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        return JSONResponse(report_as_json(report))

    @app.get("/icon.svg")
    def icon() -> Response:
        return Response(ICON_SVG, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        wants_page = request.method == "GET" and not request.url.path.endswith((".json", ".svg"))
        if exc.status_code == 401 and wants_page:
            from airflow.api_fastapi.app import get_auth_manager

            return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status_code=307)
        if wants_page:
            text = "You are not allowed to view this page." if exc.status_code == 403 else str(exc.detail)
            return HTMLResponse(f"<!DOCTYPE html><p>{exc.status_code}: {text}</p>", status_code=exc.status_code)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("health page failed")
        return HTMLResponse(
            f"<!DOCTYPE html><p>The health page failed: {type(exc).__name__}. See the API server log.</p>",
            status_code=500,
        )

    return app

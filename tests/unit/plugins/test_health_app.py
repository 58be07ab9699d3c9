"""The health page web app (FastAPI TestClient, fake store) and the plugin's registration."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from banking_cdc.monitoring.health_page import EMPTY_MESSAGE
from banking_cdc.monitoring.store import MetricRow
from banking_cdc.plugins.health import URL_PREFIX, LazyASGIApp, external_view, fastapi_app
from banking_cdc.plugins.health_app import create_app
from tests.plugins.health_fixture import rows

ROOT = Path(__file__).resolve().parents[3]


class FakeStore:
    def __init__(self, conn_id: str, result: list[MetricRow] | Exception) -> None:
        self.conn_id, self.result = conn_id, result

    def read(self, **kwargs: object) -> list[MetricRow]:
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def client(result: list[MetricRow] | Exception) -> TestClient:
    app = create_app(conn_id="bcdc_metrics", authenticate=False, store_factory=lambda c: FakeStore(c, result))  # type: ignore[arg-type,return-value]
    return TestClient(app)


def recent_rows() -> list[MetricRow]:
    return rows(datetime.now(UTC) - timedelta(hours=1), 4, timedelta(minutes=10))


def test_page_draws_the_charts() -> None:
    answer = client(recent_rows()).get("/", params={"hours": 2})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    for key in ("freshness", "lag", "throughput", "tests"):
        assert f'data-chart="{key}"' in answer.text
    assert answer.text.count('<circle class="pt"') == 4 * (5 + 3 + 3 + 2)


def test_series_json_matches_the_page() -> None:
    data = client(recent_rows()).get("/series.json", params={"hours": 2, "lag": "partition"}).json()
    counts = {c["key"]: c["point_count"] for c in data["charts"]}
    assert counts == {"freshness": 20, "lag": 36, "throughput": 12, "tests": 8}
    assert data["window"] == 7200.0


def test_empty_and_unreachable_states() -> None:
    assert EMPTY_MESSAGE in client([]).get("/").text
    answer = client(ConnectionError("connection refused")).get("/")
    assert answer.status_code == 503
    assert "The metrics database is unreachable." in answer.text and "bcdc_metrics" in answer.text
    assert client(ConnectionError("x")).get("/series.json").status_code == 503


def test_bad_window_is_a_clear_400() -> None:
    answer = client([]).get("/", params={"hours": 0})
    assert answer.status_code == 400 and "hours must be" in answer.text


def test_a_browser_without_session_is_sent_to_the_login_page(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.api_fastapi import app as api_app

    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "False")
    monkeypatch.setattr(api_app._AuthManagerState, "instance", None)
    api_app.create_auth_manager()
    guarded = TestClient(create_app(store_factory=lambda c: FakeStore(c, [])), follow_redirects=False)  # type: ignore[arg-type,return-value]
    answer = guarded.get("/", params={"hours": 2})
    assert answer.status_code == 307
    assert answer.headers["location"].endswith("/login?next=http%3A%2F%2Ftestserver%2F%3Fhours%3D2")
    assert guarded.get("/series.json").status_code == 401
    refused = guarded.get("/", headers={"Authorization": "Bearer not-a-token"})
    assert refused.status_code == 403 and "not allowed" in refused.text


def test_icon_is_served_without_login() -> None:
    answer = client([]).get("/icon.svg")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/svg+xml"


def test_lazy_app_builds_once() -> None:
    built: list[int] = []

    def factory() -> object:
        built.append(1)
        return create_app(authenticate=False, store_factory=lambda c: FakeStore(c, []))  # type: ignore[arg-type,return-value]

    lazy = LazyASGIApp(factory)
    assert built == []
    test = TestClient(lazy)  # type: ignore[arg-type]
    assert test.get("/icon.svg").status_code == 200 and test.get("/icon.svg").status_code == 200
    assert built == [1]


def test_plugin_registration() -> None:
    assert fastapi_app()["url_prefix"] == URL_PREFIX and not URL_PREFIX.startswith(("/api", "/ui", "/auth"))
    view = external_view()
    assert view["href"] == f"{URL_PREFIX}/" and view["destination"] == "nav" and view["url_route"]


def test_plugin_file_imports_fast_without_fastapi() -> None:
    code = (
        "import sys, time; sys.path.insert(0, 'plugins'); import airflow.plugins_manager; t = time.monotonic();"
        "import bcdc_health_plugin as p; d = time.monotonic() - t;"
        "assert 'fastapi' not in sys.modules, 'fastapi imported'; assert 'psycopg2' not in sys.modules;"
        "plugin = p.BankingCdcHealthPlugin; assert plugin.listeners and plugin.external_views;"
        "print(round(d, 3))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert float(result.stdout.split()[-1]) < 0.5

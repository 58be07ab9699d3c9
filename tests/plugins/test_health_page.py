"""The health page with real data, served by a real Airflow API server, rendered by headless Chromium.

Seeds the metrics table (PostgreSQL of the native stack) with several monitoring observations over
time and dbt test results written through the plugin's listener, starts ``airflow api-server`` on a
free loopback port, opens the page and the Airflow UI's navigation entry in headless Chromium, saves
screenshots under ``.state/artefacts/`` and checks the rendered DOM: every chart has a point per
seeded observation. Nothing is skipped: a missing service or browser fails the test.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.providers.postgres.hooks.postgres import PostgresHook
from airflow.utils.state import TaskInstanceState

from banking_cdc.monitoring.health_report import DBT_TEST
from banking_cdc.monitoring.store import METRICS_CONN_ID, TABLE, MetricsStore
from banking_cdc.plugins.dbt_test_listener import DbtTestResultListener
from tests.plugins.health_fixture import GOLD_MODELS, TEST_TASKS, TOPICS, dbt_test_samples, monitoring_samples
from tests.stack_env import STATE

pytestmark = pytest.mark.integration

ARTEFACTS = STATE / "artefacts"
RUN_PREFIX = "test_health_page"
STEPS = 8
EVERY = timedelta(minutes=10)
#: points each chart must show at least: a series point per seeded observation time
EXPECTED_POINTS = {
    "freshness": len(GOLD_MODELS) * STEPS,
    "lag": len(TOPICS) * STEPS,  # summed per topic
    "throughput": len(TOPICS) * STEPS,
    "tests": 2 * STEPS,  # passed and failed per DAG run
}


def _delete_seeded_rows() -> None:
    conn = PostgresHook(postgres_conn_id=METRICS_CONN_ID).get_conn()
    try:
        with conn.cursor() as cur:
            cur.execute(f"DELETE FROM {TABLE} WHERE run_id LIKE %s", (f"{RUN_PREFIX}%",))
        conn.commit()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def seeded(stack: dict[str, str]) -> Iterator[datetime]:
    """Monitoring observations every 10 min for 70 min; dbt test results recorded by the listener."""
    store = MetricsStore()
    store.ensure_schema()
    _delete_seeded_rows()
    # the last observation a minute ago: newer than anything an earlier test recorded
    start = datetime.now(UTC) - (STEPS - 1) * EVERY - timedelta(minutes=1)
    try:
        for step in range(STEPS):
            at = start + step * EVERY
            store.record(monitoring_samples(step), observed_at=at, run_id=f"{RUN_PREFIX}_monitoring_{step}")
            listener = DbtTestResultListener(clock=lambda at=at: at)
            for sample, _ in dbt_test_samples(step):
                ti = SimpleNamespace(
                    dag_id="banking_dbt_transform",
                    task_id=sample.subject,
                    run_id=f"{RUN_PREFIX}_dbt_{step}",
                    operator="DbtTestLocalOperator",
                    state=TaskInstanceState.SUCCESS if sample.value else TaskInstanceState.FAILED,
                )
                if sample.value:
                    listener.on_task_instance_success(previous_state=TaskInstanceState.RUNNING, task_instance=ti)
                else:
                    listener.on_task_instance_failed(
                        previous_state=TaskInstanceState.RUNNING, task_instance=ti, error=RuntimeError("test failed")
                    )
        yield start
    finally:
        _delete_seeded_rows()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture(scope="module")
def api_server(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``airflow api-server`` on a free loopback port (its own process group, stopped by PID)."""
    port = _free_port()
    log_path = tmp_path_factory.mktemp("api-server") / "api-server.log"
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    }
    base = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(Path(bin_dir) / "airflow"), "api-server"],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    started = time.monotonic()
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"airflow api-server exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if _get(f"{base}/api/v2/monitor/health", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() - started > 120:
                pytest.fail(f"airflow api-server not ready after 120 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        print(f"\napi-server ready on {base} after {time.monotonic() - started:.1f} s (log {log_path})")
        yield base
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass


def _chromium(url: str, *args: str, profile: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    browser = shutil.which("chromium")
    if browser is None:
        pytest.fail("headless Chromium missing: install the Debian package `chromium` (dev/bootstrap.sh does)")
    command = [
        browser, "--headless=new", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
        "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1400,1600",
        "--virtual-time-budget=10000", *args, url,
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.insert(2, "--no-sandbox")
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


class ChartPoints(HTMLParser):
    """Counts ``<circle class="pt">`` per ``<svg data-chart=...>`` in a rendered DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.chart: str | None = None
        self.points: Counter[str] = Counter()
        self.declared: dict[str, int] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "svg" and attributes.get("data-chart"):
            self.chart = attributes["data-chart"]
            self.declared[self.chart or ""] = int(attributes.get("data-points") or 0)
        elif tag == "circle" and self.chart and "pt" in (attributes.get("class") or "").split():
            self.points[self.chart] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self.chart = None


def test_health_page_renders_real_data_in_headless_chromium(seeded: datetime, api_server: str, tmp_path: Path) -> None:
    recorded = [r for r in MetricsStore().read(metrics=[DBT_TEST], since=seeded) if r.run_id.startswith(RUN_PREFIX)]
    assert len(recorded) == STEPS * len(TEST_TASKS), "the listener did not record every seeded test result"

    url = f"{api_server}/bcdc-health/?hours=2"
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTEFACTS / "health_page.png"
    screenshot.unlink(missing_ok=True)
    started = time.monotonic()
    _chromium(url, f"--screenshot={screenshot}", profile=tmp_path / "profile-shot")
    dom = _chromium(url, "--dump-dom", profile=tmp_path / "profile-dom").stdout
    print(f"\nhealth page screenshot: {screenshot} (Chromium {time.monotonic() - started:.1f} s for 2 renders)")
    assert screenshot.stat().st_size > 20_000 and screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    parser = ChartPoints()
    parser.feed(dom)
    print(f"points per chart: {dict(parser.points)} (seeded at least {EXPECTED_POINTS})")
    for chart, expected in EXPECTED_POINTS.items():
        assert parser.points[chart] >= expected, f"chart {chart}: {parser.points[chart]} points < {expected}"
        assert parser.points[chart] == parser.declared[chart]
    assert "Pipeline health" in dom and "no observations yet" not in dom.lower()
    for label in (*GOLD_MODELS, *TOPICS, "passed", "failed", "banking_cdc_slot", "banking-source"):
        assert label in dom, f"{label} missing from the page"
    assert "assert_no_orphan_transactions_test" in dom  # fails in the last seeded run


def test_nav_entry_embeds_the_page_in_the_airflow_ui(api_server: str, tmp_path: Path) -> None:
    status, body = _get(f"{api_server}/auth/token")
    assert status in (200, 201), body
    token = json.loads(body)["access_token"]
    status, body = _get(f"{api_server}/api/v2/plugins", {"Authorization": f"Bearer {token}"})
    assert status == 200, body
    plugin = next(p for p in json.loads(body)["plugins"] if p["name"] == "banking_cdc_health")
    assert [a["url_prefix"] for a in plugin["fastapi_apps"]] == ["/bcdc-health"]
    (view,) = plugin["external_views"]
    assert (view["url_route"], view["href"], view["destination"]) == ("bcdc-health", "/bcdc-health/", "nav")
    assert plugin["listeners"] == [
        "banking_cdc.plugins.dbt_test_listener.DbtTestResultListener",
        "banking_cdc.plugins.task_failure_listener.TaskFailureListener",
        "banking_cdc.plugins.task_preload.TaskPreloadListener",
    ]

    ui = f"{api_server}/plugin/bcdc-health"
    screenshot = ARTEFACTS / "health_page_in_airflow_ui.png"
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    _chromium(ui, f"--screenshot={screenshot}", profile=tmp_path / "profile-ui-shot")
    dom = _chromium(ui, "--dump-dom", profile=tmp_path / "profile-ui-dom").stdout
    print(f"\nAirflow UI screenshot: {screenshot}")
    assert 'href="/plugin/bcdc-health"' in dom, "no navigation entry for the health page"
    assert 'src="/bcdc-health/"' in dom, "the health page is not embedded in the UI"


def test_page_requires_an_airflow_user(api_server: str) -> None:
    status, body = _get(f"{api_server}/bcdc-health/", {"Authorization": "Bearer not-a-token"})
    assert status == 403 and "not allowed" in body
    status, _ = _get(f"{api_server}/bcdc-health/icon.svg")
    assert status == 200


def test_unreachable_metrics_database_is_a_clear_503(stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from banking_cdc.plugins.health_app import create_app

    port = _free_port()  # nothing listens there
    monkeypatch.setenv("AIRFLOW_CONN_BCDC_METRICS_DOWN", f"postgres://nobody:none@127.0.0.1:{port}/banking_ops")
    answer = TestClient(create_app(conn_id="bcdc_metrics_down", authenticate=False)).get("/")
    assert answer.status_code == 503
    assert "The metrics database is unreachable." in answer.text and "&#x27;bcdc_metrics_down&#x27;" in answer.text
    assert "Traceback" not in answer.text

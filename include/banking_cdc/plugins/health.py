"""What the health plugin registers: the mount point, the navigation entry and a lazily built web app.

Airflow imports every plugin in every component (scheduler, DAG processor, each task process); only the
API server serves the page. :class:`LazyASGIApp` lets the plugin hand the API server an ASGI app without
importing FastAPI or building the app until the first request arrives.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

#: where the API server mounts the app
URL_PREFIX = "/bcdc-health"
#: route of the page inside the Airflow UI (``/plugin/<url_route>`` shows the page in an iframe)
UI_ROUTE = "bcdc-health"
#: name of the navigation entry (the UI truncates longer names in its side bar)
NAV_NAME = "Health"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class LazyASGIApp:
    """
    An ASGI app that builds the real app on its first request.

    :param factory: Returns the ASGI app (called once, thread-safe).
    """

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.factory = factory
        self._app: ASGIApp | None = None
        self._lock = threading.Lock()

    def _get(self) -> ASGIApp:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    self._app = self.factory()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection through the real app."""
        await self._get()(scope, receive, send)


def build_health_app() -> ASGIApp:
    """The health page app on the default metrics connection (imports FastAPI)."""
    from banking_cdc.plugins.health_app import create_app

    return create_app()


def fastapi_app() -> dict[str, Any]:
    """The ``fastapi_apps`` entry of the plugin: the page, built on its first request."""
    return {"app": LazyASGIApp(build_health_app), "url_prefix": URL_PREFIX, "name": NAV_NAME}


def external_view() -> dict[str, Any]:
    """The ``external_views`` entry: a top-level navigation item showing the page inside the Airflow UI."""
    return {
        "name": NAV_NAME,
        "href": f"{URL_PREFIX}/",
        "url_route": UI_ROUTE,
        "destination": "nav",
        "nav_top_level": True,
        "icon": f"{URL_PREFIX}/icon.svg",
    }

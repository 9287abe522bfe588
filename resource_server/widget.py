"""The widget as MCP resources and as a browser page (OpenAI Apps SDK, MCP Apps).

Two hosts, two resource conventions, one HTML template (:func:`widget.render_widget`):

* ChatGPT (OpenAI Apps SDK): ``ui://widget/auth-demo.html`` served as ``text/html+skybridge``,
  named by the tool's ``_meta["openai/outputTemplate"]``; the resource's ``_meta`` carries
  ``openai/widgetCSP`` (``connect_domains``/``resource_domains``) and
  ``openai/widgetDescription``.
* MCP Apps hosts (``io.modelcontextprotocol/ui`` extension): ``ui://widget/auth-demo-app.html``
  served as ``text/html;profile=mcp-app``, named by the tool's ``_meta.ui.resourceUri``, with
  ``_meta.ui.csp``. The SDK's :class:`mcp.server.apps.Apps` extension registers it and
  advertises the extension in the server's capabilities.

The page is self-contained (inline CSS and JS) and talks to the host bridge, never to the
network, so both CSPs allow no domains at all. ``GET /widget`` serves the same page for a
browser preview (:data:`~resource_server.paths.WIDGET_PATH`), where it calls ``/mcp`` itself and can sign
itself in (see :mod:`widget`).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from mcp.server.apps import APP_MIME_TYPE, Apps, ResourceCsp
from mcp.server.mcpserver.resources import FunctionResource
from starlette.requests import Request
from starlette.responses import HTMLResponse

from widget import WidgetHost, render_widget

from .paths import MCP_PATH

OPENAI_WIDGET_URI = "ui://widget/auth-demo.html"
OPENAI_WIDGET_MIME_TYPE = "text/html+skybridge"
MCP_APP_URI = "ui://widget/auth-demo-app.html"
WIDGET_DESCRIPTION = (
    "Shows whether you are signed in to the Auth Demo, who you are, and your private notes "
    "(or a public teaser when you are not signed in)."
)


@cache
def _html(host: WidgetHost) -> str:
    return render_widget(host=host, mcp_path=MCP_PATH)


def openai_widget_resource() -> FunctionResource:
    return FunctionResource.from_function(
        lambda: _html("openai"),
        uri=OPENAI_WIDGET_URI,
        name="auth-demo-widget",
        title="Auth Demo widget",
        description=WIDGET_DESCRIPTION,
        mime_type=OPENAI_WIDGET_MIME_TYPE,
        meta={
            "openai/widgetDescription": WIDGET_DESCRIPTION,
            "openai/widgetPrefersBorder": True,
            "openai/widgetCSP": {"connect_domains": [], "resource_domains": []},
        },
    )


def mcp_apps_extension() -> Apps:
    """The SDK's MCP Apps extension holding the ``text/html;profile=mcp-app`` copy of the widget."""
    apps = Apps()
    apps.add_resource(
        FunctionResource.from_function(
            lambda: _html("mcp-app"),
            uri=MCP_APP_URI,
            name="auth-demo-app",
            title="Auth Demo widget (MCP Apps)",
            description=WIDGET_DESCRIPTION,
            mime_type=APP_MIME_TYPE,
            meta={
                "ui": {
                    "csp": ResourceCsp(connect_domains=[], resource_domains=[]).model_dump(
                        by_alias=True, exclude_none=True
                    ),
                    "prefersBorder": True,
                }
            },
        )
    )
    return apps


def widget_tool_meta(invoking: str, invoked: str) -> dict[str, Any]:
    """The ``_meta`` that makes a tool open the widget, in both hosts' vocabularies."""
    return {
        "openai/outputTemplate": OPENAI_WIDGET_URI,
        "openai/widgetAccessible": True,  # the widget may call tools through window.openai.callTool
        "openai/toolInvocation/invoking": invoking,
        "openai/toolInvocation/invoked": invoked,
        "ui": {"resourceUri": MCP_APP_URI},
    }


async def widget_preview(request: Request) -> HTMLResponse:
    """``GET /widget``: the page in a plain browser, calling ``/mcp`` itself."""
    return HTMLResponse(_html("preview"), headers={"Cache-Control": "no-cache"})

"""The "Auth Demo Widget": one self-contained HTML page (OpenAI Apps SDK, MCP Apps), from a jinja2 template.

The same template serves three hosts, told apart by ``host``:

* ``openai`` — ChatGPT (OpenAI Apps SDK, ``text/html+skybridge``): the page reads
  ``window.openai.toolOutput`` and calls tools with ``window.openai.callTool``;
* ``mcp-app`` — MCP Apps hosts (``text/html;profile=mcp-app``): JSON-RPC over ``postMessage``;
* ``preview`` — a plain browser at ``GET /widget``: no bridge, so the page calls ``/mcp``
  itself with ``fetch`` and says it is a preview.

Whatever the host, the page itself only calls the public and optional tools
(``auth_show``, ``notes_teaser``): a host does not start sign-in from a widget's call to an
oauth2-only tool, so inside a host the page asks the user to sign in through the conversation.
In the browser preview there is no host to ask, so "Sign in" makes the page its own public
OAuth client — registration (RFC 7591) with its own URL as a loopback redirect (RFC 8252 §7.3),
PKCE (RFC 7636), ``resource`` (RFC 8707) — and ``notes_teaser`` then shows the user's notes.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import jinja2

WidgetHost = Literal["openai", "mcp-app", "preview"]
TEMPLATE_NAME = "auth_demo.html.j2"
# The only tools the page may call by itself (see the module docstring).
SELF_CALLABLE_TOOLS = ("auth_show", "notes_teaser")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    # Imported when the widget is first rendered, not when the RS starts: most of the RS's
    # requests never render it, and a restart answers sooner without the import.
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("widget", "."),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_widget(*, host: WidgetHost, mcp_path: str = "/mcp", title: str = "Auth Demo") -> str:
    """The widget's HTML for ``host``; ``mcp_path`` is what the browser preview posts to."""
    config = {"host": host, "mcpPath": mcp_path, "selfCallableTools": list(SELF_CALLABLE_TOOLS)}
    return _environment().get_template(TEMPLATE_NAME).render(title=title, config=config)

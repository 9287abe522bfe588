"""``python -m resource_server``: run the resource server with uvicorn on ``RS_HOST``:``RS_PORT``.

Prints where to point an MCP client and where its OAuth discovery starts (RFC 9728). Set
``WEB_CONCURRENCY=2`` for two worker processes: with several workers the server issues no MCP
sessions, so any worker can answer any request.
"""

from __future__ import annotations

import sys

import uvicorn

from resource_server.paths import MCP_PATH
from shared.settings import get_settings, startup_warnings, storage_description


def main() -> None:
    settings = get_settings()  # a bad configuration ends here, with one line naming the variable
    for warning in startup_warnings(settings):
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    mcp_url = settings.rs_base_url + MCP_PATH
    print(f"MCP endpoint (Streamable HTTP): {mcp_url}", flush=True)
    print(f"Protected resource metadata:    {settings.rs_metadata_url}", flush=True)
    print(f"Authorization server:           {settings.auth_issuer}", flush=True)
    print(f"Storage:                        {storage_description(settings)}", flush=True)
    print(
        "MCP Inspector (Node >= 22.19): npx @modelcontextprotocol/inspector, then Add Servers → "
        f"+ Add manually, transport streamable-http, URL {mcp_url} (README: 'Connect MCP Inspector')",
        flush=True,
    )
    print(
        "ChatGPT / Claude connector: expose both servers over https (e.g. ngrok), set RS_BASE_URL and "
        "AUTH_ISSUER to the tunnel URLs, restart, and use <RS_BASE_URL>/mcp as the connector URL "
        "with OAuth; then run `.venv/bin/mcp-oauth-demo doctor`",
        flush=True,
    )
    uvicorn.run(
        "resource_server.app:app",
        host=settings.rs_host,
        port=settings.rs_port,
        proxy_headers=True,
        server_header=False,
    )


if __name__ == "__main__":
    main()

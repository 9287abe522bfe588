"""Every path the resource server answers, in one table.

The routes (:mod:`resource_server.app`), the RFC 9728 metadata, the widget preview and the test
helpers all spell a path through these names, so a path is written once.
"""

from __future__ import annotations

INDEX_PATH = "/"
"""A small HTML page saying where everything is."""

MCP_PATH = "/mcp"
"""The MCP endpoint (streamable HTTP): every JSON-RPC request, ``GET`` streams, ``DELETE`` of a session."""

WIDGET_PATH = "/widget"
"""The widget as a plain browser page, calling :data:`MCP_PATH` itself."""

PROTECTED_RESOURCE_METADATA_PATH = "/.well-known/oauth-protected-resource"
"""RFC 9728 §3: the well-known prefix; the path-aware URL appends the resource's own path (§3.1)."""

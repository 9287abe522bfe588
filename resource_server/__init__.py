"""The MCP resource server of mcp-oauth-demo: five tools behind per-tool OAuth 2.1 policies.

Start reading at :mod:`resource_server.app`, which assembles the modules in request order.
"""

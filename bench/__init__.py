"""Benchmarks of mcp-oauth-demo: each module measures one thing and prints a small table.

Run them all with ``python -m bench`` (``--quick`` for tiny bounds); see ``bench/README.md``.
"""

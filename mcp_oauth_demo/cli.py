"""``mcp-oauth-demo``: the project's command line (``walkthrough``, ``doctor``).

``walkthrough`` performs the MCP authorization flow by hand against the running servers and
prints every exchange with the RFC section it implements; ``doctor`` checks a running or
configured setup the way the README's troubleshooting section does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mcp_oauth_demo import doctor, walkthrough


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcp-oauth-demo",
        description="An MCP resource server protected by OAuth 2.1 — tools to learn and to check it.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    walk = commands.add_parser(
        "walkthrough",
        help="run the whole OAuth flow against the running servers and explain each step",
        description=walkthrough.__doc__.split("\n\n")[0] if walkthrough.__doc__ else None,
    )
    walkthrough.add_arguments(walk)
    walk.set_defaults(run=walkthrough.run)
    check = commands.add_parser(
        "doctor",
        help="check the configuration and the running servers; print what is wrong and how to fix it",
        description=doctor.__doc__.split("\n\n")[0] if doctor.__doc__ else None,
    )
    doctor.add_arguments(check)
    check.set_defaults(run=doctor.run)
    _add_one_url(commands)
    return parser


def _add_one_url(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``one-url``: both servers in one process behind one URL (:mod:`mcp_oauth_demo.one_url`)."""
    from mcp_oauth_demo import one_url

    serve = commands.add_parser(
        "one-url",
        help="serve the AS and the MCP server on one port (8000) for one tunnel: set PUBLIC_URL",
        description=(one_url.__doc__ or "").split("\n\n")[0],
    )
    one_url.add_arguments(serve)
    serve.set_defaults(run=one_url.run)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())

"""``mcp-oauth-demo``: the project's command line (``start``, ``walkthrough``, ``doctor``, ``one-url``).

``start`` runs both servers (the Procfile) with this installation's Python, so
``.venv/bin/mcp-oauth-demo start`` works in any terminal; ``walkthrough`` performs the MCP
authorization flow by hand against the running servers and prints every exchange with the
RFC section it implements; ``doctor`` checks a running or configured setup the way the
README's troubleshooting section does.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Sequence
from types import ModuleType

from mcp_oauth_demo import doctor, one_url, start, trace, walkthrough

# reStructuredText markup of the docstrings that --help shows: ``literal``, :role:`target`.
_LITERAL = re.compile(r"``([^`]+)``")
_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def plain_text(docstring: str) -> str:
    """A module docstring as a terminal shows it: no ``…`` or :mod:`…` markup, no common indent."""
    text = _ROLE.sub(r"\1", _LITERAL.sub(r"\1", docstring))
    return textwrap.dedent(text).strip()


def help_text(module: ModuleType) -> tuple[str, str]:
    """(description, epilog) for ``module``'s subcommand: its docstring's first paragraph, then the rest."""
    first, _, rest = plain_text(module.__doc__ or "").partition("\n\n")
    return first, rest


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, module: ModuleType, summary: str
) -> None:
    description, epilog = help_text(module)
    parser = commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.add_arguments(parser)
    parser.set_defaults(run=module.run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mcp-oauth-demo",
        description="An MCP resource server protected by OAuth 2.1 — tools to run, learn and check it.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_command(commands, "start", start, "run both servers (the Procfile) with this installation's Python")
    add_command(
        commands,
        "walkthrough",
        walkthrough,
        "run the whole OAuth flow against the running servers and explain each step",
    )
    add_command(
        commands,
        "doctor",
        doctor,
        "check the configuration and the running servers; print what is wrong and how to fix it",
    )
    add_command(
        commands,
        "one-url",
        one_url,
        "serve the AS and the MCP server on one port (8000) for one tunnel: set PUBLIC_URL",
    )
    add_command(commands, "trace", trace, "print what clients did (the trace both servers record); --follow")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())

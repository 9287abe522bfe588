"""``python -m mcp_oauth_demo.doctor [options]``: the same as ``mcp-oauth-demo doctor [options]``."""

import sys

from mcp_oauth_demo.cli import main

sys.exit(main(["doctor", *sys.argv[1:]]))

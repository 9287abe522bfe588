"""``mcp-oauth-demo start``: run the Procfile's servers from any shell, activated venv or not.

``honcho start`` runs each Procfile line (``python -m auth_server``, ``python -m resource_server``)
through a shell, so ``python`` is whichever one comes first on ``PATH``: the project's only
when its virtual environment is activated. In a new terminal that is the system's Python,
which lacks this project's packages (``No module named …``), or no ``python`` at all
(``python: not found``).

This command runs the same Procfile with honcho's own process manager, with the directory of
the interpreter running this command — the venv's ``bin/`` when you type
``.venv/bin/mcp-oauth-demo start`` — put first on ``PATH``. The Procfile stays the one place
that says what runs, and ``honcho start`` in an activated venv keeps working unchanged.
Like honcho, it reads ``.env`` of the current folder into the servers' environment, and
stops both servers when either exits or when you press Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class StartError(RuntimeError):
    """Nothing can be started; the message says what to do."""


def find_procfile(folder: Path) -> Path:
    """``Procfile`` in ``folder``, else the one of the project this package was installed from."""
    for candidate in (folder / "Procfile", PROJECT_ROOT / "Procfile"):
        if candidate.is_file():
            return candidate
    raise StartError(
        f"no Procfile in {folder} or {PROJECT_ROOT}: "
        "run this from the project folder (the one with the Procfile)"
    )


def server_environment(environ: Mapping[str, str], dotenv: Mapping[str, str]) -> dict[str, str]:
    """The servers' environment: ours plus ``.env``, with this interpreter's folder first on PATH.

    The variables already set in the shell win over ``.env``'s, as the servers' own settings
    loader (pydantic-settings) ranks them.
    """
    env = {**dotenv, **environ}
    bin_dir = str(Path(sys.executable).parent)
    path = env.get("PATH", "")
    env["PATH"] = bin_dir + (os.pathsep + path if path else "")
    prefix = Path(sys.prefix)
    if prefix != Path(sys.base_prefix):
        # What `activate` sets too; tools that look for "the" venv find this one.
        env["VIRTUAL_ENV"] = str(prefix)
    return env


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "processes",
        nargs="*",
        metavar="PROCESS",
        help="only these Procfile processes (default: all of them, i.e. auth and rs)",
    )


def run(args: argparse.Namespace) -> int:
    # Imported here: `walkthrough` and `doctor` never need honcho.
    from honcho.environ import expand_processes, parse, parse_procfile
    from honcho.manager import Manager
    from honcho.printer import Printer

    folder = Path.cwd()
    try:
        procfile = parse_procfile(find_procfile(folder).read_text())
        processes = dict(procfile.processes)
        unknown = [name for name in args.processes if name not in processes]
        if unknown:
            raise StartError(
                f"no process {', '.join(unknown)} in the Procfile; it has {', '.join(processes)}"
            )
    except StartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.processes:
        processes = {name: processes[name] for name in args.processes}
    dotenv_path = folder / ".env"
    dotenv = parse(dotenv_path.read_text()) if dotenv_path.is_file() else {}
    env = server_environment(os.environ, dotenv)
    print(f"starting {', '.join(processes)} with {sys.executable} (Ctrl-C stops them)", flush=True)
    manager = Manager(Printer(sys.stdout, colour=sys.stdout.isatty() and "NO_COLOR" not in os.environ))
    for process in expand_processes(processes, env=env):
        manager.add_process(process.name, process.cmd, quiet=process.quiet, env={**env, **process.env})
    manager.loop()
    return int(manager.returncode or 0)

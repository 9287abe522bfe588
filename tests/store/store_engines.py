"""Where the store contract tests run: the engine of one test and its throw-away database."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ENGINES = ("sqlite", "postgresql")


@dataclass(frozen=True)
class Engine:
    """Where one test's stores live: a fresh SQLite directory, or a freshly emptied PostgreSQL database."""

    name: str
    data_dir: Path
    database_url: str = ""

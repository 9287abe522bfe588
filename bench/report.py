"""What every benchmark prints: its options, percentiles, aligned tables, ✔/✖ verdicts and the machine."""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


# -- command line --------------------------------------------------------------------------------
def arguments(
    description: str | None,
    argv: Sequence[str] | None = None,
    *,
    more: Callable[[argparse.ArgumentParser], None] | None = None,
) -> argparse.Namespace:
    """The options every benchmark takes: ``--quick`` (tiny bounds, for CI smoke runs); ``more``
    adds a benchmark's own."""
    parser = argparse.ArgumentParser(description=(description or "").strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny bounds: checks the benchmark runs")
    if more:
        more(parser)
    return parser.parse_args(argv)


# -- numbers and tables --------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) by linear interpolation; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A small aligned table: text left, numbers right."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [all(_is_number(row[i]) for row in cells[1:]) and len(cells) > 1 for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True)
        )

    print(f"\n## {title}\n")
    print(line(cells[0]).rstrip())
    print("  ".join("-" * w for w in widths))
    for row in cells[1:]:
        print(line(row).rstrip())
    sys.stdout.flush()


def _is_number(text: str) -> bool:
    return bool(re.fullmatch(r"[-+]?[\d,.]+(e[-+]?\d+)?[%×x]?|nan|—", text))


@dataclass
class Verdict:
    name: str
    measured: str
    target: str
    ok: bool


def print_verdicts(verdicts: Sequence[Verdict]) -> bool:
    """Print ✔/✖ per target; returns whether all were met (benchmarks still exit 0 either way)."""
    print_table(
        "targets",
        ["", "target", "measured", "goal"],
        [["✔" if v.ok else "✖", v.name, v.measured, v.target] for v in verdicts],
    )
    return all(v.ok for v in verdicts)


def machine() -> dict[str, str]:
    """What the numbers were measured on: cores, CPU model, Python, load average."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": platform.python_version(),
        "load average (1/5/15 min)": " ".join(f"{x:.2f}" for x in load),
    }


def print_machine() -> None:
    print("machine: " + "; ".join(f"{k} {v}" for k, v in machine().items()), flush=True)

"""Resident memory as Linux reports it, for the benchmarks that measure it."""

from __future__ import annotations

from pathlib import Path


def rss_mib(status: Path = Path("/proc/self/status")) -> float:
    """VmRSS of the process whose /proc status file this is (default: this one), in MiB."""
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0

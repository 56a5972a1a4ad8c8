"""What machine a comparison ran on, in the words a reader needs to weigh it."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path


def describe() -> dict[str, str]:
    """CPU model, cores, memory, OS, kernel and Python of this machine."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f"{kib / 2**20:.0f} GiB"
    system = platform.platform(terse=True)
    release = Path("/etc/os-release")
    if release.exists():
        fields = dict(
            line.split("=", 1) for line in release.read_text().splitlines() if "=" in line
        )
        system = fields.get("PRETTY_NAME", system).strip('"')
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count() or "?"),
        "memory": memory,
        "os": system,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "disk": _disk(),
    }


def _disk() -> str:
    """The file system the project is on, and its free space."""
    try:
        out = (
            subprocess.run(
                ["df", "-hT", "."], capture_output=True, text=True, check=True, timeout=10
            )
            .stdout.splitlines()[-1]
            .split()
        )
    except (OSError, subprocess.SubprocessError, IndexError):
        return ""
    return f"{out[1]}, {out[4]} free of {out[2]}" if len(out) >= 5 else ""

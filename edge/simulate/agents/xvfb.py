"""A private X display for headful agents: ``with virtual_display() as display: ...``.

Agents run headful the way desktop agents and "undetected" setups do: a real (virtual) screen,
no ``--headless``. Xvfb picks a free display number itself (``-displayfd``), so concurrent runs and
a developer's own X server are never disturbed; the server is stopped when the block ends.
"""
from __future__ import annotations

import os
import select
import shutil
import subprocess
from contextlib import contextmanager
from typing import Iterator

SCREEN = "1920x1080x24"


@contextmanager
def virtual_display(screen: str = SCREEN, timeout_s: float = 10.0) -> Iterator[str]:
    """Start ``Xvfb`` on a free display; yield its name (``":3"``); stop it afterwards."""
    exe = shutil.which("Xvfb")
    if exe is None:
        raise RuntimeError("Xvfb is not installed (apt-get install xvfb)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([exe, "-displayfd", str(write_fd), "-screen", "0", screen, "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        number = b""
        ready, _, _ = select.select([read_fd], [], [], timeout_s)
        while ready:
            chunk = os.read(read_fd, 16)
            if not chunk:
                break
            number += chunk
            if number.endswith(b"\n"):
                break
            ready, _, _ = select.select([read_fd], [], [], timeout_s)
        if not number.strip().isdigit():
            raise RuntimeError(f"Xvfb did not report a display within {timeout_s:.0f} s (exit code {proc.poll()})")
        yield f":{number.strip().decode()}"
    finally:
        os.close(read_fd)
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

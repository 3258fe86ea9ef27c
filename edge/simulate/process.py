"""Run a Tell server (``tell demo``, ``tell serve``, the seeded demo) as a subprocess on loopback.

Used by ``tell simulate --demo``, the e2e suite and the tool recorders: start on a free port, wait
until ``/healthz`` answers, hand over the base URL, and stop the process afterwards whatever happened.
"""
from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator, Mapping

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 free at the time of asking."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def running(module: str, *args: str, env: Mapping[str, str], log: Path, port: int | None = None,
            start_timeout_s: float = 20.0) -> Iterator[str]:
    """``python -m <module> <args> --host 127.0.0.1 --port <port>`` with ``env`` (``TELL_CONFIG``
    removed, so a developer's configuration does not leak in); its output goes to ``log``. Yields
    ``http://127.0.0.1:<port>`` once ``/healthz`` answers 200; ``RuntimeError`` with the log's tail
    if it exits or does not answer within ``start_timeout_s``."""
    port = port or free_port()
    env = {k: v for k, v in env.items() if k != "TELL_CONFIG"}
    base = f"http://127.0.0.1:{port}"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", module, *args, "--host", "127.0.0.1", "--port", str(port)],
                                env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            deadline = time.monotonic() + start_timeout_s
            while not _healthy(base):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{module} {' '.join(args)} did not start: {log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.1)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

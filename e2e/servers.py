"""Run `tell demo` / `tell serve` as real subprocesses on loopback for the browser tests."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ADMIN_TOKEN = "e2e-admin-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def tell_process(kind: str, tmp: Path, **env_extra: str) -> Iterator[str]:
    """Start `tell <kind>` on a free loopback port; yield its base URL; stop it afterwards."""
    port = free_port()
    env = {**os.environ, "TELL_ADMIN_TOKEN": ADMIN_TOKEN, "TELL_SECRET": "e2e-" + "x" * 28,
           "TELL_STORE": f"sqlite:///{tmp}/tell.sqlite3", **env_extra}
    env.pop("TELL_CONFIG", None)
    log = open(tmp / f"{kind}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", kind, "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parent.parent)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tell {kind} did not start: {(tmp / f'{kind}.log').read_text()[-2000:]}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()

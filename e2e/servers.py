"""Run `tell demo` / `tell serve` as real subprocesses on loopback for the browser tests."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from edge.simulate.process import free_port, running

__all__ = ["ADMIN_TOKEN", "free_port", "tell_process"]

ADMIN_TOKEN = "e2e-admin-token"


@contextmanager
def tell_process(kind: str, tmp: Path, **env_extra: str) -> Iterator[str]:
    """Start `tell <kind>` on a free loopback port; yield its base URL; stop it afterwards."""
    env = {**os.environ, "TELL_ADMIN_TOKEN": ADMIN_TOKEN, "TELL_SECRET": "e2e-" + "x" * 28,
           "TELL_STORE": f"sqlite:///{tmp}/tell.sqlite3", **env_extra}
    with running("edge.cli", kind, env=env, log=tmp / f"{kind}.log") as base:
        yield base

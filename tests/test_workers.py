"""`tell serve --workers 2`: two processes on one port agree on an account through the store."""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from e2e.servers import free_port

ADMIN = {"Authorization": "Bearer w"}


def _get(url, headers=None, method="GET"):
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


@pytest.fixture
def workers(tmp_path):
    port = free_port()
    env = {**os.environ, "TELL_ADMIN_TOKEN": "w", "TELL_STORE": f"sqlite:///{tmp_path}/w.sqlite3"}
    env.pop("TELL_SECRET", None)
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "serve", "--workers", "2", "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    pids: set[int] = set()
    while len(pids) < 2:
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        assert time.monotonic() < deadline, f"saw workers {pids}"
        try:
            pids.add(_get(base + "/healthz")[1]["pid"])
        except OSError:
            time.sleep(0.1)
    yield base, pids
    proc.terminate()
    proc.wait(timeout=15)
    log.close()


def test_two_workers_share_one_ledger(workers):
    base, pids = workers
    assert len(pids) == 2
    seen_by: dict[int, str] = {}
    # Decisions land through whichever worker the kernel picks; every worker must see all of them.
    for _ in range(6):
        _get(base + "/v1/decide", {"X-Tell-Action": "register", "X-Tell-Account": "shared"}, "POST")
    deadline = time.monotonic() + 20
    while set(seen_by) != pids and time.monotonic() < deadline:
        pid = _get(base + "/healthz")[1]["pid"]
        status, acct = _get(base + "/v1/accounts/shared", ADMIN)
        assert status == 200
        seen_by[pid] = (len(acct["decisions"]), acct["enforcement"])
    assert set(seen_by) == pids
    assert len(set(seen_by.values())) == 1 and next(iter(seen_by.values()))[0] == 6

"""Hot reload: a good set swaps in atomically; a broken one is refused while traffic keeps flowing."""
import asyncio
import os
import shutil
import signal
from pathlib import Path

import pytest

from edge.app import make_app
from edge.config import load_config
from signatures import SHIPPED

ADMIN = {"Authorization": "Bearer t"}
BROKEN = Path(__file__).parent / "testdata" / "signatures" / "bad" / "unknown-feature.yml"
EXTRA = """family: example
rules:
  - id: example.extra
    title: an extra rule
    references: [https://example.org]
    when: {outer_zero: true}
    tests: [{expect: match, features: {outer_zero: true}}, {expect: no-match, features: {outer_zero: false}}]
"""


@pytest.fixture
def sigdir(tmp_path):
    d = tmp_path / "sets"
    shutil.copytree(SHIPPED, d)
    return d


@pytest.fixture
async def client(aiohttp_client, tmp_path, sigdir):
    cfg = load_config(env={"TELL_ADMIN_TOKEN": "t", "TELL_STORE": f"sqlite:///{tmp_path}/t.sqlite3",
                           "TELL_SIGNATURES": str(sigdir), "TELL_SIGNATURES_POLL_S": "0.05"})
    return await aiohttp_client(make_app(cfg))


async def _version(client) -> str:
    return (await (await client.get("/v1/signatures", headers=ADMIN)).json())["version"]


async def test_api_reload_swaps_in_a_good_set(client, sigdir):
    before = await _version(client)
    (sigdir / "extra.yml").write_text(EXTRA)
    r = await client.post("/v1/signatures/reload", headers=ADMIN)
    body = await r.json()
    assert r.status == 200 and body["version"] != before and "example" in body["families"]
    d = await client.post("/v1/decide", headers={"X-Tell-Action": "post"})
    assert d.headers["X-Tell-Set-Version"] == body["version"]


async def test_broken_set_is_refused_and_running_set_stays(client, sigdir):
    before = await _version(client)
    shutil.copy(BROKEN, sigdir / "broken.yml")
    r = await client.post("/v1/signatures/reload", headers=ADMIN)
    body = await r.json()
    assert r.status == 422 and body["error"] == "lint_failed"
    assert body["version"] == before
    assert any("webdrivr" in e for e in body["last_reload"]["errors"])
    d = await client.post("/v1/decide", headers={"X-Tell-Action": "post"})
    assert d.status == 401 and d.headers["X-Tell-Set-Version"] == before


async def test_file_change_is_picked_up(client, sigdir):
    before = await _version(client)
    (sigdir / "extra.yml").write_text(EXTRA)
    for _ in range(200):
        await asyncio.sleep(0.05)
        if await _version(client) != before:
            break
    assert await _version(client) != before


async def test_sighup_reloads(client, sigdir):
    before = await _version(client)
    (sigdir / "extra.yml").write_text(EXTRA.replace("example.extra", "example.hup"))
    os.kill(os.getpid(), signal.SIGHUP)
    for _ in range(100):
        await asyncio.sleep(0.02)
        if await _version(client) != before:
            break
    assert await _version(client) != before


async def test_reloads_under_traffic_fail_no_request(client, sigdir):
    stop = asyncio.Event()
    statuses: list[int] = []

    async def traffic():
        while not stop.is_set():
            r = await client.post("/v1/decide", headers={"X-Tell-Action": "comment"})
            statuses.append(r.status)

    workers = [asyncio.create_task(traffic()) for _ in range(4)]
    outcomes = []
    for i in range(30):
        if i % 3 == 2:
            shutil.copy(BROKEN, sigdir / "broken.yml")
        else:
            (sigdir / "broken.yml").unlink(missing_ok=True)
            (sigdir / "extra.yml").write_text(EXTRA.replace("an extra rule", f"an extra rule {i}"))
        outcomes.append((await client.post("/v1/signatures/reload", headers=ADMIN)).status)
    stop.set()
    await asyncio.gather(*workers)
    assert statuses and set(statuses) == {401}  # every request answered, none failed
    assert outcomes.count(422) == 10 and outcomes.count(200) == 20


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}])
async def test_reload_needs_admin(client, headers):
    assert (await client.post("/v1/signatures/reload", headers=headers)).status == 401

"""Fixtures shared by the HTTP-level tests: a configuration with an admin token, a fixed secret and
a SQLite ledger of the test's own, and a test client of the whole app. A test module that needs
other settings defines its own ``config``; ``client`` then serves that one."""
from __future__ import annotations

import pytest

from edge.app import make_app
from edge.config import load_config


@pytest.fixture
def config(tmp_path):
    return load_config(env={"TELL_ADMIN_TOKEN": "admin-secret", "TELL_SECRET": "s" * 32,
                            "TELL_STORE": f"sqlite:///{tmp_path}/tell.sqlite3"})


@pytest.fixture
async def client(aiohttp_client, config):
    return await aiohttp_client(make_app(config))

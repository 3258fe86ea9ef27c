"""The yardstick: a bare aiohttp handler answering 200 on one process, as the sidecar runs.

    python -m bench.bare_server --port P

It reads a request's body when there is one (any real handler of a POST does) and answers an empty
200, with aiohttp's defaults and no access log — everything the sidecar does on top is Tell's cost.
"""
from __future__ import annotations

import argparse
import asyncio
import sys

from aiohttp import web


async def ok(request: web.Request) -> web.Response:
    if request.body_exists:
        await request.read()
    return web.Response(status=200)


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", ok)
    return app


async def serve(host: str, port: int) -> None:
    runner = web.AppRunner(make_app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    print(f"bare: serving on http://{host}:{port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bare_server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

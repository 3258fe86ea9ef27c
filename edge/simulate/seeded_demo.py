"""``python -m edge.simulate.seeded_demo --host H --port P``: ``tell demo`` with one post already on the board.

``tell simulate --demo`` runs this rather than a bare ``tell demo``: the comment flow needs a post to
comment on, and when Tell refuses an agent's own post (as it should) there would otherwise be none —
every comment cell would be *skipped* and the comment write never measured. The welcome post is put
on the board directly, as a site's existing content is; it is not a write and Tell decides nothing
about it. Everything else is ``tell demo`` unchanged (configuration from the environment, as there).
"""
from __future__ import annotations

import argparse

from aiohttp import web

from edge.config import load_config
from edge.demo import BOARD, Post, make_demo_app

WELCOME = ("tell-demo", "Welcome to the demo community. Say hello in the comments!")


def make_seeded_app(cfg) -> web.Application:
    app = make_demo_app(cfg)
    board = app[BOARD]
    post = Post(next(board.ids), *WELCOME)
    board.posts[post.id] = post
    return app


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m edge.simulate.seeded_demo")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    args = p.parse_args(argv)
    cfg = load_config(None, host=args.host, port=args.port)
    web.run_app(make_seeded_app(cfg), host=cfg.host, port=cfg.port, access_log=None,
                print=lambda *a: print(f"tell: seeded demo on http://{cfg.host}:{cfg.port}/register", flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``tell simulate``: run agent tools through register → post → comment on a live site; print the matrix.

Each agent runs in its own process group (``python -m edge.simulate.agents NAME``) with a deadline;
whatever happens to it — a crash, a hang, a browser that never starts — becomes that agent's row,
and the run goes on. Usernames are unique per run (``<agent>-<run id>``), so a run never collides with
an earlier one on the same deployment.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import datetime as dt
import hashlib
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from edge.simulate import agents as registry
from edge.simulate import process
from edge.simulate.agents.base import BODIES, CHROMEDRIVER, CHROMIUM, NO_DECISION_ON_PAGE, RESULT_MARK, Job, Sent
from edge.simulate.matrix import Cell, Matrix, Row, compare, render_changes, to_markdown, to_text
from edge.simulate.target import ACTIONS, DEMO, SelectorConfigError, Target, load_selectors

PASSWORD = "river stone 42"
ROOT = Path(__file__).resolve().parent.parent.parent


def human_data_dir() -> Path:
    """``$TELL_HUMAN_DATA``, else ``../shared/data/human`` beside the repository."""
    env = os.environ.get("TELL_HUMAN_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data" / "human"


def resolve_agents(spec: str) -> list[str]:
    """``all``, ``light`` (no Xvfb, no deliberate pauses), ``heavy``, or a comma-separated list of names."""
    names: list[str] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if part == "all":
            names += registry.NAMES
        elif part in ("light", "heavy"):
            names += [n for n in registry.NAMES if registry.info(n).heavy == (part == "heavy")]
        elif part in registry.NAMES:
            names.append(part)
        else:
            raise ValueError(f"unknown agent {part!r} (one of all, light, heavy, {', '.join(registry.NAMES)})")
    return list(dict.fromkeys(names))


def resolve_actions(spec: str) -> list[str]:
    actions = [a.strip() for a in spec.split(",") if a.strip()]
    for a in actions:
        if a not in ACTIONS:
            raise ValueError(f"unknown flow {a!r} (one of {', '.join(ACTIONS)})")
    # The flows build on each other (an account, then a post, then a comment on it): keep their order.
    return [a for a in ACTIONS if a in actions]


def username(agent: str, run_id: str) -> str:
    """``<agent>-<run id>``: [A-Za-z0-9_.-], at most 32 characters (the demo's limit)."""
    return f"{agent[:31 - len(run_id)]}-{run_id}"


def _get_json(url: str, token: str | None = None, timeout: float = 5.0) -> dict | None:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.load(r)
    except (OSError, ValueError):
        return None


# ---- one agent -----------------------------------------------------------------------------------------------

@dataclass
class AgentRun:
    row: Row
    telemetry: dict[str, list[Sent]]  # action → telemetry POSTs, in the order sent


def run_agent(job: Job, timeout_s: float) -> AgentRun:
    """Run one agent in its own process group; never raises."""
    info = registry.info(job.agent)
    row = Row(agent=info.name, stands_for=info.stands_for, automated=info.automated, tool=info.tool,
              username=job.username)
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "edge.simulate.agents", job.agent], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        out, err = proc.communicate(json.dumps(job.to_json()), timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        row.error = f"timed out after {timeout_s:.0f} s"
    finally:
        _kill_group(proc)  # a tool's stray children (drivers, browsers) die with the agent
    row.seconds = round(time.monotonic() - started, 1)
    result = next((line[len(RESULT_MARK):] for line in reversed(out.splitlines()) if line.startswith(RESULT_MARK)), None)
    telemetry: dict[str, list[Sent]] = {}
    if result is None:
        tail = " | ".join(err.strip().splitlines()[-3:])
        row.error = row.error or f"agent exited {proc.returncode} without a result: {tail[-300:]}"
        return AgentRun(row, telemetry)
    data = json.loads(result)
    row.tool_version = data.get("tool_version", "")
    row.browser_version = data.get("browser_version", "")
    row.detail = data.get("detail", "")
    row.error = row.error or data.get("error")
    for c in data.get("cells", []):
        telemetry[c["action"]] = [Sent(base64.b64decode(s["body"]), s.get("headers") or {})
                                  for s in c.pop("telemetry", [])]
        row.cells.append(Cell.from_json(c))
    return AgentRun(row, telemetry)


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def cross_check(row: Row, base_url: str, token: str) -> None:
    """Fill ``rules``, ``admin_decision`` and ``behaviour_score`` from ``GET /v1/accounts/{username}`` (the newest
    decision per action; usernames are unique per run, so that is this run's write), and the decision itself
    when the page showed none."""
    acct = _get_json(f"{base_url}/v1/accounts/{urllib.parse.quote(row.username)}?limit=50", token)
    if not acct:
        return
    newest: dict[str, dict] = {}
    for d in acct.get("decisions", []):  # newest first
        newest.setdefault(d.get("action", ""), d)
    for cell in row.cells:
        d = newest.get(cell.action)
        if not d or (cell.decision is None and not (cell.error or "").startswith(NO_DECISION_ON_PAGE)):
            continue  # the write did not happen: nothing to cross-check
        if cell.decision is None:
            # The site does not show the decision, but the write was made and Tell decided it.
            cell.decision, cell.error = d.get("decision"), None
            cell.families = sorted(d.get("families") or [])
            cell.note = "decision from the admin API (the page showed none)"
        cell.admin_decision = d.get("decision")
        cell.rules = sorted(r["id"] for r in d.get("rules", []))
        if isinstance(d.get("behaviour_score"), (int, float)):
            cell.behaviour_score = round(float(d["behaviour_score"]), 3)


def record(run: AgentRun, directory: Path, *, command: str, target: str) -> list[Path]:
    """Write each telemetry body as ``<agent>-<tool version>-<action>.msgpack``, with a ``.json`` sidecar and
    the POST's HTTP headers as ``.headers.json`` (which ``tell signatures test`` reads beside a fixture)."""
    directory.mkdir(parents=True, exist_ok=True)
    row = run.row
    written = []
    for action, posts in run.telemetry.items():
        cell = row.cell(action)
        for i, sent in enumerate(posts, 1):
            body = sent.body
            stem = f"{row.agent}-{row.tool_version or 'unknown'}-{action}" + (f"-{i}" if i > 1 else "")
            path = directory / f"{stem}.msgpack"
            path.write_bytes(body)
            if sent.headers:
                (directory / f"{stem}.headers.json").write_text(json.dumps(sent.headers, indent=1, sort_keys=True) + "\n")
            side = {
                "agent": row.agent, "stands_for": row.stands_for, "automated": row.automated,
                "tool": row.tool, "tool_version": row.tool_version, "detail": row.detail, "chromium": row.browser_version,
                "action": action, "post": i, "of": len(posts),
                "decision": cell.decision if cell else None, "families": cell.families if cell else [],
                "date": dt.datetime.now(dt.timezone.utc).date().isoformat(), "command": command,
                "target": target, "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest(),
            }
            path.with_suffix(".json").write_text(json.dumps(side, indent=2, ensure_ascii=False) + "\n")
            written.append(path)
    return written


# ---- the matrix ----------------------------------------------------------------------------------------------

def run_matrix(base_url: str, agent_names: list[str], actions: list[str], target: Target = DEMO, *,
               admin_token: str | None = None, record_dir: Path | None = None, step_timeout_s: float = 20.0,
               agent_timeout_s: float = 180.0, command: str = "",
               progress: Callable[[str], None] = lambda s: None) -> Matrix:
    base_url = base_url.rstrip("/")
    run_id = dt.datetime.now(dt.timezone.utc).strftime("%d%H%M") + secrets.token_hex(1)  # 8 characters
    started_wall = dt.datetime.now(dt.timezone.utc)
    started = time.monotonic()
    health = _get_json(base_url + "/healthz") or {}
    matrix = Matrix(target=base_url, actions=actions, started=started_wall.isoformat(timespec="seconds"),
                    signatures=str(health.get("signatures", "")), command=command)
    for name in agent_names:
        job = Job(agent=name, base_url=base_url, target=target, actions=actions, username=username(name, run_id),
                  password=PASSWORD, bodies=dict(BODIES), step_timeout_s=step_timeout_s, chromium=CHROMIUM,
                  chromedriver=CHROMEDRIVER, human_data=str(human_data_dir()),
                  seed=int(hashlib.sha256(name.encode()).hexdigest()[:8], 16))
        run = run_agent(job, agent_timeout_s)
        if admin_token:
            cross_check(run.row, base_url, admin_token)
        if record_dir is not None:
            record(run, record_dir, command=command, target=base_url)
        matrix.rows.append(run.row)
        progress(f"{name}: " + (f"ERROR {run.row.error}" if run.row.error else "")
                 + " ".join(f"{c.action}={c.decision or ('error' if c.error else 'skipped')}" for c in run.row.cells)
                 + f" ({run.row.seconds:.0f} s)")
    matrix.seconds = time.monotonic() - started
    return matrix


@contextlib.contextmanager
def fresh_demo(token: str) -> Iterator[str]:
    """A throwaway demo on a free loopback port, with its own store and admin token, and one post on the
    board for the comment flow (:mod:`edge.simulate.seeded_demo`)."""
    with tempfile.TemporaryDirectory(prefix="tell-simulate-") as tmp:
        env = {**os.environ, "TELL_ADMIN_TOKEN": token, "TELL_SECRET": secrets.token_hex(32),
               "TELL_STORE": f"sqlite:///{tmp}/tell.sqlite3"}
        with process.running("edge.simulate.seeded_demo", env=env, log=Path(tmp) / "demo.log") as base:
            yield base


# ---- command line --------------------------------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", default="http://127.0.0.1:8080",
                   help="base URL of a site embedding the collector (default: a `tell demo` on port 8080)")
    p.add_argument("--demo", action="store_true",
                   help="start a fresh `tell demo` (with one post on the board) for this run and target it")
    p.add_argument("--agents", default="all",
                   help=f"comma-separated: all, light, heavy, or names ({', '.join(registry.NAMES)})")
    p.add_argument("--flows", default="register,post,comment", help="comma-separated actions, run in this order")
    p.add_argument("--selectors", metavar="FILE.toml", help="the site's forms and decision element (default: the demo's)")
    p.add_argument("--admin-token", default=None,
                   help="cross-check every decision from /v1/accounts/{username} (default: $TELL_ADMIN_TOKEN)")
    p.add_argument("--json", metavar="OUT", help="write the matrix as JSON (schema tell-simulate/1)")
    p.add_argument("--markdown", metavar="OUT", help="write the matrix as Markdown")
    p.add_argument("--compare", metavar="OLD.json", help="print changed cells; exit 1 if an automated agent is newly allowed")
    p.add_argument("--record", metavar="DIR", help="save every telemetry body sent, with a .json sidecar, as fixtures")
    p.add_argument("--step-timeout", type=float, default=20.0, help="seconds for one navigation, wait or input")
    p.add_argument("--agent-timeout", type=float, default=180.0, help="seconds for one agent's whole run")


def main(args: argparse.Namespace) -> int:
    try:
        agent_names = resolve_agents(args.agents)
        actions = resolve_actions(args.flows)
        target = load_selectors(args.selectors) if args.selectors else DEMO
        old = Matrix.loads(Path(args.compare).read_text()) if args.compare else None
    except (ValueError, SelectorConfigError, OSError) as exc:
        print(f"tell simulate: {exc}", file=sys.stderr)
        return 2
    command = "tell " + shlex.join(sys.argv[1:]) if "simulate" in sys.argv[1:] else ""
    token = args.admin_token or os.environ.get("TELL_ADMIN_TOKEN")
    progress = lambda s: print(f"tell simulate: {s}", file=sys.stderr, flush=True)  # noqa: E731
    with contextlib.ExitStack() as stack:
        base = args.target
        if args.demo:
            token = token or secrets.token_hex(16)
            base = stack.enter_context(fresh_demo(token))
            progress(f"fresh demo at {base}")
        matrix = run_matrix(base, agent_names, actions, target, admin_token=token,
                            record_dir=Path(args.record) if args.record else None,
                            step_timeout_s=args.step_timeout, agent_timeout_s=args.agent_timeout,
                            command=command, progress=progress)
    if args.demo:
        matrix.target = "tell demo (fresh)"
    return report(matrix, old, json_out=args.json, markdown_out=args.markdown)


def report(matrix: Matrix, old: Matrix | None = None, *, json_out: str | None = None,
           markdown_out: str | None = None, out=None) -> int:
    """Print the matrix, write the files asked for, compare; the exit code: 1 on a regression."""
    out = out or sys.stdout
    print(to_text(matrix), end="", file=out)
    if json_out:
        Path(json_out).write_text(matrix.dumps())
    if markdown_out:
        Path(markdown_out).write_text(to_markdown(matrix))
    if old is not None:
        changes = compare(old, matrix)
        print(render_changes(changes), end="", file=out)
        if any(c.regression for c in changes):
            return 1
    return 0

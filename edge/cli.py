"""``tell``: run the service or the demo, and the security team's tools."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from edge.config import ConfigError, load_config
from edge.decision import ACTIONS as ACTIONS_CHOICES


def _config(args: argparse.Namespace, **overrides):
    try:
        return load_config(getattr(args, "config", None), **overrides)
    except ConfigError as exc:
        sys.exit(f"tell: configuration error: {exc}")


def _serve_one(config_path: str | None, host: str | None, port: int | None, reuse_port: bool) -> None:
    import asyncio

    from edge.app import make_admin_app, make_app
    from edge.limits import serve

    cfg = load_config(config_path, host=host, port=port)
    _logging(cfg)
    # Not web.run_app: the listeners carry [limits] (connection cap, parser limits, timeouts) and
    # the admin API gets its own socket when admin_port is set.
    asyncio.run(serve(cfg, lambda: make_app(cfg), lambda public: make_admin_app(cfg, public), reuse_port=reuse_port,
                      ready=lambda line: print(line, flush=True)))


def cmd_serve(args: argparse.Namespace) -> int:
    cfg = _config(args, host=args.host, port=args.port)
    if args.workers <= 1:
        _serve_one(args.config, args.host, args.port, False)
        return 0
    return _serve_workers(args, cfg)


def _serve_workers(args: argparse.Namespace, cfg) -> int:
    """N processes on one port (SO_REUSEPORT): the kernel spreads connections; state is shared
    through the configured store, and tokens through one signing key."""
    import multiprocessing
    import os
    import secrets
    import signal

    if not os.environ.get("TELL_SECRET") and not args.config:
        # Without a configured key each worker would invent its own, and a token issued by one
        # would fail on the next: share one for this run.
        os.environ["TELL_SECRET"] = secrets.token_hex(32)
        print("tell: no TELL_SECRET set; generated one for this run's workers", file=sys.stderr)
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_serve_one, args=(args.config, cfg.host, cfg.port, True), name=f"tell-worker-{i}") for i in range(args.workers)]
    for p in procs:
        p.start()

    def forward(signum, _frame):
        for p in procs:
            if p.pid and p.is_alive():
                os.kill(p.pid, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    for p in procs:
        p.join()
    return max((p.exitcode or 0) for p in procs)


def cmd_demo(args: argparse.Namespace) -> int:
    from aiohttp import web

    from edge.demo import make_demo_app

    cfg = _config(args, host=args.host, port=args.port)
    _logging(cfg)
    web.run_app(make_demo_app(cfg), host=cfg.host, port=cfg.port, access_log=None,
                print=lambda *a: print(f"tell: demo on http://{cfg.host}:{cfg.port}/register"))
    return 0


def _sig_dir(args: argparse.Namespace) -> str:
    if args.dir:
        return args.dir
    return _config(args).signatures


def cmd_sig_lint(args: argparse.Namespace) -> int:
    from signatures import lint_dir
    from signatures.schema import Level

    rules, issues, version = lint_dir(_sig_dir(args))
    for i in issues:
        print(i)
    errors = sum(1 for i in issues if i.level is Level.ERROR)
    warnings = len(issues) - errors
    print(f"{len(rules)} rules, {errors} error(s), {warnings} warning(s), set version {version}")
    return 1 if errors else 0


def cmd_sig_test(args: argparse.Namespace) -> int:
    from signatures import SignatureError, SignatureSet
    from signatures.testing import run_tests

    try:
        sigset = SignatureSet.load(_sig_dir(args))
    except SignatureError as exc:
        print(exc)
        return 1
    results = run_tests(sigset)
    width = max((len(r.rule.id) for r in results), default=10)
    failed = 0
    for r in results:
        failed += not r.passed
        if args.verbose or not r.passed:
            print(f"{'PASS' if r.passed else 'FAIL'}  {r.rule.id:<{width}}  {r.case.name}  {r.detail}")
    passed = len(results) - failed
    print(f"{len(sigset)} rules: {passed} passed, {failed} failed")
    return 1 if failed else 0


def cmd_sig_explain(args: argparse.Namespace) -> int:
    from edge.telemetry import TelemetryError, decode
    from fingerprints import extract
    from signatures import SignatureSet

    sigset = SignatureSet.load(_sig_dir(args))
    try:
        feats = extract(decode(Path(args.telemetry).read_bytes()))
    except (OSError, TelemetryError) as exc:
        print(f"tell: {args.telemetry}: {exc}", file=sys.stderr)
        return 2
    out = []
    for e in sigset.explain(feats, near=args.near):
        out.append({
            "rule": e.rule.id, "family": e.rule.family, "matched": e.matched, "status": e.rule.status.value,
            "conditions": [{"condition": r.condition.describe(), "value": r.value, "ok": r.ok} for r in e.results],
        })
    if args.json:
        print(json.dumps({"set_version": sigset.version, "rules": out}, indent=2, default=str))
        return 0
    print(f"signature set {sigset.version}: {sum(o['matched'] for o in out)} matched, {sum(not o['matched'] for o in out)} nearly matched")
    for o in out:
        print(f"{'MATCH ' if o['matched'] else 'NEAR  '} {o['rule']} [{o['family']}{', test' if o['status'] == 'test' else ''}]")
        for c in o["conditions"]:
            print(f"    {'✓' if c['ok'] else '✗'} {c['condition']}   (value: {c['value']!r})")
    return 0


def cmd_eval_humans(args: argparse.Namespace) -> int:
    from edge.engine import Engine
    from fingerprints.evaluate import run_eval_humans
    from signatures import SignatureSet

    cfg = _config(args)
    engine = Engine(cfg, SignatureSet.load(cfg.signatures))
    return run_eval_humans(args.root, lambda payload: engine.decide_payload(payload, args.action), args.json, sys.stdout)


def cmd_eval_agents(args: argparse.Namespace) -> int:
    """Detection rate over recorded agent telemetry: full decision path and behaviour alone."""
    import fnmatch

    from edge.engine import Engine
    from fingerprints.evaluate import behaviour_decide, evaluate_agents, recorded_payloads
    from signatures import SignatureSet

    cfg = _config(args)
    engine = Engine(cfg, SignatureSet.load(cfg.signatures))
    payloads = [p for p in recorded_payloads(args.root) if not any(fnmatch.fnmatch(p["sid"], g) for g in args.exclude)]
    if not payloads:
        print(f"tell: no *.msgpack recordings under {args.root}", file=sys.stderr)
        return 2
    full = evaluate_agents(payloads, lambda p: engine.decide_payload(p, args.action))
    beh = evaluate_agents(payloads, lambda p: behaviour_decide(p, args.action))
    if args.json:
        print(json.dumps({"sessions": full.sessions, "decision": full.to_json(), "behaviour_only": beh.to_json()}, indent=2))
        return 0
    print(f"agent recordings under {args.root}: {full.sessions} (excluded: {', '.join(args.exclude) or 'none'})")
    print(f"  full decision path: {full.detected}/{full.sessions} detected ({full.detection_rate:.1%}), {full.blocked} blocked")
    print(f"  behaviour alone:    {beh.detected}/{beh.sessions} detected ({beh.detection_rate:.1%})")
    for name in full.missed:
        print(f"  missed by the decision path: {name}")
    for name in beh.missed:
        print(f"  missed by behaviour alone:   {name}")
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    print(json.dumps(_config(args).masked(), indent=2))
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from edge.simulate.runner import main as simulate

    return simulate(args)


def _logging(cfg) -> None:
    """JSON log lines ([log] level and destination; docs/operations.md), secrets redacted."""
    from edge.logs import configure_from

    try:
        configure_from(cfg)
    except (OSError, ValueError) as exc:
        sys.exit(f"tell: log destination {cfg.log.destination!r}: {exc}")


def cmd_replay(args: argparse.Namespace) -> int:
    from edge.engine import Engine
    from edge.replay import ProgressBar, find_payloads, render_summary, replay
    from signatures import SignatureError, SignatureSet

    cfg = _config(args)
    try:
        sigset = SignatureSet.load(args.signatures or cfg.signatures)
    except SignatureError as exc:
        print(f"tell: signatures: {exc}", file=sys.stderr)
        return 2
    files, missing = find_payloads(args.paths)
    summary = replay(files, Engine(cfg, sigset), action=args.action, progress=ProgressBar(len(files), force=args.progress))
    summary.bad[:0] = missing
    print(json.dumps(summary.to_json(), indent=2) if args.json else render_summary(summary))
    return 1 if summary.bad else 0


def cmd_decisions(args: argparse.Namespace) -> int:
    import asyncio

    from edge.enforcement import EnforcementPolicy
    from edge.replay import parse_duration, recent_decisions, render_decisions
    from edge.store import StoreError

    cfg = _config(args)
    try:
        since = parse_duration(args.since)
    except ValueError as exc:
        print(f"tell: {exc}", file=sys.stderr)
        return 2
    try:
        rows = asyncio.run(recent_decisions(cfg.store, since, args.limit, EnforcementPolicy.from_mapping(cfg.enforcement)))
    except (StoreError, OSError, ValueError) as exc:
        print(f"tell: store {cfg.store}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"decisions": rows}, indent=2) if args.json else render_decisions(rows))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tell", description="Tell: edge detector for AI-managed accounts.")
    p.add_argument("--config", help="TOML configuration file (default: $TELL_CONFIG)")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error", "critical"),
                   help="JSON log level (overrides [log] level / TELL_LOG_LEVEL)")
    p.add_argument("--log-destination", metavar="stderr|stdout|PATH", help="where JSON log lines go (overrides [log] destination)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the sidecar service")
    s.add_argument("--host", default=None)
    s.add_argument("--port", type=int, default=None)
    s.add_argument("--workers", type=int, default=1, help="processes sharing the port (SO_REUSEPORT) and the store")
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("demo", help="run the demo community site, protected by Tell")
    s.add_argument("--host", default=None)
    s.add_argument("--port", type=int, default=8080)
    s.set_defaults(func=cmd_demo)

    sig = sub.add_parser("signatures", help="lint, test and explain signature sets").add_subparsers(dest="sig", required=True)
    s = sig.add_parser("lint", help="validate every file; report all problems")
    s.add_argument("dir", nargs="?")
    s.set_defaults(func=cmd_sig_lint)
    s = sig.add_parser("test", help="run every rule's own test cases")
    s.add_argument("dir", nargs="?")
    s.add_argument("-v", "--verbose", action="store_true", help="list passing cases too")
    s.set_defaults(func=cmd_sig_test)
    s = sig.add_parser("explain", help="which rules a recorded telemetry payload matched, and which nearly did")
    s.add_argument("telemetry", help="a .msgpack telemetry file")
    s.add_argument("--dir")
    s.add_argument("--near", type=int, default=1, help="show rules missing at most this many conditions")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_sig_explain)

    ev = sub.add_parser("eval", help="measure the decision path on recorded sessions").add_subparsers(dest="ev", required=True)
    s = ev.add_parser("humans", help="replay recorded human sessions; report how many were allowed")
    s.add_argument("root", help="a folder laid out like shared/data/human")
    s.add_argument("--json", action="store_true")
    s.add_argument("--action", default="post")
    s.set_defaults(func=cmd_eval_humans)
    s = ev.add_parser("agents", help="detection rate over recorded agent telemetry (*.msgpack, e.g. tell simulate --record)")
    s.add_argument("root", help="a folder of recorded telemetry, e.g. signatures/sets/fixtures")
    s.add_argument("--exclude", action="append", default=None,
                   help="glob on the recording's path to leave out (default: human_replay*, rec-human-*: the negative controls)")
    s.add_argument("--json", action="store_true")
    s.add_argument("--action", default="post")
    s.set_defaults(func=cmd_eval_agents)

    s = sub.add_parser("replay", help="re-run recorded telemetry (*.msgpack) through the signatures; summarise")
    s.add_argument("paths", nargs="+", metavar="FILE|DIR", help="payload files, or directories searched recursively")
    s.add_argument("--signatures", metavar="DIR", help="a candidate signature set (default: the configured one)")
    s.add_argument("--action", choices=ACTIONS_CHOICES, help="decide as this action (default: from the file name, else post)")
    s.add_argument("--json", action="store_true", help="the summary and every file's decision as JSON")
    s.add_argument("--progress", action="store_true", help="draw the progress bar even when stderr is not a terminal")
    s.set_defaults(func=cmd_replay)

    s = sub.add_parser("decisions", help="recent decisions from the configured store")
    s.add_argument("--since", default="1h", help="how far back: 30m, 1h, 2d (default 1h)")
    s.add_argument("--limit", type=int, default=50, help="at most this many, newest first (default 50)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_decisions)

    cfg = sub.add_parser("config", help="configuration").add_subparsers(dest="cfg", required=True)
    s = cfg.add_parser("show", help="print the effective configuration, secrets masked")
    s.set_defaults(func=cmd_config_show)

    from edge.simulate.runner import add_arguments as simulate_arguments

    s = sub.add_parser("simulate", help="run agent tools against a deployment; print the detection matrix")
    simulate_arguments(s)
    s.set_defaults(func=cmd_simulate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "func", None) is cmd_eval_agents and args.exclude is None:
        args.exclude = ["human_replay*", "rec-human-*"]
    # Through the environment, so that workers started by ``serve --workers`` see them too.
    if args.log_level:
        os.environ["TELL_LOG_LEVEL"] = args.log_level
    if args.log_destination:
        os.environ["TELL_LOG_DESTINATION"] = args.log_destination
    if getattr(args, "dir", None) is None and hasattr(args, "dir"):
        args.dir = None
    return args.func(args) or 0


if __name__ == "__main__":
    raise SystemExit(main())

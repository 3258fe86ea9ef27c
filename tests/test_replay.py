"""tell replay and tell decisions: recorded telemetry through the signatures; the ledger from the CLI."""
import asyncio
import io
import json
import shutil
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import DEFAULT_SIGNATURES, load_config
from edge.decision import Decision, RuleHit, Verdict
from edge.engine import Engine
from edge.replay import ProgressBar, action_for, find_payloads, parse_duration, render_decisions, replay
from edge.store.sqlite import SQLiteStore
from edge.telemetry import encode
from signatures import SignatureSet
from tests.payloads import headless_playwright, person


@pytest.fixture
def recorded(tmp_path) -> Path:
    root = tmp_path / "recorded"
    (root / "nested").mkdir(parents=True)
    (root / "person-post.msgpack").write_bytes(encode(person()))
    (root / "nested" / "bot-register.msgpack").write_bytes(encode(headless_playwright()))
    (root / "nested" / "corrupt.msgpack").write_bytes(b"\xc1not msgpack")
    (root / "notes.txt").write_text("not a payload")
    return root


@pytest.fixture(autouse=True)
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("TELL_STORE", f"sqlite:///{tmp_path}/tell.sqlite3")
    monkeypatch.setenv("TELL_SECRET", "s" * 32)
    monkeypatch.delenv("TELL_CONFIG", raising=False)


def test_replay_decides_good_files_and_reports_the_corrupt_one(recorded):
    files, missing = find_payloads([recorded])
    assert [f.name for f in files] == ["bot-register.msgpack", "corrupt.msgpack", "person-post.msgpack"] and not missing
    engine = Engine(load_config(env={}), SignatureSet.load(DEFAULT_SIGNATURES))
    done = []
    s = replay(files, engine, progress=done.append)
    assert done == [1, 2, 3]
    assert s.files == 3 and sum(s.verdicts.values()) == 2
    assert s.verdicts["block"] == 1 and s.verdicts["allow"] == 1
    assert "headless.webdriver-flag" in s.rules and s.families["headless"] == 1
    [bad] = s.bad
    assert bad.path.endswith("corrupt.msgpack") and "bad telemetry" in bad.error
    bot = dict(s.decisions)[str(recorded / "nested" / "bot-register.msgpack")]
    assert bot.action == "register"


def test_cli_replay_prints_a_summary_table(recorded, capsys):
    rc = main(["replay", str(recorded)])
    out = capsys.readouterr().out
    assert rc == 1  # a file could not be read
    assert "3 file(s), 2 decided, 1 unreadable" in out
    assert "block" in out and "headless.webdriver-flag" in out
    assert "corrupt.msgpack: bad telemetry at $" in out


def test_cli_replay_json_with_a_candidate_set(recorded, tmp_path, capsys):
    # A candidate set without the headless rules: the bot is no longer blocked on them.
    candidate = tmp_path / "candidate"
    shutil.copytree(DEFAULT_SIGNATURES, candidate, ignore=shutil.ignore_patterns("headless*"))
    rc = main(["replay", "--json", "--signatures", str(candidate), str(recorded / "nested" / "bot-register.msgpack")])
    body = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert body["files"] == 1 and body["bad_files"] == []
    assert "headless.webdriver-flag" not in body["rules"]
    assert body["set_version"] != SignatureSet.load(DEFAULT_SIGNATURES).version
    assert body["results"][0]["action"] == "register"


def test_replay_missing_path_is_reported(tmp_path, capsys):
    assert main(["replay", str(tmp_path / "nope")]) == 1
    assert "no such file or directory" in capsys.readouterr().out


def test_headers_beside_a_payload_are_used(tmp_path):
    p = tmp_path / "x-post.msgpack"
    p.write_bytes(encode(person()))
    (tmp_path / "x-post.headers.json").write_text(json.dumps({"user-agent": "python-requests/2.31"}))
    engine = Engine(load_config(env={}), SignatureSet.load(DEFAULT_SIGNATURES))
    s = replay([p], engine)
    assert any(r.startswith("network.") for r in s.rules), s.rules


@pytest.mark.parametrize("name, forced, action", [("a-register", None, "register"), ("a-comment", None, "comment"),
                                                  ("plain", None, "post"), ("a-register", "message", "message")])
def test_action_from_the_file_name(name, forced, action):
    assert action_for(Path(f"{name}.msgpack"), forced) == action


def test_progress_bar_draws_only_on_a_terminal_or_when_forced():
    quiet = io.StringIO()
    bar = ProgressBar(3, quiet)
    for i in (1, 2, 3):
        bar(i)
    assert quiet.getvalue() == ""
    loud = io.StringIO()
    bar = ProgressBar(4, loud, force=True)
    bar(4)
    assert "4/4" in loud.getvalue() and "100%" in loud.getvalue() and loud.getvalue().endswith("\n")


@pytest.mark.parametrize("text, seconds", [("90", 90), ("30s", 30), ("15m", 900), ("1h", 3600), ("2d", 172800), ("1.5h", 5400)])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1y", "-1h", "1 hour"])
def test_parse_duration_refuses_nonsense(text):
    with pytest.raises(ValueError, match="--since"):
        parse_duration(text)


def _seed(path: str, decisions):
    async def go():
        store = SQLiteStore(path)
        for d in decisions:
            await store.record(d)
        await store.close()

    asyncio.run(go())


def test_cli_decisions_lists_the_recent_window(tmp_path, capsys):
    import time

    now = time.time()
    _seed(str(tmp_path / "tell.sqlite3"), [
        Decision(Verdict.ALLOW, 0.1, "post", account_id="old", ts=now - 7200),
        Decision(Verdict.BLOCK, 0.95, "register", (RuleHit("selenium.cdc-globals", "selenium", 0.95),), account_id="new\x1b[2J", ts=now - 60),
    ])
    assert main(["decisions", "--since", "1h"]) == 0
    out = capsys.readouterr().out
    assert "selenium.cdc-globals" in out and "block" in out and "old" not in out
    assert "\x1b" not in out  # control characters in an account id never reach the terminal
    assert main(["decisions", "--since", "3h", "--limit", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["decisions"]
    assert [r["account_id"] for r in rows] == ["new\x1b[2J"]


def test_cli_decisions_refuses_a_bad_duration(capsys):
    assert main(["decisions", "--since", "soon"]) == 2
    assert "not a duration" in capsys.readouterr().err


def test_render_decisions_empty():
    assert render_decisions([]) == "no decisions in that window"

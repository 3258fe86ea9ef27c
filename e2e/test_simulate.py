"""`tell simulate` against a real `tell demo`: every agent tool through register → post → comment.

The matrix is produced by the command itself (a subprocess, as a user runs it) and read back from its
JSON. Automated agents must be challenged or blocked by their second write; the human control must
never be refused on behaviour alone. The slow agents (Xvfb, deliberate pauses, the human replay) are a
separate group, ``-m 'not simulate_heavy'`` to skip them.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from e2e.servers import ADMIN_TOKEN, tell_process
from edge.simulate import agents as registry
from edge.simulate.matrix import REFUSED, Cell, Matrix, Row
from edge.telemetry import decode

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]
ROOT = Path(__file__).resolve().parent.parent
LIGHT = ["playwright_headless", "playwright_typed", "playwright_stealth", "playwright_cjk_inserttext",
         "selenium_chromedriver", "puppeteer_stealth", "cdp_direct"]
HEAVY = ["human_replay", "playwright_headful_xvfb", "playwright_humanised", "cdp_direct_headful", "llm_agent_loop"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with tell_process("demo", tmp_path_factory.mktemp("demo")) as base:
        yield base


def simulate(base: str, agents: list[str], out: Path) -> tuple[Matrix, Path, str]:
    """Run `tell simulate` as a user would; the matrix it wrote, its recordings folder and its stdout."""
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, "-m", "edge.cli", "simulate", "--target", base, "--agents", ",".join(agents),
         "--admin-token", ADMIN_TOKEN, "--json", str(out / "matrix.json"), "--markdown", str(out / "matrix.md"),
         "--record", str(out / "fixtures"), "--agent-timeout", "150"],
        capture_output=True, text=True, timeout=400, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return Matrix.loads((out / "matrix.json").read_text()), out / "fixtures", proc.stdout


@pytest.fixture(scope="module")
def light(demo, tmp_path_factory):
    return simulate(demo, LIGHT, tmp_path_factory.mktemp("light"))


@pytest.fixture(scope="module")
def heavy(demo, tmp_path_factory):
    return simulate(demo, HEAVY, tmp_path_factory.mktemp("heavy"))


def _explain(row: Row) -> str:
    return json.dumps(row.to_json(), indent=1)


def assert_refused_by_second_write(row: Row) -> None:
    assert row.error is None, _explain(row)
    first_two = [c for c in row.cells if c.action in ("register", "post")]
    assert [c.action for c in first_two] == ["register", "post"], _explain(row)
    assert all(c.decision is not None for c in first_two), _explain(row)
    assert any(c.decision in REFUSED for c in first_two), f"{row.agent} was allowed twice:\n{_explain(row)}"


def assert_page_and_admin_api_agree(row: Row) -> None:
    for c in row.cells:
        if c.decision is not None:
            assert c.admin_decision == c.decision, _explain(row)


def assert_recorded(row: Row, fixtures: Path) -> None:
    for c in row.cells:
        if c.decision is None:
            continue
        body = fixtures / f"{row.agent}-{row.tool_version}-{c.action}.msgpack"
        assert body.exists(), f"no recording {body.name}"
        telemetry = decode(body.read_bytes())  # exactly as sent: the server's own decoder accepts it
        assert telemetry["page"] in ("/register", "/post", "/comment")
        side = json.loads(body.with_suffix(".json").read_text())
        assert (side["agent"], side["tool_version"], side["action"]) == (row.agent, row.tool_version, c.action)
        assert side["chromium"] == row.browser_version and side["chromium"]
        assert side["decision"] == c.decision and side["bytes"] == len(body.read_bytes())
        headers = json.loads((fixtures / f"{body.stem}.headers.json").read_text())
        assert headers["content-type"] == "application/msgpack" and "cookie" not in headers
        assert headers["user-agent"] == telemetry["device"]["ua"]


# The heavy group runs first when selected: the human control's post is then there for every other
# agent to comment on (an agent whose own post is refused comments on the newest post on the board).
@pytest.mark.simulate_heavy
@pytest.mark.parametrize("agent", [a for a in HEAVY if registry.info(a).automated])
def test_careful_agent_is_refused_by_its_second_write(heavy, agent):
    matrix, fixtures, _ = heavy
    row = matrix.row(agent)
    assert row is not None
    assert_refused_by_second_write(row)
    assert_page_and_admin_api_agree(row)
    assert_recorded(row, fixtures)


@pytest.mark.simulate_heavy
def test_human_control_completes_every_write_and_is_never_refused_on_behaviour_alone(heavy):
    matrix, fixtures, _ = heavy
    row = matrix.row("human_replay")
    assert row is not None and not row.automated
    assert row.error is None, _explain(row)
    assert [c.action for c in row.cells] == ["register", "post", "comment"]
    assert row.cells[0].decision is not None and row.cells[1].decision is not None, _explain(row)
    assert row.cells[2].error is None, _explain(row)  # decided, or skipped when no post was allowed
    for c in row.cells:
        if c.decision in REFUSED:
            # A refusal must name a device or tool marker the control could not hide (it is a Playwright
            # browser); a refusal with no rule family is the behaviour model flagging a person.
            named = [f for f in c.families if f != "none"]
            assert named, f"human replay refused on behaviour alone:\n{_explain(row)}"
    assert_recorded(row, fixtures)


@pytest.mark.parametrize("agent", LIGHT)
def test_automated_agent_is_refused_by_its_second_write(light, agent):
    matrix, fixtures, _ = light
    row = matrix.row(agent)
    assert row is not None
    assert_refused_by_second_write(row)
    assert_page_and_admin_api_agree(row)
    assert_recorded(row, fixtures)
    comment = row.cell("comment")  # decided, or skipped when no post exists to comment on; never an error
    assert comment is not None and comment.error is None, _explain(row)


def test_matrix_is_printed_and_written_as_markdown(light):
    matrix, fixtures, stdout = light
    assert stdout.splitlines()[0].split() == ["agent", "register", "post", "comment"]
    md = (fixtures.parent / "matrix.md").read_text()
    for agent in LIGHT:
        assert agent in stdout
        assert f"| `{agent}` |" in md
    assert matrix.signatures and matrix.actions == ["register", "post", "comment"]
    usernames = [r.username for r in matrix.rows]
    assert len(set(usernames)) == len(usernames)


def test_demo_mode_measures_comments_and_compare_reports_changes(tmp_path):
    """`--demo` starts its own demo with a post on the board, so even refused agents reach the comment write."""
    old = tmp_path / "old.json"
    m = Matrix(target="x", actions=["register", "post", "comment"],
               rows=[Row(agent="playwright_headless", stands_for="", automated=True,
                         cells=[Cell(action="comment", decision="allow", families=[])])])
    old.write_text(m.dumps())
    proc = subprocess.run(
        [sys.executable, "-m", "edge.cli", "simulate", "--demo", "--agents", "playwright_headless",
         "--json", str(tmp_path / "new.json"), "--compare", str(old)],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]  # allow -> refused is an improvement, not a regression
    row = Matrix.loads((tmp_path / "new.json").read_text()).row("playwright_headless")
    comment = row.cell("comment")
    assert comment.decision in REFUSED and comment.admin_decision == comment.decision, _explain(row)
    assert f"playwright_headless / comment: allow -> {comment.decision}" in proc.stdout
    assert "0 regression(s)" in proc.stdout


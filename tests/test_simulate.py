"""`tell simulate` without a browser: matrix rendering, --compare, selector files, the shared flow."""
from __future__ import annotations

import ast
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli import build_parser
from edge.simulate import agents as registry
from edge.simulate.agents.base import Job, Sent, clean_headers, drive, families
from edge.simulate.agents.humanlike import bezier_path, fit_path, keys_for, play_keys, synthetic_keys
from edge.simulate.matrix import SCHEMA, Cell, Matrix, Row, compare, render_changes, to_markdown, to_text
from edge.simulate.runner import report, resolve_actions, resolve_agents, username
from edge.simulate.target import DEMO, SelectorConfigError, load_selectors, parse_selectors

ROOT = Path(__file__).resolve().parent.parent
DEMO_USERNAME = re.compile(r"^[A-Za-z0-9_.\-]{1,32}$")  # edge/demo.py


def _row(agent: str, *cells: tuple[str, str | None, list[str]], automated: bool = True) -> Row:
    return Row(agent=agent, stands_for=f"{agent} as a tool", automated=automated, tool="playwright",
               tool_version="1.0", browser_version="156.0",
               cells=[Cell(action=a, decision=d, families=f, score=0.5 if d else None) for a, d, f in cells])


def _matrix(*rows: Row) -> Matrix:
    return Matrix(target="http://127.0.0.1:8080", actions=["register", "post", "comment"], rows=list(rows),
                  started="2026-01-01T00:00:00+00:00", signatures="abc123")


BLOCKED = _row("playwright_headless", ("register", "block", ["headless", "playwright"]),
               ("post", "block", ["headless", "playwright"]), ("comment", "challenge", ["playwright"]))
HUMAN = _row("human_replay", ("register", "allow", []), ("post", "allow", []), ("comment", "allow", []),
             automated=False)


# ---- matrix --------------------------------------------------------------------------------------------------

def test_matrix_json_round_trips_with_its_schema_tag():
    m = _matrix(HUMAN, BLOCKED)
    m.rows[1].cells[0].rules = ["headless.webdriver-flag"]
    data = json.loads(m.dumps())
    assert data["schema"] == SCHEMA
    back = Matrix.loads(m.dumps())
    assert back.to_json() == m.to_json()


def test_a_json_file_of_another_schema_is_refused():
    with pytest.raises(ValueError, match="tell-simulate/1"):
        Matrix.from_json({"schema": "other/2", "target": "", "actions": [], "rows": []})


def test_markdown_has_one_row_per_agent_and_names_the_control():
    md = to_markdown(_matrix(HUMAN, BLOCKED))
    assert "| agent | stands for | tool | register | post | comment |" in md
    assert "| `human_replay` *(control)* |" in md
    assert "**block** 0.50 · headless, playwright" in md
    assert "signatures `abc123`" in md
    assert "Chromium 156.0" in md


def test_markdown_escapes_pipes_and_shows_errors_and_skips():
    row = _row("selenium_chromedriver", ("register", None, []), ("post", None, []))
    row.cells[0].error = "TimeoutError: waited | gave up"
    row.cells[1].note = "skipped: no page to act on"
    md = to_markdown(_matrix(row))
    line = next(l for l in md.splitlines() if l.startswith("| `selenium_chromedriver`"))
    assert "waited \\| gave up" in line
    assert "_skipped: no page to act on_" in line
    assert line.count(" | ") == 5  # six columns, the escaped pipe did not add one


def test_an_agent_that_never_ran_is_one_error_row():
    row = Row(agent="puppeteer_stealth", stands_for="x", automated=True, error="npm packages missing")
    md = to_markdown(_matrix(row))
    assert "| error: npm packages missing | — | — |" in md
    assert "ERROR npm packages missing" in to_text(_matrix(row))


def test_markdown_calls_out_automated_agents_that_were_allowed():
    sneaky = _row("playwright_humanised", ("register", "allow", []), ("post", "challenge", ["behaviour"]))
    md = to_markdown(_matrix(HUMAN, sneaky))
    assert "Automated agents allowed at least once: `playwright_humanised`." in md
    assert "human_replay`." not in md


def test_text_table_lists_decisions_and_families():
    text = to_text(_matrix(BLOCKED))
    assert text.splitlines()[0].split() == ["agent", "register", "post", "comment"]
    assert "block [headless,playwright]" in text


# ---- compare -------------------------------------------------------------------------------------------------

def _with(row: Row, action: str, decision: str | None, fams: list[str]) -> Row:
    new = Row.from_json(json.loads(json.dumps(row.to_json())))
    cell = new.cell(action)
    cell.decision, cell.families = decision, fams
    return new


def test_identical_matrices_have_no_changes():
    assert compare(_matrix(HUMAN, BLOCKED), _matrix(HUMAN, BLOCKED)) == []
    assert render_changes([]) == "no changes\n"


def test_scores_rules_and_timings_are_not_compared():
    new = _matrix(HUMAN, Row.from_json(BLOCKED.to_json()))
    new.rows[1].cells[0].score, new.rows[1].cells[0].rules, new.rows[1].seconds = 0.99, ["x.y"], 42.0
    assert compare(_matrix(HUMAN, BLOCKED), new) == []


def test_families_are_compared_as_a_set():
    new = _with(BLOCKED, "register", "block", ["playwright", "headless"])
    assert compare(_matrix(BLOCKED), _matrix(new)) == []


@pytest.mark.parametrize(("old", "new", "regression"), [
    ("block", "allow", True),  # newly allowed: the regression
    ("challenge", "allow", True),
    (None, "allow", True),  # it used to fail before deciding; now it gets through
    ("block", "challenge", False),  # softer, but still refused
    ("allow", "block", False),  # better
    ("block", None, False),  # an error is a change, not a detection regression
])
def test_only_an_automated_agent_newly_allowed_is_a_regression(old, new, regression):
    before = _with(BLOCKED, "post", old, ["headless"] if old else [])
    after = _with(BLOCKED, "post", new, [])
    [change] = compare(_matrix(before), _matrix(after))
    assert (change.agent, change.action) == ("playwright_headless", "post")
    assert change.regression is regression


def test_the_human_control_newly_refused_is_flagged_but_not_a_regression():
    after = _with(HUMAN, "register", "challenge", ["behaviour"])
    [change] = compare(_matrix(HUMAN), _matrix(after))
    assert not change.regression and change.new_false_positive
    assert change.describe().startswith("FALSE POSITIVE human_replay / register: allow -> challenge [behaviour]")


def test_family_change_is_reported_with_old_and_new():
    after = _with(BLOCKED, "register", "block", ["headless"])
    text = render_changes(compare(_matrix(BLOCKED), _matrix(after)))
    assert "playwright_headless / register: block [headless, playwright] -> block [headless]" in text
    assert text.endswith("1 changed cell(s), 0 regression(s)\n")


def test_rows_added_or_dropped_are_changes():
    changes = compare(_matrix(HUMAN), _matrix(BLOCKED))
    assert {(c.agent, c.old is None, c.new is None) for c in changes} == {
        ("playwright_headless", True, False), ("human_replay", False, True)}
    assert any(c.regression for c in compare(_matrix(), _matrix(_with(BLOCKED, "post", "allow", []))))


def test_report_exits_1_on_a_regression_and_writes_both_files(tmp_path):
    old = _matrix(HUMAN, BLOCKED)
    new = _matrix(HUMAN, _with(BLOCKED, "comment", "allow", []))
    out = io.StringIO()
    code = report(new, old, json_out=str(tmp_path / "m.json"), markdown_out=str(tmp_path / "m.md"), out=out)
    assert code == 1
    assert "REGRESSION playwright_headless / comment: challenge [playwright] -> allow" in out.getvalue()
    assert Matrix.loads((tmp_path / "m.json").read_text()).to_json() == new.to_json()
    assert (tmp_path / "m.md").read_text().startswith("# Detection matrix")
    assert report(old, new, out=io.StringIO()) == 0  # the other way round is an improvement
    assert report(new, out=io.StringIO()) == 0  # no --compare, no verdict


# ---- selectors -----------------------------------------------------------------------------------------------

def test_no_selectors_file_means_the_demo():
    assert parse_selectors({}) == DEMO
    assert DEMO.flows["comment"].url == "{next}"
    assert [f.selector for f in DEMO.flows["register"].fields] == ["#username", "#password"]


def test_a_selectors_file_overrides_what_it_names(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text('''
[page]
decision = "meta[name=tell-decision]"
decision_attr = "content"
account_cookie = ""

[flows.register]
url = "/signup"
submit = "button[type=submit]"
fields = [{selector = "input[name=email]", text = "{username}@example.test"},
          {selector = "input[name=pw]", text = "{password}"}]

[flows.post]
fields = [{selector = "#editor", text = "{body}"}]
''')
    t = load_selectors(path)
    assert t.page.decision == "meta[name=tell-decision]" and t.page.decision_attr == "content"
    assert t.page.families_attr == "data-families"  # untouched keys keep the demo's value
    assert t.page.account_cookie == ""
    assert t.flows["register"].url == "/signup"
    assert t.flows["register"].fields[0].text == "{username}@example.test"
    assert t.flows["post"].url == "/post" and t.flows["post"].fields[0].selector == "#editor"
    assert t.flows["comment"] == DEMO.flows["comment"]
    assert type(t).from_json(json.loads(json.dumps(t.to_json()))) == t  # what the agent process receives


@pytest.mark.parametrize(("toml", "key", "hint"), [
    ('[pages]\nready = "1"', "pages", "unknown section"),
    ('[page]\ndecison = "#d"', "page.decison", "unknown key"),
    ("[page]\ndecision = 3", "page.decision", "expected a string"),
    ('[flows.message]\nurl = "/m"', "flows.message", "unknown action"),
    ('[flows.post]\nbody = "#b"', "flows.post.body", "unknown key"),
    ("[flows.post]\nfields = []", "flows.post.fields", "non-empty array"),
    ('[flows.post]\nfields = [{selector = "#b"}]', "flows.post.fields[0]", "exactly `selector` and `text`"),
    ('[flows.post]\nfields = [{selector = "#b", text = "{bdy}"}]', "flows.post.fields[0].text", "unknown placeholder"),
    ('[flows.register]\nurl = "{next}"', "flows.register.url", "no previous page"),
    ("[page\n", "-", "not valid TOML"),
])
def test_a_bad_selectors_file_names_the_key_and_says_why(tmp_path, toml, key, hint):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(SelectorConfigError) as err:
        load_selectors(path)
    assert err.value.key == key
    assert hint in str(err.value) and str(path) in str(err.value)


def test_a_missing_selectors_file_is_an_error_not_a_crash(tmp_path):
    with pytest.raises(SelectorConfigError, match="No such file"):
        load_selectors(tmp_path / "nope.toml")


# ---- command line and registry -------------------------------------------------------------------------------

def test_cli_parses_the_documented_options():
    args = build_parser().parse_args(["simulate", "--target", "http://x", "--agents", "light", "--flows", "post,register",
                                      "--json", "o.json", "--markdown", "o.md", "--compare", "old.json", "--record", "d"])
    assert args.func.__name__ == "cmd_simulate"
    assert (args.target, args.json, args.markdown, args.compare, args.record) == ("http://x", "o.json", "o.md", "old.json", "d")


def test_agent_groups_and_flows_resolve_in_a_stable_order():
    assert resolve_agents("all") == list(registry.NAMES)
    light, heavy = resolve_agents("light"), resolve_agents("heavy")
    assert sorted(light + heavy) == sorted(registry.NAMES) and not set(light) & set(heavy)
    assert {"playwright_headless", "selenium_chromedriver", "cdp_direct", "puppeteer_stealth"} <= set(light)
    assert resolve_agents("cdp_direct,playwright_headless,cdp_direct") == ["cdp_direct", "playwright_headless"]
    assert resolve_actions("comment,register") == ["register", "comment"]  # the flows build on each other
    with pytest.raises(ValueError, match="unknown agent 'firefox'"):
        resolve_agents("firefox")
    with pytest.raises(ValueError, match="unknown flow"):
        resolve_actions("register,login")


def test_usernames_fit_the_demo_and_differ_per_agent():
    names = {username(a, "24165301") for a in registry.NAMES}
    assert len(names) == len(registry.NAMES)
    assert all(DEMO_USERNAME.match(n) for n in names)


@pytest.mark.parametrize("name", registry.NAMES)
def test_every_agent_module_says_what_it_stands_for(name):
    module = registry.module(name)
    assert module.INFO.name == name
    assert module.__doc__ and len(module.__doc__) > 200
    assert callable(module.run)
    # Tools are imported inside run(): listing agents must not need them installed.
    tree = ast.parse(Path(module.__file__).read_text())
    top = {a.name.split(".")[0] for n in tree.body if isinstance(n, ast.Import) for a in n.names}
    top |= {n.module.split(".")[0] for n in tree.body if isinstance(n, ast.ImportFrom) and n.module}
    assert not top & {"playwright", "selenium", "nodriver", "playwright_stealth"}


def test_only_the_human_control_is_not_automated():
    assert [n for n in registry.NAMES if not registry.info(n).automated] == ["human_replay"]


def test_the_agent_process_answers_bad_input_with_an_error_result():
    proc = subprocess.run([sys.executable, "-m", "edge.simulate.agents", "playwright_headless"], input="{not json",
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("@@tell-simulate-result@@ ")
    assert json.loads(line.split(" ", 1)[1])["error"].startswith("JSONDecodeError")


# ---- the shared flow, with a fake tool -----------------------------------------------------------------------

class FakeDriver:
    """Plays a site: each submit lands on a page whose decision comes from ``decisions``."""

    def __init__(self, decisions: dict[str, str | Exception], next_link: dict[str, str] | None = None):
        self.decisions, self.next_link = decisions, next_link or {}
        self.log: list[tuple] = []
        self.page = ""
        self.result: dict[str, str] = {}

    def goto(self, url):
        self.log.append(("goto", url))
        self.page, self.result = url, {}
        if url.endswith("/"):
            self.result = {"a[href^='/comment?post=']": "/comment?post=7"}

    def wait_ready(self, expression):
        self.log.append(("ready",))

    def enter(self, selector, text):
        self.log.append(("enter", selector, text))

    def submit(self, selector):
        action = next(a for a in ("register", "comment", "post") if a in self.page)
        outcome = self.decisions[action]
        if isinstance(outcome, Exception):
            raise outcome
        self.result = {"#decision": outcome}
        if action in self.next_link:
            self.result["#next"] = self.next_link[action]
        self.log.append(("submit", action))

    def attribute(self, selector, name):
        value = self.result.get(selector)
        if value is None:
            return None
        return {"data-decision": value, "data-families": "headless, playwright" if value != "allow" else "—",
                "data-score": "0.9", "href": value}.get(name, value)

    def url(self):
        return self.page

    def set_cookie(self, name, value, url):
        self.log.append(("cookie", name, value))

    def take_telemetry(self):
        return [Sent(b"\x80", {"user-agent": "x"})] if self.log and self.log[-1][0] == "submit" else []


def _job(**kw) -> Job:
    return Job(agent="playwright_headless", base_url="http://site", target=DEMO,
               actions=["register", "post", "comment"], username="u-1", password="pw", **kw)


def test_flow_follows_next_and_fills_the_fields():
    d = FakeDriver({"register": "allow", "post": "allow", "comment": "allow"},
                   next_link={"register": "/post", "post": "/comment?post=3"})
    cells = drive(_job(), d)
    assert [c["decision"] for c in cells] == ["allow"] * 3
    assert ("goto", "http://site/comment?post=3") in d.log
    assert ("enter", "#username", "u-1") in d.log and ("enter", "#password", "pw") in d.log
    assert all(c["telemetry_posts"] == 1 for c in cells)
    assert cells[0]["families"] == [] and cells[0]["score"] == 0.9


def test_a_refused_registration_signs_in_through_the_cookie_and_comments_fall_back():
    d = FakeDriver({"register": "block", "post": "block", "comment": "challenge"})
    cells = drive(_job(), d)
    assert ("cookie", "demo_user", "u-1") in d.log
    assert cells[0]["families"] == ["headless", "playwright"]
    assert ("goto", "http://site/") in d.log and ("goto", "http://site/comment?post=7") in d.log
    assert cells[2]["decision"] == "challenge"


def test_a_failing_step_is_its_cell_error_and_the_flow_goes_on():
    d = FakeDriver({"register": TimeoutError("no navigation"), "post": "block", "comment": "block"},
                   next_link={"post": "/comment?post=1"})
    cells = drive(_job(), d)
    assert cells[0]["error"] == "submit: TimeoutError: no navigation" and "decision" not in cells[0]
    assert [c.get("decision") for c in cells[1:]] == ["block", "block"]


def test_with_nothing_to_comment_on_the_comment_is_skipped():
    d = FakeDriver({"register": "allow", "post": "block"})
    d.goto = lambda url: (d.log.append(("goto", url)), setattr(d, "page", url), setattr(d, "result", {}))[0]
    cells = drive(_job(), d)
    assert cells[2]["note"] == "skipped: no page to act on" and cells[2]["telemetry_posts"] == 0


def test_recorded_headers_drop_the_cookie_and_are_sorted():
    assert list(clean_headers({"User-Agent": "u", "Cookie": "tell_sid=1", "Host": "h", "Accept": "*/*",
                               "Content-Length": "9", ":method": "POST"})) == ["accept", "user-agent"]


def test_families_parsing_drops_the_empty_marker():
    assert families("playwright, headless") == ["headless", "playwright"]
    assert families("—") == [] and families(None) == [] and families("none") == ["none"]


# ---- human-like input ----------------------------------------------------------------------------------------

def test_fitted_recorded_path_keeps_its_timing_and_lands_on_target():
    recorded = [(0.0, 100.0, 100.0), (16.0, 130.0, 90.0), (33.0, 180.0, 120.0), (50.0, 200.0, 100.0)]
    fitted = fit_path(recorded, (500.0, 500.0), (500.0, 700.0))
    assert [p[0] for p in fitted] == [0.0, 16.0, 33.0, 50.0]
    assert fitted[0][1:] == (500.0, 500.0) and fitted[-1][1:] == (500.0, 700.0)


def test_bezier_path_ends_exactly_on_target_and_moves_forward_in_time():
    import random

    path = bezier_path(random.Random(1), (10.0, 10.0), (400.0, 300.0))
    assert path[-1][1:] == pytest.approx((400.0, 300.0), abs=1e-6)
    assert [p[0] for p in path] == sorted(p[0] for p in path) and len(path) >= 12


class KeyLog:
    def __init__(self):
        self.calls: list[tuple[str, str]] = []
        self.keyboard = self

    def down(self, key):
        self.calls.append(("down", key))

    def up(self, key):
        self.calls.append(("up", key))


def test_key_replay_keeps_rollover_and_wraps_capitals_in_shift():
    page = KeyLog()
    play_keys(page, [(0.0, 30.0, "H"), (20.0, 40.0, "i")], [True, False])  # i pressed before H released
    assert page.calls == [("down", "Shift"), ("down", "H"), ("down", "i"), ("up", "H"), ("up", "i"), ("up", "Shift")]


def test_the_same_key_pressed_again_before_its_release_is_typed_twice():
    """"22" with overlapping holds: the held key is released and pressed again (pressing a held key
    is an auto-repeat, which types nothing: the second character was lost)."""
    page = KeyLog()
    play_keys(page, [(0.0, 40.0, "2"), (20.0, 60.0, "2"), (50.0, 70.0, "b")])
    assert page.calls == [("down", "2"), ("up", "2"), ("down", "2"), ("down", "b"), ("up", "2"), ("up", "b")]
    assert [c for c in page.calls if c[0] == "down"].count(("down", "2")) == 2


def test_synthetic_typing_has_one_key_per_character_and_varies():
    import random

    timeline, shift = synthetic_keys(random.Random(3), "Hi there")
    assert [k for _, _, k in timeline] == [k for k, _ in keys_for("Hi there")] and shift[0] and not shift[1]
    gaps = {round(b[0] - a[0]) for a, b in zip(timeline, timeline[1:])}
    assert len(gaps) > 3 and all(up > down for down, up, _ in timeline)


# ---- admin cross-check ---------------------------------------------------------------------------------------

def test_admin_api_fills_rules_and_stands_in_when_the_page_shows_no_decision(monkeypatch):
    from edge.simulate import runner

    account = {"decisions": [  # newest first
        {"action": "post", "decision": "block", "families": ["selenium"], "rules": [{"id": "selenium.cdc-globals"}],
         "behaviour_score": 0.61234},
        {"action": "register", "decision": "challenge", "families": ["headless"], "rules": [{"id": "b"}, {"id": "a"}]},
        {"action": "register", "decision": "allow", "families": [], "rules": []},
    ]}
    monkeypatch.setattr(runner, "_get_json", lambda url, token=None, timeout=5.0: account)
    row = _row("selenium_chromedriver", ("register", "challenge", ["headless"]), ("post", None, []),
               ("comment", None, []))
    row.cells[1].error = "no decision on the page after the write (ended at http://site/post)"
    row.cells[2].error = "enter #body: TimeoutError: no such element"
    runner.cross_check(row, "http://site", "token")
    assert (row.cells[0].admin_decision, row.cells[0].rules) == ("challenge", ["a", "b"])
    assert (row.cells[1].decision, row.cells[1].families, row.cells[1].error) == ("block", ["selenium"], None)
    assert row.cells[1].behaviour_score == 0.612 and "admin API" in row.cells[1].note
    assert row.cells[2].decision is None and row.cells[2].error.startswith("enter #body")  # never written


def test_the_seeded_demo_has_a_post_to_comment_on():
    from edge.config import load_config
    from edge.demo import BOARD
    from edge.simulate.seeded_demo import WELCOME, make_seeded_app

    board = make_seeded_app(load_config(None))[BOARD]
    [post] = board.posts.values()
    assert (post.author, post.body) == WELCOME and next(board.ids) == post.id + 1

"""The behavioural score: recorded humans stay under the challenge line, scripted input goes over it.

Everything called an *agent* below is SYNTHETIC: event streams written by hand here to imitate how
automation tools emit input (Playwright/Puppeteer ``type(delay=…)``, press-then-sleep loops,
``fill``, per-character CDP ``Input.insertText``, interpolated mouse paths, teleport clicks).
They pin the score's behaviour on the mechanisms; they are not evidence of detection in the wild.
Recorded runs of the real tools live under e2e/ and signatures/sets/fixtures/.
"""
from __future__ import annotations

import io
import json
import math
import os
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.telemetry import validate
from fingerprints.behaviour import CHALLENGE_AT, behaviour_evidence, behaviour_score
from fingerprints.corpus import payload
from fingerprints.evaluate import (
    behaviour_decide,
    evaluate_agents,
    evaluate_humans,
    run_eval_humans,
)
from fingerprints.timing import timing_features

HUMAN_ROOT = Path(os.environ.get("TELL_HUMAN_CORPUS", "/work/shared/data/human"))
needs_corpus = pytest.mark.skipif(not HUMAN_ROOT.is_dir(), reason=f"human corpus not found at {HUMAN_ROOT}")

# How far above the highest-scoring recorded human every synthetic agent must be.
MARGIN = 0.2


# --- SYNTHETIC agent traces ------------------------------------------------------------------------

TEXT = "the quick brown fox jumps over the lazy dog 42"


def _cls(ch: str) -> str:
    return "s" if ch == " " else "d" if ch.isdigit() else "l" if ch.isalpha() else "o"


class SyntheticTrace:
    """Builds a time-ordered event list the way the collector would record a tool's input."""

    def __init__(self, seed: int, t0: float = 800.0):
        self.rng = random.Random(seed)
        self.t = t0
        self.events: list[list] = []
        self.value = 0
        self.pos = (self.rng.uniform(0, 1200), self.rng.uniform(0, 800))

    def add(self, *e) -> None:
        ev = list(e)
        ev[1] = round(ev[1], 1)
        self.events.append(ev)

    def wait(self, ms: float) -> None:
        self.t += ms

    def focus(self, field: int = 0) -> None:
        self.add("fo", self.t, 1, field)

    def key(self, ch: str, hold: float, field: int = 0) -> None:
        c = _cls(ch)
        self.add("kd", self.t, 1, c, 0, 0, 0)
        self.value += 1
        self.add("in", self.t + 0.1, 1, "insertText", 1, self.value, field)
        self.t += hold
        self.add("ku", self.t, 1, c, 0, 0, 0)

    def type(self, text: str, hold: Callable[[], float], gap: Callable[[], float]) -> None:
        for ch in text:
            self.key(ch, hold())
            self.t += gap()

    def insert(self, n: int, field: int = 0) -> None:
        self.value += n
        self.add("in", self.t, 1, "insertText", n, self.value, field)

    def move(self, x: float, y: float) -> None:
        px, py = self.pos
        x, y = round(x), round(y)  # MouseEvent.clientX/Y are whole pixels in Chrome
        self.add("mm", self.t, 1, x, y, x - px, y - py, x, y + 103)
        self.pos = (x, y)

    def press(self, ox: float, oy: float, w: float, h: float, hold: float) -> None:
        x, y = self.pos
        self.add("pd", self.t, 1, x, y, "mouse", 0.5, 1, 1, 1)
        self.add("md", self.t, 1, x, y, 0, round(ox, 1), round(oy, 1), w, h)
        self.t += hold
        self.add("mu", self.t, 1, x, y, 0)
        self.add("ck", self.t, 1, x, y, 1)

    def submit(self, sid: str) -> dict:
        self.t += 300
        self.add("su", self.t, 1, 1)
        return payload(f"synthetic:{sid}", "/synthetic", self.events, [[0, "text", self.value]])


SHORT = "alice_1990"  # a short field: every statistic rests on ten keys


def _typing(seed: int, sid: str, hold, gap, text: str = TEXT) -> dict:
    tr = SyntheticTrace(seed)
    tr.focus()
    tr.wait(200)
    tr.type(text, hold, gap)
    return tr.submit(sid)


def playwright_type(seed: int, delay: float, text: str = TEXT) -> dict:
    """``locator.type(text, delay=D)``: each key held D ms, the next pressed as the CDP call returns."""
    r = random.Random(seed)
    return _typing(seed, f"type-delay-{delay:g}", lambda: delay + r.uniform(0.2, 1.5), lambda: r.uniform(0.2, 1.2), text)


def press_then_sleep(seed: int, delay: float, text: str = TEXT) -> dict:
    """``press(key)`` then ``sleep(D)``: keydown and keyup back to back, a fixed pause between keys."""
    r = random.Random(seed)
    return _typing(seed, f"press-sleep-{delay:g}", lambda: r.uniform(0.1, 1.0), lambda: delay + r.uniform(0, 1.5), text)


def press_then_random_sleep(seed: int, lo: float = 30, hi: float = 120, text: str = TEXT) -> dict:
    """``press(key)`` then ``sleep(uniform(30, 120) ms)``."""
    r = random.Random(seed)
    return _typing(seed, "press-sleep-uniform", lambda: r.uniform(0.1, 1.0), lambda: r.uniform(lo, hi), text)


def press_with_random_delay(seed: int, lo: float = 30, hi: float = 120, text: str = TEXT) -> dict:
    """``press(key, delay=uniform(30, 120))`` per key: random holds, the next key at once."""
    r = random.Random(seed)
    return _typing(seed, "press-delay-uniform", lambda: r.uniform(lo, hi), lambda: r.uniform(0.2, 1.2), text)


def humanised_typing(seed: int, lo: float = 30, hi: float = 120) -> dict:
    """down, sleep U(30,120), up, sleep U(30,120): independent random holds and gaps."""
    r = random.Random(seed)
    return _typing(seed, "humanised-uniform", lambda: r.uniform(lo, hi), lambda: r.uniform(lo, hi))


def fill(seed: int) -> dict:
    """``locator.fill(text)``: focus, then one insertText of the whole value, no key events."""
    tr = SyntheticTrace(seed)
    tr.focus()
    tr.wait(random.Random(seed).uniform(2, 8))
    tr.insert(len(TEXT))
    return tr.submit("fill")


def insert_text_per_char(seed: int, n: int = 12) -> dict:
    """CDP ``Input.insertText`` once per character (how agents enter CJK text): no keys at all."""
    r = random.Random(seed)
    tr = SyntheticTrace(seed)
    tr.focus()
    for _ in range(n):
        tr.wait(r.uniform(1, 4))
        tr.insert(1)
    return tr.submit("insert-per-char")


_BOXES = [(120, 36), (200, 40), (16, 16), (300, 48)]


def _targets(r: random.Random, n: int):
    return [(r.uniform(100, 1200), r.uniform(100, 800), r.choice(_BOXES)) for _ in range(n)]


def path_clicks(seed: int, shape: str, dt: float = 16.0, jitter: float = 0.0, n: int = 4) -> dict:
    """Mouse paths to ``n`` targets, ``steps`` samples each at a constant interval ``dt`` (± jitter):
    ``linear`` (``mouse.move(x, y, steps=N)``) or ``bezier`` (a cubic curve sampled at uniform t,
    as cursor 'humanisers' do). Presses land off-centre with a human-length hold, so only the path
    itself can give the agent away."""
    r = random.Random(seed)
    tr = SyntheticTrace(seed)
    for cx, cy, (w, h) in _targets(r, n):
        ox, oy = r.uniform(-w / 3, w / 3), r.uniform(-h / 3, h / 3)
        x0, y0 = tr.pos
        x3, y3 = cx + ox, cy + oy
        k = r.randint(20, 40)
        if shape == "linear":
            pts = [(x0 + (x3 - x0) * i / k, y0 + (y3 - y0) * i / k) for i in range(1, k + 1)]
        else:
            dx, dy = x3 - x0, y3 - y0
            p1 = (x0 + dx * r.uniform(0.1, 0.4) - dy * r.uniform(-0.4, 0.4), y0 + dy * r.uniform(0.1, 0.4) + dx * r.uniform(-0.4, 0.4))
            p2 = (x0 + dx * r.uniform(0.6, 0.9) - dy * r.uniform(-0.4, 0.4), y0 + dy * r.uniform(0.6, 0.9) + dx * r.uniform(-0.4, 0.4))

            def bez(t, a, b, c, d):
                return (1 - t) ** 3 * a + 3 * (1 - t) ** 2 * t * b + 3 * (1 - t) * t ** 2 * c + t ** 3 * d

            pts = [(bez(i / k, x0, p1[0], p2[0], x3), bez(i / k, y0, p1[1], p2[1], y3)) for i in range(1, k + 1)]
        for x, y in pts:
            tr.wait(dt + (r.uniform(-jitter, jitter) if jitter else 0.0))
            tr.move(x, y)
        tr.wait(r.uniform(30, 80))
        tr.press(tr.pos[0] - cx, tr.pos[1] - cy, w, h, r.uniform(50, 110))
        tr.wait(r.uniform(400, 1500))
    return tr.submit(f"{shape}-path")


def teleport_centre_clicks(seed: int, n: int = 3) -> dict:
    """``page.click(selector)``: one mousemove straight onto the element's centre, press, release."""
    r = random.Random(seed)
    tr = SyntheticTrace(seed)
    for cx, cy, (w, h) in _targets(r, n):
        tr.wait(r.uniform(300, 2000))
        tr.move(cx, cy)
        tr.wait(r.uniform(0.5, 2))
        tr.press(tr.pos[0] - cx, tr.pos[1] - cy, w, h, r.uniform(0.5, 2))
    return tr.submit("teleport-centre")


AGENTS: dict[str, Callable[[int], dict]] = {
    "type(delay=50)": lambda s: playwright_type(s, 50),
    "type(delay=100)": lambda s: playwright_type(s, 100),
    "press + sleep 50 ms": lambda s: press_then_sleep(s, 50),
    "press + sleep 100 ms": lambda s: press_then_sleep(s, 100),
    "press + sleep U(30,120) ms": press_then_random_sleep,
    "press(delay=U(30,120))": press_with_random_delay,
    "type(delay=50), 10-key field": lambda s: playwright_type(s, 50, SHORT),
    "press + sleep 100 ms, 10-key field": lambda s: press_then_sleep(s, 100, SHORT),
    "press + sleep U(30,120) ms, 10-key field": lambda s: press_then_random_sleep(s, text=SHORT),
    "press(delay=U(30,120)), 10-key field": lambda s: press_with_random_delay(s, text=SHORT),
    "fill": fill,
    "insertText per character": insert_text_per_char,
    "linear path, 16 ms steps": lambda s: path_clicks(s, "linear"),
    "linear path, 2 ms steps": lambda s: path_clicks(s, "linear", dt=2.0),
    "linear path, 16±3 ms steps": lambda s: path_clicks(s, "linear", jitter=3.0),
    "bezier path, 16 ms steps": lambda s: path_clicks(s, "bezier"),
    "bezier path, 10±3 ms steps": lambda s: path_clicks(s, "bezier", dt=10.0, jitter=3.0),
    "teleport clicks at centre": teleport_centre_clicks,
}
SEEDS = range(8)


def agent_scores() -> dict[str, list[float]]:
    """Behaviour scores of every synthetic agent over SEEDS (used by the tests and docs/features.md)."""
    return {name: [behaviour_score(timing_features(gen(s)["events"]))[0] for s in SEEDS] for name, gen in AGENTS.items()}


# --- the recorded humans ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def humans():
    if not HUMAN_ROOT.is_dir():
        pytest.skip(f"human corpus not found at {HUMAN_ROOT}")
    # every 3rd session in corpus order: deterministic, and a third of the full corpus's time
    return evaluate_humans(str(HUMAN_ROOT), behaviour_decide, every=3)


@needs_corpus
def test_recorded_humans_stay_under_the_challenge_line(humans):
    assert humans.sessions > 1500
    assert humans.blocked == 0
    assert humans.challenged_share <= 0.01, humans.to_json()["examples"]
    assert humans.share_at_or_above(CHALLENGE_AT) <= 0.01


def _every_third_file(root: Path, into: Path) -> Path:
    """A deterministic third of the corpus, linked into ``into`` with the same layout."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and (p.name.endswith("_keystrokes.txt") or p.suffix == ".csv"))
    for p in files[::3]:
        dest = into / p.relative_to(root)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.symlink_to(p)
    return into


@needs_corpus
def test_the_same_humans_in_short_fields_and_short_pointer_episodes_stay_under(tmp_path):
    # ten-key fields and 3-second pointer windows: statistics on few samples are the risky case
    root = _every_third_file(HUMAN_ROOT, tmp_path)
    short = evaluate_humans(str(root), behaviour_decide, every=2, keys_per_field=10, mouse_window_ms=3000)
    assert short.sessions > 3000
    assert short.blocked == 0
    assert short.challenged_share <= 0.01, short.to_json()["examples"]


@needs_corpus
@pytest.mark.parametrize("name", list(AGENTS))
def test_synthetic_agent_scores_clearly_above_every_human_percentile(humans, name):
    human = humans.percentiles()  # p50, p90, p99, max
    for seed in SEEDS:
        p = AGENTS[name](seed)
        score, reasons = behaviour_score(timing_features(p["events"]))
        assert score >= CHALLENGE_AT, (name, seed, reasons)
        assert score >= human["max"] + MARGIN, (name, seed, score, human)
        assert reasons, "a score over the line must say why"


@pytest.mark.parametrize("name", list(AGENTS))
def test_synthetic_agent_payloads_are_valid_telemetry(name):
    validate(AGENTS[name](0))


def test_evaluate_agents_reports_a_detection_rate():
    payloads = [gen(s) for gen in AGENTS.values() for s in range(2)]
    rep = evaluate_agents(payloads, behaviour_decide)
    assert rep.sessions == len(payloads)
    assert rep.detection_rate == 1.0, rep.missed
    assert rep.blocked == 0  # behaviour alone never blocks
    assert rep.to_json()["detection_rate"] == 1.0


def test_recorded_agent_bodies_are_replayed_from_a_folder(tmp_path):
    from edge.telemetry import encode
    from fingerprints.evaluate import recorded_payloads

    (tmp_path / "tool").mkdir()
    for name, gen in (("fill", fill), ("typed", lambda s: playwright_type(s, 60))):
        p = gen(1)
        p["sid"] = ""
        (tmp_path / "tool" / f"{name}.msgpack").write_bytes(encode(p))
    payloads = list(recorded_payloads(tmp_path))
    assert [p["sid"] for p in payloads] == ["tool/fill", "tool/typed"]
    rep = evaluate_agents(payloads, behaviour_decide)
    assert rep.detected == 2 and rep.missed == []


FIXTURES = Path(__file__).resolve().parent.parent / "signatures" / "sets" / "fixtures"


@pytest.mark.skipif(not list(FIXTURES.glob("rec-*.msgpack")), reason="no recorded tool fixtures")
def test_recorded_tool_runs_go_over_the_line_and_recorded_humans_do_not():
    # recorded from real tools (their .json sidecars say which and how); "human" recordings replay
    # corpus people through a real input device
    from fingerprints import extract
    from fingerprints.evaluate import recorded_payloads

    tools, people = [], []
    for p in recorded_payloads(FIXTURES):
        if not p["sid"].startswith("rec-"):
            continue
        score = behaviour_score(extract(p))[0]
        (people if "human" in p["sid"] else tools).append((score, p["sid"]))
    assert all(score < CHALLENGE_AT for score, _ in people), people
    caught = [sid for score, sid in tools if score >= CHALLENGE_AT]
    assert len(caught) >= 0.9 * len(tools), sorted(tools)


@pytest.mark.xfail(strict=True, reason="known limit: independent random holds and gaps have no timing tell left")
def test_humanised_typing_with_random_holds_and_gaps_is_caught():
    assert behaviour_score(timing_features(humanised_typing(0)["events"]))[0] >= CHALLENGE_AT


# --- reasons and the shape of the score --------------------------------------------------------------

def test_reasons_name_the_feature_and_its_value():
    score, reasons = behaviour_score(timing_features(playwright_type(1, 100)["events"]))
    assert score >= 0.9
    assert any("[key_flight_ms_cv]" in r and "cv 0.0" in r for r in reasons)


def test_fill_reason_says_no_key_was_pressed():
    _, reasons = behaviour_score(timing_features(fill(1)["events"]))
    assert reasons[0].startswith("a field's whole value arrived in one insertText with no key pressed")


def test_no_events_no_score():
    assert behaviour_score({}) == (0.0, ())
    assert behaviour_score(timing_features([])) == (0.0, ())


def test_score_is_a_probability_and_reasons_are_strongest_first():
    for gen in AGENTS.values():
        f = timing_features(gen(3)["events"])
        score, _ = behaviour_score(f)
        assert 0.0 <= score <= 1.0
        strengths = [e.strength for e in behaviour_evidence(f)]
        assert strengths == sorted(strengths, reverse=True)


def test_supporting_evidence_alone_does_not_challenge():
    # one untrusted event, one click without a move, one click with detail 0: all weak on their own
    f = {"untrusted_input_events": 1, "untrusted_input_share": 0.01, "clicks_without_move": 1, "clicks_synthetic": 1}
    assert behaviour_score(f)[0] < CHALLENGE_AT


def test_cdp_mouse_tells_only_support():
    # pressure 0, a 2 ms click, moves without movementX/Y: all seen on real CDP tools, all weak alone
    f = {"pointer_pressure_zero_share": 1.0, "click_hold_ms_median": 2.0,
         "pointer_moves_without_movement": 12, "pointer_moves_without_movement_share": 1.0}
    score, reasons = behaviour_score(f)
    assert 0.25 < score < CHALLENGE_AT and len(reasons) == 3
    assert behaviour_score({**f, "pointer_teleports": 1})[0] >= CHALLENGE_AT


def test_one_teleport_alone_does_not_challenge_but_two_do():
    assert behaviour_score({"pointer_teleports": 1})[0] < CHALLENGE_AT
    assert behaviour_score({"pointer_teleports": 2})[0] >= CHALLENGE_AT


def _phone_typing(seed: int) -> dict:
    """A phone: a tap to focus, then a virtual keyboard firing keydown and keyup together."""
    r = random.Random(seed)
    tr = SyntheticTrace(seed)
    tr.add("ts", tr.t, 1, 200, 300, 12.5, 1)
    tr.wait(r.uniform(60, 120))
    tr.add("te", tr.t, 1, 200, 300)
    tr.focus()
    tr.wait(500)
    tr.type(TEXT, lambda: r.uniform(0.0, 1.0), lambda: r.lognormvariate(5.2, 0.45))
    return tr.submit("phone")


def test_virtual_keyboard_holds_on_a_touch_session_are_not_evidence():
    f = timing_features(_phone_typing(2)["events"])
    assert f["touch_input"] is True and f["key_hold_ms_median"] < 2
    assert behaviour_score(f)[0] < CHALLENGE_AT


def test_fill_on_a_touch_session_is_only_supporting():
    f = timing_features(fill(1)["events"])
    assert behaviour_score(f)[0] >= CHALLENGE_AT
    f["touch_input"] = True  # e.g. a predictive-text word inserted into an empty field
    assert behaviour_score(f)[0] < CHALLENGE_AT


def test_grammar_checker_word_replacements_are_not_per_character_typing():
    r = random.Random(5)
    events = [["fo", 10.0, 1, 0]]
    t, v = 100.0, 0
    for _ in range(6):  # a person types, then accepts six word suggestions
        for _ in range(8):
            t += round(r.lognormvariate(5.2, 0.4), 1)
            v += 1
            hold = round(r.uniform(60, 120), 1)
            events += [["kd", t, 1, "l", 0, 0, 0], ["in", t + 1, 1, "insertText", 1, v, 0], ["ku", t + hold, 1, "l", 0, 0, 0]]
        t += 2000
        v += 7
        events.append(["in", t, 1, "insertText", 7, v, 0])
    events.sort(key=lambda e: e[1])
    f = timing_features(events)
    assert f["insert_text_without_keys_events"] == 6
    assert behaviour_score(f)[0] < CHALLENGE_AT


# --- the report ------------------------------------------------------------------------------------------

def _tiny_corpus(root: Path) -> None:
    (root / "u").mkdir()
    (root / "u" / "1_keystrokes.txt").write_text(
        "PARTICIPANT_ID\tTEST_SECTION_ID\tSENTENCE\tUSER_INPUT\tKEYSTROKE_ID\tPRESS_TIME\tRELEASE_TIME\tLETTER\tKEYCODE\n"
        + "".join(f"1\t7\tabcde\tabcde\t{i}\t{1000 + 180 * i + (i * i) % 7 * 23}\t{1090 + 180 * i + (i * 5) % 11 * 6}\t\t{65 + i}\n"
                  for i in range(12)))


def test_run_eval_humans_prints_a_table_and_json(tmp_path):
    _tiny_corpus(tmp_path)
    out = io.StringIO()
    assert run_eval_humans(str(tmp_path), behaviour_decide, False, out) == 0
    text = out.getvalue()
    assert "allow" in text and "challenge" in text and "block" in text and "target" in text
    out = io.StringIO()
    assert run_eval_humans(str(tmp_path), behaviour_decide, True, out) == 0
    d = json.loads(out.getvalue())
    assert {"sessions", "allowed", "challenged", "blocked"} <= set(d)
    assert d["sessions"] == 1 and d["allowed"] == 1


def test_run_eval_humans_on_an_empty_folder_says_so(tmp_path):
    out = io.StringIO()
    assert run_eval_humans(str(tmp_path), behaviour_decide, False, out) == 2
    assert "no sessions found" in out.getvalue()


def test_report_counts_what_drove_a_challenge(tmp_path):
    _tiny_corpus(tmp_path)

    def strict(p):  # a decision path that challenges everything, naming a feature
        from edge.decision import Decision, Verdict
        return Decision(Verdict.CHALLENGE, 0.9, "post", reasons=("keys too regular [key_flight_ms_cv]",), behaviour_score=0.9)

    rep = evaluate_humans(str(tmp_path), strict)
    assert rep.challenged == 1 and not rep.meets_target
    assert rep.responsible["key_flight_ms_cv"] == 1
    assert math.isclose(rep.to_json()["challenged_share"], 1.0)

"""The benchmark harness runs end to end on tiny sizes (``python -m bench --quick``). Nothing here
looks at a timing: the figures live in bench/RESULTS.md, measured by ``python -m bench``."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # bench/ is a folder of the repository, not an installed package

from bench import run  # noqa: E402
from bench.payloads import GAP_MS, concatenate, human_recordings, sized, tool_recordings  # noqa: E402
from edge import telemetry as tm  # noqa: E402


def test_payloads_of_a_size_are_valid_telemetry_built_from_whole_recorded_streams():
    tools = tool_recordings()
    humans = human_recordings(sentences=4, windows=2)
    assert tools, "the recorded fixtures are the tool pool"
    for n in (20, 300):
        for s in sized(n, tools, humans, count=4):
            events = tm.decode(s.body)["events"]
            assert len(events) == n == s.events
    first, second = [r for r in tools if len(r.telemetry["events"]) >= 2][:2]
    a, b = first.telemetry["events"], second.telemetry["events"]
    payload, last = concatenate([first, second], len(a) + len(b))
    ev = payload["events"]
    assert last is second and len(ev) == len(a) + len(b)
    assert [e[1] for e in ev[:len(a)]] == [e[1] for e in a]  # the first stream as recorded
    assert ev[len(a)][1] == pytest.approx(a[-1][1] + GAP_MS)  # the next one after a pause
    for (x, y), (p, q) in zip(zip(b, b[1:]), zip(ev[len(a):], ev[len(a) + 1:])):
        assert q[1] - p[1] == pytest.approx(y[1] - x[1], abs=0.11)  # its own intervals unchanged
        assert q[2:] == y[2:]


def test_quick_run_writes_every_section_without_the_browser(tmp_path):
    out = tmp_path / "RESULTS.md"
    printed: list[str] = []
    code = run.main(["--quick", "--skip", "collector", "--output", str(out)], out=printed.append)
    assert code == 0, printed
    text = out.read_text(encoding="utf-8")
    for heading in ("## Machine", "## Targets", "## In-process decision", "## HTTP", "## Rule scaling", "## Store",
                    "## Profile of the hot path"):
        assert heading in text, heading
    assert "This section failed" not in text, text
    assert "--quick" in text


def test_the_suite_is_one_command():
    p = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "rules", "--output", "-"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "## Rule scaling" in p.stdout and "hits per record" in p.stdout


def test_unknown_sections_are_refused():
    with pytest.raises(SystemExit):
        run.main(["--only", "nonsense"], out=lambda _: None)

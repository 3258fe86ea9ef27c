"""`tell eval humans` and `tell eval agents` over small folders laid out like the real ones."""
import json
import shutil
from pathlib import Path

from edge.cli import main

FIXTURES = Path(__file__).resolve().parent.parent / "signatures" / "sets" / "fixtures"
HUMAN = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "human"


def test_eval_agents_counts_recordings_and_excludes_controls(tmp_path, capsys):
    for name in ("rec-human-xdotool-sapimouse-aalto-register", "playwright_headless-1.65.2-register", "playwright_humanised-1.65.2-post"):
        shutil.copy(FIXTURES / f"{name}.msgpack", tmp_path / f"{name}.msgpack")
    assert main(["eval", "agents", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sessions"] == 2  # the human control is left out by default
    assert out["decision"]["detected"] == 2
    assert out["behaviour_only"]["missed"] == ["playwright_humanised-1.65.2-post"]


def test_eval_agents_empty_folder_is_an_error(tmp_path, capsys):
    assert main(["eval", "agents", str(tmp_path)]) == 2


def test_eval_humans_on_a_slice_of_the_corpus(tmp_path, capsys):
    (tmp_path / "user1").mkdir()
    shutil.copy(sorted(HUMAN.glob("aalto-keystrokes/*_keystrokes.txt"))[0], tmp_path)
    shutil.copy(sorted(HUMAN.glob("sapimouse/user1/session_*.csv"))[0], tmp_path / "user1")
    assert main(["eval", "humans", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sessions"] > 10 and out["blocked"] == 0
    assert out["allowed"] + out["challenged"] + out["blocked"] == out["sessions"]

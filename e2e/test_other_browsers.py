"""Real people on other engines are allowed: recorded human mouse paths (SapiMouse) and key timings
(Aalto) replayed through X input (xdotool, Xvfb) into Firefox ESR (Gecko) and GNOME Web (WebKitGTK) —
each started as a person starts it, with a fresh profile and no Marionette, remote protocol or WebDriver
— register, post and comment on `tell demo`, and every write is allowed (e2e/tools/desktop.py
``human_flow``). Chromium's twin is
``e2e/test_tools.py::test_recorded_people_through_the_same_x_path_are_allowed``."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from e2e.servers import tell_process
from e2e.tools import RESULT_MARK
from e2e.tools.desktop import EPIPHANY, FIREFOX, HUMAN_DATA
from e2e.tools.run import ROOT

pytestmark = pytest.mark.e2e

# What a GPU-less Xvfb leaves in any browser's telemetry: WebGL in software (llvmpipe). Low severity,
# and a person in a VM shows it too; it alone never challenges.
ENVIRONMENT_ONLY = {"headless.software-webgl"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    with tell_process("demo", tmp_path_factory.mktemp("demo-other-browsers")) as base:
        yield base


def run_flow(browser: str, url: str, username: str, timeout: float = 110) -> dict:
    """human_flow in its own process group (its browser, dbus and Xvfb go with it)."""
    proc = subprocess.Popen([sys.executable, "-m", "e2e.tools.desktop", browser, "--url", url, "--username", username],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    line = next((ln for ln in reversed(out.splitlines()) if ln.startswith(RESULT_MARK)), None)
    assert line, f"{browser} flow printed no result (exit {proc.returncode}):\n{out[-3000:]}"
    return json.loads(line[len(RESULT_MARK):])


@pytest.mark.parametrize("browser, executable, package", [
    ("firefox", FIREFOX, "firefox-esr"),
    ("epiphany", EPIPHANY, "epiphany-browser"),
], ids=["firefox-esr", "gnome-web-webkitgtk"])
def test_a_person_in_another_browser_is_allowed_on_every_write(demo, browser, executable, package):
    if not shutil.which(executable):
        pytest.fail(f"{executable} is not installed (scripts/test installs {package})")
    if not (HUMAN_DATA / "sapimouse").is_dir():
        pytest.skip(f"recorded human data not found at {HUMAN_DATA}")
    result = run_flow(browser, demo, f"{browser}_person")
    writes = result["writes"]
    assert [w["action"] for w in writes] == ["register", "post", "comment"], result
    for w in writes:
        assert w["decision"] == "allow", w
        assert set(w["rules"]) <= ENVIRONMENT_ONLY, w

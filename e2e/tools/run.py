"""Run a tool in its own process group, bounded in time; every process it started is killed after."""
from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Callable

from e2e.tools import RESULT_MARK, ToolRun

ROOT = Path(__file__).resolve().parents[2]

# name → "module:function" (modules under e2e.tools)
TOOLS: dict[str, str] = {
    "playwright": "pw:headless",
    "playwright-typed": "pw:typed",
    "playwright-binding": "pw:binding_evaluate",
    "playwright-stealth-script": "pw:stealth_script",
    "playwright-headful-xvfb": "pw:headful_xvfb",
    "playwright-stealth": "pw:stealth_package",
    "patchright": "pw:patchright_headless",
    "patchright-headful": "pw:patchright_headful",
    "puppeteer": "puppeteer:plain",
    "puppeteer-stealth": "puppeteer:stealth",
    "selenium": "selenium_tools:chromedriver",
    "undetected-chromedriver": "selenium_tools:undetected",
    "nodriver": "cdp_tools:nodriver_run",
    "drissionpage": "cdp_tools:drission",
    "drissionpage-actions": "cdp_tools:drission_actions",
    "computer-use-xdotool": "desktop:computer_use",
    "human-xdotool": "desktop:human",
    "browser-use": "agents:browser_use",
    "playwright-mcp": "agents:playwright_mcp",
    "stagehand": "agents:stagehand",
    "skyvern": "agents:skyvern",
    "nanobrowser": "agents:nanobrowser",
    "cjk-inserttext": "agents:cjk_inserttext",
    "go-rod": "agents:go_rod",
    "cjk-ime": "agents:cjk_ime",
    "puppeteer-evaluate": "puppeteer:evaluate",
    "pydoll-headful": "unseen:pydoll_headful",
    "pydoll-headful-offset": "unseen:pydoll_headful_offset",
    "pydoll": "unseen:pydoll_headless",
    "zendriver-headful": "unseen:zendriver_headful",
    "rebrowser-playwright": "unseen:rebrowser_playwright",
    "selenium-driverless": "unseen:selenium_driverless",
    "rebrowser-puppeteer": "unseen:rebrowser_puppeteer",
    "botasaurus": "unseen:botasaurus_human",
}


def resolve(name: str) -> Callable[[str, str], ToolRun]:
    mod, fn = TOOLS[name].split(":")
    return getattr(importlib.import_module(f"e2e.tools.{mod}"), fn)


class ToolError(RuntimeError):
    pass


def run_tool(name: str, url: str, username: str, *, timeout: float = 90, log: Path | None = None) -> ToolRun:
    """Run ``name`` against ``url`` in a subprocess; raise ToolError with its output if it fails."""
    if name not in TOOLS:
        raise KeyError(name)
    proc = subprocess.Popen([sys.executable, "-m", "e2e.tools", name, "--url", url, "--username", username],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, _ = proc.communicate(timeout=10)
        raise ToolError(f"{name} timed out after {timeout:.0f} s:\n{out[-3000:]}") from None
    finally:
        _kill_group(proc)  # browsers, drivers and Xvfb the tool may have left behind
    if log is not None:
        log.write_text(out)
    line = next((ln for ln in reversed(out.splitlines()) if ln.startswith(RESULT_MARK)), None)
    if line is None:
        raise ToolError(f"{name} printed no result (exit {proc.returncode}):\n{out[-3000:]}")
    data = json.loads(line[len(RESULT_MARK):])
    if "error" in data:
        raise ToolError(f"{name}: {data['error']}\n{out[-3000:]}")
    return ToolRun(**data)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass

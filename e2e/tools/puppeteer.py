"""Puppeteer (Node): puppeteer-core, and puppeteer-extra with puppeteer-extra-plugin-stealth.

The Node packages live in ``e2e/tools/js`` (``npm ci`` there; no browser is downloaded: they drive
``/usr/bin/chromium``). ``js/drive.js`` walks the register flow; this module runs it and reads its line.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from e2e.tools import PASSWORD, ToolRun, browser_version, families

JS = Path(__file__).resolve().parent / "js"


def _drive(url: str, username: str, mode: str) -> ToolRun:
    node = shutil.which("node")
    if not node:
        raise RuntimeError("node is not installed")
    if not (JS / "node_modules" / "puppeteer-core").is_dir():
        # scripts/test installs them; a bare checkout installs them here, from the lock file.
        npm = shutil.which("npm")
        if not npm:
            raise RuntimeError(f"npm packages missing in {JS} and npm is not installed")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=JS, check=True, timeout=300,
                       capture_output=True)
    p = subprocess.run([node, "drive.js", url, username, PASSWORD, mode], cwd=JS, capture_output=True, text=True, timeout=80)
    if p.returncode != 0:
        raise RuntimeError(f"drive.js failed ({p.returncode}): {p.stderr[-2000:]}")
    d = json.loads(p.stdout.strip().splitlines()[-1])
    return ToolRun({"stealth": "puppeteer-stealth", "evaluate": "puppeteer-evaluate"}.get(mode, "puppeteer"), d["version"], browser_version(),
                   d["decision"], families(d["families"]), float(d["score"]) if d.get("score") else None)


def plain(url: str, username: str) -> ToolRun:
    return _drive(url, username, "plain")


def stealth(url: str, username: str) -> ToolRun:
    return _drive(url, username, "stealth")


def evaluate(url: str, username: str) -> ToolRun:
    """Values set from page.$eval with a dispatched input event (the common way scripts feed React forms)."""
    return _drive(url, username, "evaluate")

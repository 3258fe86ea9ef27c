"""Puppeteer with puppeteer-extra's stealth plugin (Node), headless, ``page.type`` and ``page.click``.

Stands for the most used evasion stack in Node: ``puppeteer-extra`` + ``puppeteer-extra-plugin-stealth``
on ``puppeteer-core`` (npm; no browser download — it drives ``/usr/bin/chromium``). The stealth plugin
patches ``navigator.webdriver``, the UA, plugins, languages, WebGL vendor, ``window.chrome``, iframe
``contentWindow`` and more. Puppeteer types with ``page.type`` (every key, no delay) and clicks with
``page.click`` (mouse moved straight to the centre, pressed, released).

The Node half (``edge/simulate/js/puppeteer_stealth.js``) is a small line-oriented RPC server; this side
walks the shared flow and sends it one command per step. Needs ``npm ci`` in ``edge/simulate/js``.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from edge.simulate.agents.base import CHROMIUM_ARGS, AgentInfo, Job, Outcome, Sent, clean_headers, drive, error_text

INFO = AgentInfo("puppeteer_stealth", "puppeteer-extra + stealth plugin on puppeteer-core (Node), headless, type, click",
                 "puppeteer-core")
JS_DIR = Path(__file__).resolve().parent.parent / "js"
SCRIPT = JS_DIR / "puppeteer_stealth.js"


class NodeError(RuntimeError):
    pass


class PuppeteerDriver:
    """The :class:`~edge.simulate.agents.base.Driver` calls, forwarded to the Node process."""

    def __init__(self, proc: subprocess.Popen, timeout_s: float):
        self.proc, self.timeout_s = proc, timeout_s
        self._id = 0

    def call(self, method: str, **args: Any) -> Any:
        self._id += 1
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({"id": self._id, "method": method, "args": args}) + "\n")
        self.proc.stdin.flush()
        answer: list[str] = []
        reader = threading.Thread(target=lambda: answer.append(self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(self.timeout_s * 2)
        if not answer or not answer[0]:
            raise NodeError(f"node did not answer {method} (exit code {self.proc.poll()})")
        reply = json.loads(answer[0])
        if reply.get("error"):
            raise NodeError(reply["error"])
        return reply.get("result")

    def goto(self, url: str) -> None:
        self.call("goto", url=url)

    def wait_ready(self, expression: str) -> None:
        self.call("waitReady", expression=expression)

    def enter(self, selector: str, text: str) -> None:
        self.call("enter", selector=selector, text=text)

    def submit(self, selector: str) -> None:
        self.call("submit", selector=selector)

    def attribute(self, selector: str, name: str) -> str | None:
        return self.call("attribute", selector=selector, name=name)

    def url(self) -> str:
        return self.call("url")

    def set_cookie(self, name: str, value: str, url: str) -> None:
        self.call("setCookie", name=name, value=value, url=url)

    def take_telemetry(self) -> list[Sent]:
        import base64

        return [Sent(base64.b64decode(s["body"]), clean_headers(s["headers"])) for s in self.call("takeTelemetry")]


def run(job: Job) -> Outcome:
    out = Outcome()
    node = shutil.which("node")
    if node is None:
        out.error = "node is not installed"
        return out
    if not (JS_DIR / "node_modules" / "puppeteer-extra-plugin-stealth").is_dir():
        out.error = f"npm packages missing: run `npm ci` in {JS_DIR}"
        return out
    proc = subprocess.Popen([node, str(SCRIPT)], cwd=JS_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=None, text=True, bufsize=1)
    try:
        driver = PuppeteerDriver(proc, job.step_timeout_s)
        versions = driver.call("launch", executablePath=job.chromium, args=list(CHROMIUM_ARGS),
                               stepTimeoutS=job.step_timeout_s)
        out.tool_version = versions["toolVersion"]
        out.browser_version = versions["browserVersion"]
        out.detail = f"puppeteer-extra {versions['extraVersion']}, puppeteer-extra-plugin-stealth {versions['stealthVersion']}"
        out.cells = drive(job, driver)
        driver.call("close")
    except Exception as exc:  # noqa: BLE001 — reported as the row's error
        out.error = error_text(exc)
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
    return out

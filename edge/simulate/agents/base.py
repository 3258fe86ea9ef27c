"""What every agent shares: the job it is given, the flow it walks, and the result it hands back.

An agent is a module with an ``INFO`` (:class:`AgentInfo`) and a ``run(job) -> Outcome``. It runs in a
process of its own (``python -m edge.simulate.agents NAME``, the job as JSON on stdin), so a hung or
crashing tool costs one row of the matrix, never the run.

The flow is the same for every tool (:func:`drive`): for each action, open the form, wait for the
collector, enter every field the tool's own way, submit, and read the decision the page shows. Only the
:class:`Driver` differs — how a tool navigates, types, clicks and sees the telemetry POST go out.
"""
from __future__ import annotations

import base64
import os
import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol
from urllib.parse import urljoin

from edge.simulate.target import Target

CHROMIUM = os.environ.get("TELL_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TELL_CHROMEDRIVER", "/usr/bin/chromedriver")
# Debian's Chromium as root needs --no-sandbox; the rest keep it from calling home during a run.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
TELEMETRY_PATH = "/edge/telemetry"
# Per-run or per-connection noise, and the session cookie: not what a fixture should carry.
DROPPED_HEADERS = frozenset({"cookie", "host", "content-length", "connection"})
NO_DECISION_ON_PAGE = "no decision on the page after the write"
RESULT_MARK = "@@tell-simulate-result@@ "
"""Prefix of the agent process's result line on stdout (tools may print there too)."""

BODIES = {
    "post": "Lovely light by the river this morning",
    "comment": "Thanks for sharing, looks lovely",
}


@dataclass(frozen=True, slots=True)
class AgentInfo:
    name: str
    stands_for: str  # the real tool (and how it is used) this agent imitates
    tool: str  # the package whose version labels the recording
    automated: bool = True  # False for the human control
    heavy: bool = False  # headful under Xvfb or slow by design (deliberate pauses)


@dataclass(slots=True)
class Job:
    agent: str
    base_url: str
    target: Target
    actions: list[str]
    username: str
    password: str
    bodies: dict[str, str] = field(default_factory=lambda: dict(BODIES))
    step_timeout_s: float = 20.0
    chromium: str = CHROMIUM
    chromedriver: str = CHROMEDRIVER
    human_data: str = ""
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["target"] = self.target.to_json()
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Job":
        return cls(**{**d, "target": Target.from_json(d["target"])})


@dataclass(slots=True)
class Outcome:
    tool_version: str = ""
    browser_version: str = ""
    detail: str = ""
    error: str | None = None
    cells: list[dict[str, Any]] = field(default_factory=list)  # Cell fields + "telemetry": [Sent.to_json()]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Driver(Protocol):
    """One tool's hands on one page."""

    def goto(self, url: str) -> None: ...
    def wait_ready(self, expression: str) -> None: ...
    def enter(self, selector: str, text: str) -> None: ...
    def submit(self, selector: str) -> None:
        """Press the submit control the tool's way and return once the next document has loaded."""
    def attribute(self, selector: str, name: str) -> str | None:
        """The attribute of the first match, or None when nothing matches."""
    def url(self) -> str: ...
    def set_cookie(self, name: str, value: str, url: str) -> None: ...
    def take_telemetry(self) -> list["Sent"]:
        """The telemetry POSTs the page sent since the last call: bodies exactly as sent, and headers."""


@dataclass(frozen=True, slots=True)
class Sent:
    """One telemetry POST as it left the browser."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)  # as the server received them, minus DROPPED_HEADERS

    def to_json(self) -> dict[str, Any]:
        return {"body": base64.b64encode(self.body).decode(), "headers": self.headers}


def clean_headers(headers: dict[str, Any] | None) -> dict[str, str]:
    """Lower-cased names, sorted, without the cookie, host and length (see :data:`DROPPED_HEADERS`)."""
    out = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
    return {k: out[k] for k in sorted(out) if k not in DROPPED_HEADERS and not k.startswith(":")}


def error_text(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:300]}"


def families(raw: str | None) -> list[str]:
    """``"headless, playwright"`` → ``["headless", "playwright"]``; the page's "—" means none."""
    return sorted({f.strip() for f in (raw or "").split(",") if f.strip() and f.strip() != "—"})


def drive(job: Job, driver: Driver) -> list[dict[str, Any]]:
    """Walk ``job.actions`` in order; one cell per action. A failed step fails its cell, not the run."""
    page = job.target.page
    cells: list[dict[str, Any]] = []
    next_href: str | None = None
    for action in job.actions:
        flow = job.target.flows[action]
        cell: dict[str, Any] = {"action": action}
        started = time.monotonic()
        step = "open"
        try:
            url = flow.url
            if "{next}" in url:
                if next_href:
                    url = url.replace("{next}", next_href)
                elif flow.fallback_url:
                    driver.goto(urljoin(job.base_url, flow.fallback_url))
                    link = driver.attribute(flow.fallback_link, "href") if flow.fallback_link else None
                    if not link:
                        cell["note"] = "skipped: no page to act on"
                        continue
                    url = urljoin(driver.url(), link)
                else:
                    cell["note"] = "skipped: no link to follow"
                    continue
            next_href = None
            driver.goto(urljoin(job.base_url, url))
            step = "wait for the collector"
            driver.wait_ready(page.ready)
            values = {"username": job.username, "password": job.password, "body": job.bodies.get(action, ""),
                      "next": ""}
            for f in flow.fields:
                step = f"enter {f.selector}"
                driver.enter(f.selector, f.text.format(**values))
            step = "submit"
            driver.submit(flow.submit)
            step = "read the decision"
            decision = driver.attribute(page.decision, page.decision_attr)
            if decision is None:
                cell["error"] = f"{NO_DECISION_ON_PAGE} (ended at {driver.url()})"
            else:
                cell["decision"] = decision.strip().lower()
                cell["families"] = families(driver.attribute(page.decision, page.families_attr))
                score = driver.attribute(page.decision, page.score_attr)
                try:
                    cell["score"] = float(score) if score is not None else None
                except ValueError:
                    cell["score"] = None
            href = driver.attribute(page.next, "href") if page.next else None
            next_href = urljoin(driver.url(), href) if href else None
            if action == "register" and page.account_cookie and cell.get("decision") in ("challenge", "block"):
                # The refused registration created no account; carry on as that account (see target.py).
                driver.set_cookie(page.account_cookie, job.username, job.base_url)
                cell["note"] = f"later writes signed in through the {page.account_cookie} cookie"
        except Exception as exc:  # noqa: BLE001 — a broken step is a finding, recorded in its cell
            cell["error"] = f"{step}: {error_text(exc)}"
            if os.environ.get("TELL_SIMULATE_DEBUG"):
                traceback.print_exc()
        finally:
            try:
                cell["telemetry"] = [s.to_json() for s in driver.take_telemetry()]
            except Exception:  # noqa: BLE001
                cell["telemetry"] = []
            cell["telemetry_posts"] = len(cell["telemetry"])
            cell["seconds"] = round(time.monotonic() - started, 2)
            cells.append(cell)
    return cells

"""Selenium (PyPI) through Debian's chromedriver: headless, ``send_keys`` and ``click``.

Stands for the classic Selenium script and the agent frameworks built on it: ``webdriver.Chrome`` with
``--headless=new``, ``element.send_keys(text)`` (chromedriver focuses the element and dispatches each
key) and ``element.click()``. chromedriver leaves its ``cdc_…`` globals in the page and
``navigator.webdriver`` is true.

Telemetry is read from chromedriver's performance log (``goog:loggingPrefs``), which carries the DevTools
``Network.requestWillBeSent`` events with the POST body (``postDataEntries``) — nothing is injected
into the page to capture it.
"""
from __future__ import annotations

import base64
import json

from edge.simulate.agents.base import CHROMIUM_ARGS, TELEMETRY_PATH, AgentInfo, Job, Outcome, Sent, clean_headers, \
    drive, error_text

INFO = AgentInfo("selenium_chromedriver", "Selenium (Python) + chromedriver, headless, send_keys, click", "selenium")


_GONE = "does not belong to the document"


class SeleniumDriver:
    def __init__(self, driver, timeout_s: float):
        self.d, self.timeout_s = driver, timeout_s

    def _wait(self, predicate, what: str):
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.d, self.timeout_s, poll_frequency=0.1).until(predicate)
        except TimeoutException:
            raise TimeoutError(f"timed out after {self.timeout_s:.0f} s waiting for {what}") from None

    def goto(self, url: str) -> None:
        self.d.get(url)

    def wait_ready(self, expression: str) -> None:
        self._wait(lambda d: d.execute_script(f"return !!({expression})"), expression)

    def enter(self, selector: str, text: str) -> None:
        from selenium.webdriver.common.by import By

        self._wait(lambda d: d.find_element(By.CSS_SELECTOR, selector).is_displayed(), selector)
        self.d.find_element(By.CSS_SELECTOR, selector).send_keys(text)

    def submit(self, selector: str) -> None:
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.common.by import By

        old = self.d.find_element(By.TAG_NAME, "html")
        try:
            self.d.find_element(By.CSS_SELECTOR, selector).click()
        except WebDriverException as exc:
            # The form navigates while chromedriver is still looking at the clicked node; the click
            # itself went through. Anything else is a real failure.
            if _GONE not in str(exc):
                raise

        def old_page_gone(_driver) -> bool:
            try:
                old.tag_name
            except WebDriverException:  # stale, or chromedriver's "does not belong to the document"
                return True
            return False

        self._wait(old_page_gone, "the next page")
        self._wait(lambda d: d.execute_script("return document.readyState") == "complete", "the page to load")

    def attribute(self, selector: str, name: str) -> str | None:
        from selenium.webdriver.common.by import By

        found = self.d.find_elements(By.CSS_SELECTOR, selector)
        return found[0].get_dom_attribute(name) if found else None

    def url(self) -> str:
        return self.d.current_url

    def set_cookie(self, name: str, value: str, url: str) -> None:
        self.d.add_cookie({"name": name, "value": value, "path": "/", "httpOnly": True, "sameSite": "Lax"})

    def take_telemetry(self) -> list[Sent]:
        bodies: dict[str, bytes] = {}
        headers: dict[str, dict] = {}
        for entry in self.d.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            params = msg.get("params", {})
            if msg.get("method") == "Network.requestWillBeSentExtraInfo":
                headers[params.get("requestId", "")] = params.get("headers", {})  # the raw headers sent
                continue
            if msg.get("method") != "Network.requestWillBeSent":
                continue
            req = params["request"]
            if req.get("method") != "POST" or not req.get("url", "").split("?")[0].endswith(TELEMETRY_PATH):
                continue
            headers.setdefault(params["requestId"], req.get("headers", {}))
            bodies[params["requestId"]] = _body(req)
        return [Sent(body, clean_headers(headers.get(rid))) for rid, body in bodies.items()]


def _body(req: dict) -> bytes:
    entries = req.get("postDataEntries") or []
    if entries:
        return b"".join(base64.b64decode(e.get("bytes", "")) for e in entries)
    return req.get("postData", "").encode("latin-1", "replace")


def run(job: Job) -> Outcome:
    from importlib.metadata import version

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    out = Outcome(tool_version=version("selenium"))
    options = webdriver.ChromeOptions()
    options.binary_location = job.chromium
    for arg in ["--headless=new", *CHROMIUM_ARGS]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = None
    try:
        driver = webdriver.Chrome(options=options, service=Service(job.chromedriver))
        driver.set_page_load_timeout(job.step_timeout_s)
        out.browser_version = driver.capabilities.get("browserVersion", "")
        out.detail = "chromedriver " + driver.capabilities.get("chrome", {}).get("chromedriverVersion", "?").split(" ")[0]
        out.cells = drive(job, SeleniumDriver(driver, job.step_timeout_s))
    except Exception as exc:  # noqa: BLE001 — reported as the row's error
        out.error = error_text(exc)
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:  # noqa: BLE001 — the runner kills the process group anyway
                pass
    return out

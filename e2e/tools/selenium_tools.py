"""Selenium WebDriver with Debian's chromedriver, and undetected-chromedriver on a patched copy of it.

Both use WebDriver's idiom: ``element.send_keys`` (chromedriver dispatches a key per character) and
``element.click`` (chromedriver moves to the element's centre and presses). Headless, so they run with
no display.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

from e2e.tools import CHROMEDRIVER, CHROMIUM, CHROMIUM_ARGS, PASSWORD, ToolRun, browser_version, families


def register(driver, url: str, username: str) -> ToolRun:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url + "/register")
    WebDriverWait(driver, 20).until(lambda d: d.execute_script("return !!(window.Tell && window.Tell.v)"))
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    before = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, "submit").click()
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "decision") and d.find_element(By.TAG_NAME, "html") != before)
    el = driver.find_element(By.ID, "decision")
    score = el.get_attribute("data-score")
    return ToolRun("", "", browser_version(), el.get_attribute("data-decision"), families(el.get_attribute("data-families")),
                   float(score) if score else None)


def chromedriver(url: str, username: str) -> ToolRun:
    """Selenium 4 with /usr/bin/chromedriver, headless (--headless=new)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in CHROMIUM_ARGS + ["--headless=new"]:
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        result = register(driver, url, username)
    finally:
        driver.quit()
    result.tool, result.version = "selenium", version("selenium")
    return result


def undetected(url: str, username: str) -> ToolRun:
    """undetected-chromedriver, headless, on a copy of Debian's chromedriver (uc patches the binary in
    place, so it never gets the system one). No network: the driver path and version are given."""
    import undetected_chromedriver as uc

    with tempfile.TemporaryDirectory(prefix="tell-uc-") as tmp:
        exe = Path(tmp) / "chromedriver"
        shutil.copy2(CHROMEDRIVER, exe)
        opts = uc.ChromeOptions()
        for a in CHROMIUM_ARGS[1:]:
            opts.add_argument(a)
        driver = uc.Chrome(options=opts, driver_executable_path=str(exe), browser_executable_path=CHROMIUM,
                           version_main=int(browser_version().split(".")[0]), headless=True, no_sandbox=True,
                           user_data_dir=str(Path(tmp) / "profile"))
        try:
            result = register(driver, url, username)
        finally:
            driver.quit()
            time.sleep(0.2)
    result.tool, result.version = "undetected-chromedriver", version("undetected-chromedriver")
    return result

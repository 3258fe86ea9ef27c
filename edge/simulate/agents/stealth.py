"""The hand-written stealth patches most Playwright stealth guides share, as one init script.

Used by ``playwright_stealth`` (together with the ``playwright-stealth`` package when it is installed)
and by the ``human_replay`` control, whose point is to be judged on behaviour, not device markers.
Each patch is the textbook version, not a hardened one: a getter replaced in JavaScript, which a
``toString`` or descriptor check can see (the collector's ``lies`` probe).
"""
from __future__ import annotations

import re

INIT_SCRIPT = r"""
(() => {
  const proto = Object.getPrototypeOf(navigator);
  // navigator.webdriver: the patch every guide starts with.
  try { delete proto.webdriver; } catch (e) {}
  Object.defineProperty(proto, 'webdriver', { get: () => false, configurable: true, enumerable: true });
  // Languages and a desktop Chrome's five PDF plugins.
  Object.defineProperty(proto, 'languages', { get: () => ['en-US', 'en'], configurable: true, enumerable: true });
  const names = ['PDF Viewer', 'Chrome PDF Viewer', 'Chromium PDF Viewer', 'Microsoft Edge PDF Viewer', 'WebKit built-in PDF'];
  const plugins = names.map((name) => ({ name, filename: 'internal-pdf-viewer', description: 'Portable Document Format', length: 2 }));
  plugins.item = (i) => plugins[i] || null;
  plugins.namedItem = (n) => plugins.find((p) => p.name === n) || null;
  plugins.refresh = () => {};
  Object.defineProperty(proto, 'plugins', { get: () => plugins, configurable: true, enumerable: true });
  // window.chrome as a branded Chrome has it.
  if (!window.chrome) window.chrome = {};
  if (!window.chrome.runtime) window.chrome.runtime = {};
  if (!window.chrome.app) window.chrome.app = { isInstalled: false };
  if (!window.chrome.csi) window.chrome.csi = () => ({});
  if (!window.chrome.loadTimes) window.chrome.loadTimes = () => ({});
  // Notifications: headless answers "denied" to the query while Notification.permission says "default".
  const query = navigator.permissions && navigator.permissions.query;
  if (query) {
    navigator.permissions.query = (p) => (p && p.name === 'notifications')
      ? Promise.resolve({ state: Notification.permission === 'default' ? 'prompt' : Notification.permission })
      : query.call(navigator.permissions, p);
  }
})();
"""


def user_agent(browser_version: str, platform: str = "X11; Linux x86_64") -> str:
    """A desktop Chrome UA for this Chromium's major version, without "Headless" in it."""
    major = re.match(r"\d+", browser_version or "")
    return (f"Mozilla/5.0 ({platform}) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/{major.group(0) if major else '120'}.0.0.0 Safari/537.36")

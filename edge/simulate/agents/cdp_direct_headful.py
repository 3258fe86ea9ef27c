"""nodriver as its README runs it: headful (here on Xvfb), its own CDP connection, ``send_keys`` and ``click``.

Stands for the same CDP-direct family as ``cdp_direct`` (nodriver, DrissionPage, zendriver) in the
configuration their users are told to prefer: a real window, so no "HeadlessChrome" in the UA and no
headless device signals. nodriver already leaves ``--enable-automation`` off, so ``navigator.webdriver``
is false. Input is nodriver's idiom, unchanged: ``send_keys`` (JS ``focus()``, then CDP ``char`` key
events: text with no keydown or keyup) and ``click`` (a JavaScript ``el.click()``: no mouse events).
What is left for Tell is mostly behaviour.
"""
from __future__ import annotations

import os

from edge.simulate.agents import cdp_direct
from edge.simulate.agents.base import AgentInfo, Job, Outcome
from edge.simulate.agents.xvfb import virtual_display

INFO = AgentInfo("cdp_direct_headful", "nodriver (CDP-direct), headful on Xvfb as its README runs it, send_keys, click",
                 "nodriver", heavy=True)


def run(job: Job) -> Outcome:
    with virtual_display() as display:
        os.environ["DISPLAY"] = display  # this process is the agent's own: the browser inherits it
        return cdp_direct.run(job, headless=False)

"""Chinese text entered through CDP ``Input.insertText``, one character at a time, with no key events.

Stands for the agents written for Chinese platforms (RedNote/Xiaohongshu, Weibo): IME input cannot be
typed with ``keyboard.type``, so they click the field and send each character with the DevTools
protocol's ``Input.insertText`` (Playwright's ``keyboard.insert_text`` is the same call) at a steady pace.
A person typing Chinese goes through an IME: composition events, ``Process`` keys, candidate picks.
Here every character arrives as a bare ``insertText`` input, no ``keydown``, no composition.
The username and password stay ASCII (the demo accepts nothing else) but arrive the same way.
"""
from __future__ import annotations

import time

from edge.simulate.agents.base import AgentInfo, Job, Outcome
from edge.simulate.agents.pw import PlaywrightAgent

INFO = AgentInfo("playwright_cjk_inserttext",
                 "CDP Input.insertText per character (Chinese text, no key events), headless Playwright",
                 "playwright")
BODIES = {"post": "今天早上沿着河边散步，阳光特别好", "comment": "谢谢分享，这个地方看起来很不错"}
PACE_S = 0.08


class InsertTextAgent(PlaywrightAgent):
    def prepare(self, context, page) -> None:
        self.cdp = context.new_cdp_session(page)

    def enter(self, page, selector: str, text: str) -> None:
        page.click(selector)
        for ch in text:
            self.cdp.send("Input.insertText", {"text": ch})
            time.sleep(PACE_S)


def run(job: Job) -> Outcome:
    job.bodies.update(BODIES)
    return InsertTextAgent().run(job)

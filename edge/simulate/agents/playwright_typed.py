"""Playwright typing key by key with a fixed delay: ``page.click`` then ``keyboard.type(text, delay=60)``.

Stands for the common first step past ``fill``: scripts (and agent frameworks' "type" actions) that
send real key events so that sites listening for keys see them — but with a metronome's rhythm, every
key held for the same near-zero time and spaced by exactly the same delay.
"""
from __future__ import annotations

from edge.simulate.agents.base import AgentInfo, Job, Outcome
from edge.simulate.agents.pw import PlaywrightAgent

INFO = AgentInfo("playwright_typed", "Playwright (Python), headless, keyboard.type with a fixed 60 ms delay",
                 "playwright")
DELAY_MS = 60


class TypedAgent(PlaywrightAgent):
    def enter(self, page, selector: str, text: str) -> None:
        page.click(selector)
        page.keyboard.type(text, delay=DELAY_MS)


def run(job: Job) -> Outcome:
    return TypedAgent().run(job)

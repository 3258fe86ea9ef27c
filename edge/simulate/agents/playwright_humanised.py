"""The best a careful bot does: Bézier mouse paths with jitter and randomised typing, headless Playwright.

Stands for the "human-like" layers people put on Playwright (ghost-cursor style paths, "humanize"
typing helpers, the input modules of agent frameworks that try not to be noticed): every click is a
curved, eased mouse path to a random point inside the target, a pause, a press held for a random time;
every character a key pressed and released with log-normal hold and gap times. Only ``page.mouse`` and
``page.keyboard`` are used — no ``fill``, no ``click``, so none of Playwright's action machinery runs in
the page. The device is left as it is: it shows what behaviour alone buys a bot.
"""
from __future__ import annotations

import random
import time

from edge.simulate.agents.base import AgentInfo, Job, Outcome
from edge.simulate.agents.humanlike import Pointer, bezier_path, play_keys, play_path, random_point_in, synthetic_keys
from edge.simulate.agents.pw import PlaywrightAgent

INFO = AgentInfo("playwright_humanised",
                 "Playwright (Python), headless, Bézier mouse paths with jitter, randomised key timing",
                 "playwright", heavy=True)


class HumanisedAgent(PlaywrightAgent):
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.pointer = Pointer(self.rng.uniform(200, 900), self.rng.uniform(150, 500))

    def context_options(self, job: Job, browser) -> dict:
        return {"viewport": {"width": 1366, "height": 768}}

    def _move_and_press(self, page, selector: str) -> None:
        box = page.locator(selector).bounding_box()
        if box is None:
            raise RuntimeError(f"{selector} has no box (not visible)")
        end = random_point_in(self.rng, box)
        path = bezier_path(self.rng, (self.pointer.x, self.pointer.y), end)
        pause = self.rng.uniform(80, 260)
        hold = self.rng.uniform(60, 140)
        play_path(page, path, path[-1][0] + pause, path[-1][0] + pause + hold)
        self.pointer = Pointer(*end)

    def enter(self, page, selector: str, text: str) -> None:
        self._move_and_press(page, selector)
        time.sleep(self.rng.uniform(0.2, 0.5))
        timeline, shift = synthetic_keys(self.rng, text)
        play_keys(page, timeline, shift)
        time.sleep(self.rng.uniform(0.2, 0.6))

    def click(self, page, selector: str) -> None:
        self._move_and_press(page, selector)


def run(job: Job) -> Outcome:
    return HumanisedAgent(job.seed).run(job)

"""An LLM browser agent's action loop, as browser-use runs it (no model: the plan is fixed).

Stands for browser-use and the agents like it (Stagehand, Skyvern, Playwright-MCP-driven assistants):
every step the agent **observes** the page — walks the DOM for interactive elements and draws numbered
highlight boxes over them in ``#playwright-highlight-container``, marking each element with a
``data-browser-use-highlight`` index, as browser-use's ``buildDomTree.js`` does — then **thinks**
(the model's latency: about a second here), then **acts** on one element by index: a click at the
centre of its box (``mouse.click``), or for an input, that click and then ``keyboard.type`` at
browser-use's 5 ms delay. The highlights stay on the page while it acts. Headless Playwright.
"""
from __future__ import annotations

import time

from edge.simulate.agents.base import AgentInfo, Job, Outcome
from edge.simulate.agents.pw import PlaywrightAgent

INFO = AgentInfo("llm_agent_loop",
                 "LLM agent loop like browser-use: DOM observe, numbered highlights, ~1 s thinking, act by index",
                 "playwright", heavy=True)
THINK_S = 1.0
TYPE_DELAY_MS = 5

# Modelled on browser-use's buildDomTree.js (highlightElement): one fixed, pointer-transparent container,
# a bordered box and an index label per interactive element, and the index on the element itself.
OBSERVE_JS = r"""
() => {
  const old = document.getElementById('playwright-highlight-container');
  if (old) old.remove();
  document.querySelectorAll('[data-browser-use-highlight]').forEach((e) => e.removeAttribute('data-browser-use-highlight'));
  const container = document.createElement('div');
  container.id = 'playwright-highlight-container';
  Object.assign(container.style, { position: 'fixed', pointerEvents: 'none', top: '0', left: '0',
                                   width: '100%', height: '100%', zIndex: '2147483647' });
  document.body.appendChild(container);
  const colors = ['#FF0000', '#00FF00', '#0000FF', '#FFA500', '#800080', '#008080'];
  const found = [];
  document.querySelectorAll('a[href], button, input, textarea, select, [role=button], [contenteditable=true]')
    .forEach((el) => {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0 || (el.type === 'hidden')) return;
      const index = found.length;
      el.setAttribute('data-browser-use-highlight', String(index));
      const color = colors[index % colors.length];
      const box = document.createElement('div');
      Object.assign(box.style, { position: 'fixed', border: `2px solid ${color}`, backgroundColor: color + '1A',
                                 top: r.top + 'px', left: r.left + 'px', width: r.width + 'px', height: r.height + 'px',
                                 boxSizing: 'border-box' });
      const label = document.createElement('div');
      label.textContent = String(index);
      Object.assign(label.style, { position: 'fixed', background: color, color: 'white', padding: '1px 4px',
                                   borderRadius: '4px', fontSize: '12px', top: (r.top + 2) + 'px',
                                   left: (r.left + r.width - 20) + 'px' });
      container.appendChild(box);
      container.appendChild(label);
      found.push({ index, tag: el.tagName.toLowerCase(), id: el.id || '', x: r.left + r.width / 2, y: r.top + r.height / 2 });
    });
  return found;
}
"""


class AgentLoop(PlaywrightAgent):
    def _step(self, page, selector: str) -> tuple[float, float]:
        """Observe, think, and pick the element the (scripted) model chose: its centre."""
        elements = page.evaluate(OBSERVE_JS)
        index = page.eval_on_selector(selector, "(el) => el.getAttribute('data-browser-use-highlight')")
        time.sleep(THINK_S)
        chosen = next((e for e in elements if str(e["index"]) == index), None)
        if chosen is None:
            raise RuntimeError(f"{selector} was not among the {len(elements)} highlighted elements")
        return chosen["x"], chosen["y"]

    def enter(self, page, selector: str, text: str) -> None:
        x, y = self._step(page, selector)  # input_text(index, text): click, then type
        page.mouse.click(x, y)
        page.keyboard.type(text, delay=TYPE_DELAY_MS)

    def click(self, page, selector: str) -> None:
        x, y = self._step(page, selector)  # click_element(index)
        page.mouse.click(x, y)


def run(job: Job) -> Outcome:
    return AgentLoop().run(job)

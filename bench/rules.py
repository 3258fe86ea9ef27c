"""Rule scaling: does matching stay cheap as a signature set grows from 50 to 5,000 rules?

Rules are generated in the shapes the shipped sets use (signatures/sets/*.yml), written as YAML files
and loaded through ``SignatureSet.load`` (lint included), so they are compiled and indexed exactly
like shipped rules:

* ``eq`` on a string feature (viewport, screen, window size, WebGL renderer and vendor, browser and OS
  family, platform, language, time zone), often with a boolean or numeric second condition;
* two numeric thresholds (``lt``/``gt``/``lte``/``gte``/``between``) on timing and device numbers;
* ``contains_any`` on list features (automation globals, chromedriver properties, brands, stack
  markers) and on list probes;
* probes (``probe_*``: booleans with a threshold, name lists, locale);
* ``any:`` groups of boolean and threshold conditions; one rule in ten has status ``test``.

Every set starts with the same **core** of 50 rules written against what the recorded sessions show
(their viewports, renderers, automation globals; thresholds inside the range the recorded tools
reach) — the 50-rule set is the core alone. The rules past the core are, as in any large set, about
*other* tools' artefacts: values no recorded session has, and thresholds beyond the most extreme
recorded value on the scripts' side. So the hits per record stay about the same from 50 to 5,000
rules (the table shows them), and what grows is the work of finding them.

The feature records are those of the recorded payloads (tool fixtures, human sessions, and the
500-event payloads of the decision section). Reported: match time per record, and the whole
in-process decision on the 500-event payloads, at each size. Before timing, every record's hits are
checked against judging every rule of the set one by one (the index must not change a verdict).
"""
from __future__ import annotations

import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench import decision as dec
from bench.payloads import human_recordings, sized, tool_recordings
from bench.report import Section, Target, us

SIZES = (50, 500, 5000)
TARGET_RATIO = 3.0
PER_FILE = 250

STR_FEATURES = ("viewport", "screen", "window_outer", "webgl_renderer", "webgl_vendor", "ua_family", "os_family",
                "platform", "language", "timezone")
BOOL_FEATURES = ("ua_headless", "webdriver", "webgl_software", "uad_missing_for_chromium", "chrome_missing",
                 "screen_eq_viewport", "platform_ua_mismatch", "outer_zero", "req_browser_ua_without_browser_headers",
                 "insert_text_whole_string", "probe_cdp_runtime", "probe_ua_lie")
# feature: (low, high) of the thresholds drawn, and the side scripts fall on ("lt": below it). The
# ranges sit at the scripts' extreme, as a rule author's would: people never pass them, a given tool
# passes some.
NUMERIC: dict[str, tuple[float, float, str]] = {
    "key_hold_ms_median": (0.3, 3, "lt"), "key_hold_ms_cv": (0.005, 0.05, "lt"), "key_flight_ms_cv": (0.005, 0.05, "lt"),
    "key_flight_near_identical_share": (0.8, 0.99, "gt"), "key_press_on_release_share": (0.85, 0.99, "gt"),
    "pointer_step_interval_cv": (0.005, 0.05, "lt"), "pointer_velocity_profile_edge_ratio": (0.85, 0.99, "gt"),
    "pointer_step_change_ratio_median": (0.001, 0.02, "lt"), "click_hold_ms_median": (0.2, 3, "lt"),
    "pointer_teleports": (2, 10, "gt"), "clicks_without_move": (2, 8, "gt"), "insert_text_without_keys_events": (5, 20, "gt"),
    "untrusted_input_share": (0.5, 0.99, "gt"), "hw_concurrency": (1, 2, "lt"), "device_memory": (0.25, 1, "lt"),
    "outer_minus_inner_h": (0, 5, "lt"), "first_input_ms": (5, 80, "lt"), "ms_per_char_to_submit": (1, 10, "lt"),
    "touch_radius_px_median": (0.1, 1, "lt"), "idle_gap_ms_max": (5, 50, "lt"), "probe_voices": (0, 1, "lt"),
    "probe_navigator_lies": (2, 6, "gt"), "probe_untrusted_after_trusted": (2, 8, "gt"),
}
LIST_FEATURES: dict[str, tuple[str, ...]] = {
    "automation_globals": ("__playwright__binding__", "__pwInitScripts", "__puppeteer_evaluation_script__", "_phantom",
                           "callPhantom", "__nightmare", "domAutomation", "domAutomationController", "__webdriver_evaluate",
                           "__selenium_unwrapped", "__driver_evaluate", "__webdriver_script_fn", "__stagehandV3Injected",
                           "GlobalSkyvernFrameIndex"),
    "cdc_globals": tuple(f"cdc_{i:02d}abcdef" for i in range(30)) + ("$cdc_asdjflasutopfhvcZLmcfl_",),
    "doc_automation_attrs": ("webdriver", "selenium", "driver"),
    "stack_markers": ("pptr:", "__puppeteer_evaluation_script__", "playwright"),
    "uad_brands": ("HeadlessChrome",),
    "probe_cdp": ("prepare_stack_trace", "error_name_reads", "stack_getter"),
    "probe_lies": ("webdriver", "userAgent", "platform", "languages", "plugins", "hardwareConcurrency", "navigator.own",
                   "Permissions.query", "WebGL.getParameter", "Function.toString", "attachShadow"),
    "probe_dom": ("playwright-highlight-container", "data-browser-use", "unique_id", "__stagehandV3Injected", "shadow_forced_open"),
    "probe_tamper": ("fetch", "XMLHttpRequest", "addEventListener", "Date.now", "performance.now"),
}
SEVERITIES = ("info", "low", "medium", "high", "critical")
BOOL_PROBES = ("probe_cdp_runtime", "probe_ua_lie", "probe_hw_lie", "probe_webgl_lie", "probe_mm_dpr",
               "probe_locale_mismatch", "probe_screen_eq_viewport")
CORE = 50
"""The rules every set starts with, written against what the recorded sessions show."""
OBSERVED_SHARE = 0.5
"""In the core: share of ``eq`` values and list names that the recorded payloads report."""


def _names(name: str, rng: random.Random, k: int, core: bool) -> list[str]:
    """``k`` names for a list condition: known artefacts now and then in the core, other tools' past it."""
    out: list[str] = []
    while len(out) < k:
        known = core and rng.random() < OBSERVED_SHARE
        v = rng.choice(LIST_FEATURES[name]) if known else f"__{name[:6]}_{rng.randint(0, 1_000_000)}"
        if v not in out:
            out.append(v)
    return out


def _synthetic(name: str, rng: random.Random) -> str:
    if name in ("viewport", "screen", "window_outer"):
        return f"{rng.choice([360, 390, 412, 768, 800, 1024, 1280, 1366, 1440, 1536, 1600, 1680, 1920, 2560])}x{rng.randint(400, 1440)}"
    if name == "webgl_renderer":
        gpu = rng.choice(["NVIDIA GeForce RTX 30", "AMD Radeon RX 6", "Intel(R) UHD Graphics 6", "Apple M", "Mali-G7"])
        return f"ANGLE ({gpu.split()[0]}, {gpu}{rng.randint(10, 99)}-{rng.randint(0, 999)} Direct3D11 vs_5_0 ps_5_0, D3D11)"
    if name == "webgl_vendor":
        return f"Google Inc. ({rng.choice(['NVIDIA', 'AMD', 'Intel', 'Apple', 'ARM', 'Qualcomm'])}-{rng.randint(0, 999)})"
    if name == "timezone":
        return f"{rng.choice(['Europe', 'America', 'Asia', 'Africa', 'Australia'])}/City{rng.randint(0, 3000)}"
    if name == "language":
        return f"{rng.choice(['en', 'de', 'fr', 'zh', 'ja', 'ko', 'ru', 'es', 'pt', 'it'])}-X{rng.randint(0, 999)}"
    return f"{name}-{rng.randint(0, 1_000_000)}"


class Generator:
    """Rule maps (the YAML a rule author writes), the same first :data:`CORE` for every size.

    ``seen``: string feature → values in the recorded payloads; ``extremes``: numeric feature →
    (smallest, largest) value in them."""

    def __init__(self, seen: dict[str, list], extremes: dict[str, tuple[float, float]], seed: int = 5):
        self.seen, self.extremes, self.seed = seen, extremes, seed

    def rules(self, n: int) -> list[dict]:
        rng = random.Random(self.seed)
        return [self._rule(i, rng, core=i < CORE) for i in range(n)]

    def _value(self, name: str, rng: random.Random, core: bool) -> str:
        if core and self.seen.get(name) and rng.random() < OBSERVED_SHARE:
            return rng.choice(self.seen[name])
        return _synthetic(name, rng)

    def _threshold(self, name: str, rng: random.Random, core: bool) -> tuple[dict, Any]:
        """A condition on the scripts' side of ``name``, and a value that meets it. In the core the
        threshold lies in the range drawn for the feature; past it, beyond every recorded value."""
        lo, hi, side = NUMERIC[name]
        if not core:
            low, high = self.extremes.get(name, (lo, hi))
            span = max(hi - lo, 1.0)
            lo, hi = (low - span, low - span / 10) if side == "lt" else (high + span / 10, high + span)
        x: float = round(rng.uniform(lo, hi), 3)
        if isinstance(NUMERIC[name][0], int) and isinstance(NUMERIC[name][1], int) or name.startswith("probe_"):
            x = int(x // 1 if side == "lt" else -(-x // 1))
        if rng.random() < 0.2:
            return ({"between": [x - 100, x]}, x) if side == "lt" else ({"between": [x, x + 100]}, x)
        op = side + ("e" if rng.random() < 0.5 else "")
        return {op: x}, (x - 1 if op == "lt" else x + 1 if op == "gt" else x)

    def _rule(self, i: int, rng: random.Random, core: bool) -> dict:
        when: dict[str, Any] = {}
        match: dict[str, Any] = {}
        anys: list[dict] | None = None
        shape = rng.random()
        if shape < 0.45:  # a string artefact, often with a second condition
            name = rng.choice(STR_FEATURES)
            when[name] = match[name] = self._value(name, rng, core)
            extra = rng.random()
            if extra < 0.35:
                b = rng.choice(BOOL_FEATURES)
                when[b] = match[b] = True
            elif extra < 0.65:
                num = rng.choice(list(NUMERIC))
                when[num], match[num] = self._threshold(num, rng, core)
        elif shape < 0.60:  # automation names in a list feature
            name = rng.choice([k for k in LIST_FEATURES if not k.startswith("probe_")])
            vals = _names(name, rng, rng.randint(1, 3), core)
            when[name] = {"contains_any": vals}
            match[name] = [vals[0]]
        elif shape < 0.75:  # probes
            kind = rng.random()
            if kind < 0.4:
                name = rng.choice(BOOL_PROBES)
                when[name] = match[name] = True
                num = rng.choice(list(NUMERIC))
                when[num], match[num] = self._threshold(num, rng, core)
            elif kind < 0.8:
                name = rng.choice([k for k in LIST_FEATURES if k.startswith("probe_")])
                vals = _names(name, rng, rng.randint(1, 2), core)
                when[name] = {"contains_any": vals}
                match[name] = [vals[0]]
            else:
                when["probe_tz_locale"] = match["probe_tz_locale"] = self._value("language", rng, core)
        elif shape < 0.95:  # timing or device numbers alone: two of them
            for num in rng.sample(list(NUMERIC), 2):
                when[num], match[num] = self._threshold(num, rng, core)
        else:  # one of two groups
            anys = []
            for _ in range(2):
                b = rng.choice(BOOL_FEATURES)
                num = rng.choice(list(NUMERIC))
                anys.append({b: True, num: self._threshold(num, rng, core)[0]})
            match.update({k: _satisfy(c) for k, c in anys[0].items()})
        rule = {"id": f"gen{i // PER_FILE}.r{i}", "title": f"generated rule {i}",
                "severity": rng.choice(SEVERITIES), "status": "test" if rng.random() < 0.1 else "stable",
                "references": ["https://example.invalid/tell-bench"],
                "tests": [{"expect": "match", "features": match}, {"expect": "no-match", "features": {}}]}
        if when:
            rule["when"] = when
        if anys:
            rule["any"] = anys
        return rule


def _satisfy(cond: Any) -> Any:
    """A value meeting a condition (for the rule's own positive test case)."""
    if not isinstance(cond, dict):
        return cond
    (op, x), = cond.items()
    return {"lt": lambda: x - 1, "gt": lambda: x + 1, "between": lambda: x[0]}.get(op, lambda: x)()


def write_set(rules: list[dict], root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    for k in range(0, len(rules), PER_FILE):
        chunk = rules[k:k + PER_FILE]
        doc = {"family": f"gen{k // PER_FILE}", "title": f"generated rules {k}–{k + len(chunk) - 1}", "rules": chunk}
        (root / f"gen{k // PER_FILE:03d}.yml").write_text(yaml.dump(doc, Dumper=dumper, sort_keys=False, allow_unicode=True),
                                                          encoding="utf-8")


def section(quick: bool) -> Section:
    from edge import telemetry as tm
    from fingerprints import extract
    from signatures import SignatureSet
    from signatures.matcher import rule_matches

    s = Section("Rule scaling")
    tools = tool_recordings()
    humans = human_recordings(sentences=20 if quick else 60, windows=4 if quick else 12)
    big = sized(60 if quick else 500, tools, humans)
    prep = dec.prepared(big)
    records = [extract(r.telemetry) for r in tools + humans] + [extract(tm.decode(b), i) for b, i, _ in prep]
    seen: dict[str, list] = {}
    extremes: dict[str, tuple[float, float]] = {}
    for f in records:
        for name in STR_FEATURES:
            if isinstance(f.get(name), str) and f[name] not in seen.setdefault(name, []):
                seen[name].append(f[name])
        for name in NUMERIC:
            v = f.get(name)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                lo, hi = extremes.get(name, (v, v))
                extremes[name] = (min(lo, v), max(hi, v))
    gen = Generator(seen, extremes)
    sizes = (10, 40) if quick else SIZES
    rounds_match, rounds_decide = (2, 2) if quick else (30, 25)
    rows, match_p50, decide_p50 = [], {}, {}
    tmp = Path(tempfile.mkdtemp(prefix="tell-bench-rules-"))
    try:
        for n in sizes:
            root = tmp / f"set{n}"
            write_set(gen.rules(n), root)
            t0 = time.perf_counter()
            sigset = SignatureSet.load(root)
            load_s = time.perf_counter() - t0
            for f in records:  # the index chooses candidates; it must not change a verdict
                if [h.id for h in sigset.match(f)] != [r.id for r in sigset.rules if rule_matches(r, f)]:
                    raise AssertionError(f"the matcher's index lost or added a hit at {n} rules")
            hits = sum(len(sigset.match(f)) for f in records) / len(records)
            m = dec.Dist.of(dec.flat(dec.time_calls(sigset.match, [(f,) for f in records], rounds_match)))
            d = dec.Dist.of(dec.flat(dec.run(big, rounds_decide, signatures=sigset)))
            match_p50[n], decide_p50[n] = m.p50, d.p50
            rows.append([f"{n:,}", f"{load_s:.2f} s", f"{hits:.1f}", us(m.p50), us(m.p99), us(d.p50), us(d.p99)])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lo, hi = sizes[0], sizes[-1]
    mr, dr = match_p50[hi] / match_p50[lo], decide_p50[hi] / decide_p50[lo]
    s.add(__doc__.split("\n\n", 1)[1].strip(), "")
    s.add(f"{len(records)} feature records for the match; the decision on the {len(big)} payloads of {big[0].events} events.", "")
    s.table(["rules", "load + lint", "hits per record", "match p50", "match p99", "decision p50", "decision p99"], rows)
    s.add(f"From {lo:,} to {hi:,} rules ({hi // lo}× the rules): match p50 × {mr:.2f}, decision p50 × {dr:.2f}.", "")
    s.targets += [
        Target(f"rule scaling: match p50 at {hi:,} rules vs {lo:,}", f"{mr:.2f}×", f"≤ {TARGET_RATIO:g}×", mr <= TARGET_RATIO,
               "" if mr <= TARGET_RATIO else f"{mr / TARGET_RATIO:.1f}× over"),
        Target(f"rule scaling: decision p50 at {hi:,} rules vs {lo:,}", f"{dr:.2f}×", f"≤ {TARGET_RATIO:g}×", dr <= TARGET_RATIO,
               "" if dr <= TARGET_RATIO else f"{dr / TARGET_RATIO:.1f}× over"),
    ]
    s.data = {"match_p50": match_p50, "decide_p50": decide_p50}
    return s

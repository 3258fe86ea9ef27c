"""The detection matrix: agent × action → decision and rule families; JSON, Markdown and compare.

The JSON form (schema ``tell-simulate/1``, documented in docs/simulate.md) is what ``--compare``
reads back. Everything a diff looks at — the decision and the sorted family names — is stable from
run to run for a deterministic agent; scores, rule ids, timings and versions are carried along for the
reader but never compared.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

SCHEMA = "tell-simulate/1"
REFUSED = ("challenge", "block")


@dataclass(slots=True)
class Cell:
    """One write by one agent: what Tell decided, or why there is no decision."""

    action: str
    decision: str | None = None  # allow / challenge / block; None when the write did not happen
    families: list[str] = field(default_factory=list)
    score: float | None = None
    rules: list[str] = field(default_factory=list)  # from the admin API, when --admin-token was given
    admin_decision: str | None = None
    behaviour_score: float | None = None  # the behavioural model's score, from the admin API
    error: str | None = None
    note: str | None = None
    telemetry_posts: int = 0
    seconds: float = 0.0

    @property
    def key(self) -> tuple[str | None, tuple[str, ...]]:
        """What --compare compares."""
        return self.decision, tuple(sorted(self.families))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Cell":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass(slots=True)
class Row:
    """One agent's run."""

    agent: str
    stands_for: str
    automated: bool
    tool: str = ""
    tool_version: str = ""
    browser_version: str = ""
    detail: str = ""  # what else labels the run: plugin versions, the human trace replayed
    username: str = ""
    error: str | None = None
    seconds: float = 0.0
    cells: list[Cell] = field(default_factory=list)

    def cell(self, action: str) -> Cell | None:
        return next((c for c in self.cells if c.action == action), None)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["cells"] = [c.to_json() for c in self.cells]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Row":
        cells = [Cell.from_json(c) for c in d.get("cells", [])]
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d and k != "cells"}, cells=cells)


@dataclass(slots=True)
class Matrix:
    target: str
    actions: list[str]
    rows: list[Row] = field(default_factory=list)
    started: str = ""  # ISO 8601, UTC
    seconds: float = 0.0
    signatures: str = ""  # the target's signature set version (from /healthz), when it says
    command: str = ""

    def row(self, agent: str) -> Row | None:
        return next((r for r in self.rows if r.agent == agent), None)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA, "target": self.target, "started": self.started, "seconds": round(self.seconds, 1),
                "signatures": self.signatures, "command": self.command, "actions": list(self.actions),
                "rows": [r.to_json() for r in self.rows]}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Matrix":
        if d.get("schema") != SCHEMA:
            raise ValueError(f"not a {SCHEMA} matrix (schema: {d.get('schema')!r})")
        return cls(target=d["target"], actions=list(d["actions"]), rows=[Row.from_json(r) for r in d["rows"]],
                   started=d.get("started", ""), seconds=d.get("seconds", 0.0), signatures=d.get("signatures", ""),
                   command=d.get("command", ""))

    @classmethod
    def loads(cls, text: str) -> "Matrix":
        return cls.from_json(json.loads(text))


# ---- rendering ---------------------------------------------------------------------------------------------

def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def cell_text(c: Cell | None) -> str:
    """``**block** 0.99 · headless, playwright``: the decision, its score, the families that explain it."""
    if c is None:
        return "—"
    if c.decision is None:
        what = c.error or c.note or "no decision"
        return f"error: {_md(what[:120])}" if c.error else f"_{_md(what[:120])}_"
    fams = [f for f in c.families if f not in ("none", "—")]
    score = f" {c.score:.2f}" if c.score is not None else ""
    text = f"**{c.decision}**{score}" + (f" · {', '.join(fams)}" if fams else "")
    if c.admin_decision and c.admin_decision != c.decision:
        text += f" (admin API: {c.admin_decision})"
    return _md(text)


def to_markdown(m: Matrix, *, title: str = "Detection matrix") -> str:
    signed = f" · signatures `{m.signatures}`" if m.signatures else ""
    browsers = sorted({r.browser_version for r in m.rows if r.browser_version})
    lines = [
        f"# {title}",
        "",
        f"`tell simulate` against `{m.target}`{signed} · {m.started or 'undated'}"
        + (f" · Chromium {', '.join(browsers)}" if browsers else ""),
        "",
        "Each cell is Tell's decision for that write as the page showed it, then the rule families named. "
        "Rows marked *control* are not automation tools: they replay recorded people.",
        "",
        "| agent | stands for | tool | " + " | ".join(m.actions) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in m.actions) + " |",
    ]
    for r in m.rows:
        tool = f"{r.tool} {r.tool_version}".strip() or "?"
        who = f"`{r.agent}`" + ("" if r.automated else " *(control)*")
        if r.error and not any(c.decision for c in r.cells):
            cells = [f"error: {_md(r.error[:160])}"] + ["—"] * (len(m.actions) - 1)
        else:
            cells = [cell_text(r.cell(a)) for a in m.actions]
        lines.append(f"| {who} | {_md(r.stands_for)} | {_md(tool)} | " + " | ".join(cells) + " |")
    ruled = [(r, sorted({rule for c in r.cells for rule in c.rules})) for r in m.rows]
    if any(rules for _, rules in ruled):
        lines += ["", "Rules matched on any write, and the behavioural score of each write, from the admin API:", "",
                  "| agent | rules | behaviour (" + ", ".join(m.actions) + ") |", "| --- | --- | --- |"]
        for r, rules in ruled:
            behaviour = " / ".join("—" if (c := r.cell(a)) is None or c.behaviour_score is None
                                   else f"{c.behaviour_score:.2f}" for a in m.actions)
            lines.append(f"| `{r.agent}` | {', '.join(f'`{x}`' for x in rules) or '—'} | {behaviour} |")
    allowed = [r.agent for r in m.rows if r.automated and any(c.decision == "allow" for c in r.cells)]
    never = [r.agent for r in m.rows if r.automated and r.cells and not any(c.decision in REFUSED for c in r.cells)
             and any(c.decision for c in r.cells)]
    lines += ["", f"{len(m.rows)} agents, {m.seconds:.0f} s."]
    if allowed:
        lines.append(f"Automated agents allowed at least once: {', '.join(f'`{a}`' for a in allowed)}.")
    if never:
        lines.append(f"Automated agents never refused: {', '.join(f'`{a}`' for a in never)}.")
    return "\n".join(lines) + "\n"


def to_text(m: Matrix) -> str:
    """A terminal table: fixed-width, no Markdown."""
    head = ["agent"] + m.actions
    rows = []
    for r in m.rows:
        if r.error and not any(c.decision for c in r.cells):
            rows.append([r.agent, f"ERROR {r.error[:70]}"] + [""] * (len(m.actions) - 1))
            continue
        out = [r.agent + ("" if r.automated else " (control)")]
        for a in m.actions:
            c = r.cell(a)
            if c is None:
                out.append("-")
            elif c.decision is None:
                out.append(("ERROR " + (c.error or "")) if c.error else (c.note or "-"))
            else:
                fams = [f for f in c.families if f not in ("none", "—")]
                out.append(c.decision + (f" [{','.join(fams)}]" if fams else ""))
        rows.append(out)
    widths = [min(48, max(len(x[i][:48]) for x in [head] + rows)) for i in range(len(head))]
    fmt = lambda cols: "  ".join(c[:48].ljust(w) for c, w in zip(cols, widths)).rstrip()  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]) + "\n"


# ---- compare -------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Change:
    agent: str
    action: str
    old: Cell | None
    new: Cell | None
    automated: bool

    @property
    def regression(self) -> bool:
        """An automated agent newly allowed: the one change that fails a comparison."""
        was = self.old.decision if self.old else None
        return self.automated and self.new is not None and self.new.decision == "allow" and was != "allow"

    @property
    def new_false_positive(self) -> bool:
        """The human control newly refused: worth a loud line, though not a detection regression."""
        was = self.old.decision if self.old else None
        return not self.automated and self.new is not None and self.new.decision in REFUSED and was not in REFUSED

    def describe(self) -> str:
        def show(c: Cell | None) -> str:
            if c is None:
                return "(absent)"
            if c.decision is None:
                return "error" if c.error else (c.note or "no decision")
            fams = [f for f in c.families if f not in ("none", "—")]
            return c.decision + (f" [{', '.join(sorted(fams))}]" if fams else "")
        tag = "REGRESSION " if self.regression else ("FALSE POSITIVE " if self.new_false_positive else "")
        return f"{tag}{self.agent} / {self.action}: {show(self.old)} -> {show(self.new)}"


def compare(old: Matrix, new: Matrix) -> list[Change]:
    """Cells whose decision or families differ, in the new matrix's order (then rows only the old had)."""
    changes: list[Change] = []
    seen: set[str] = set()
    actions = list(dict.fromkeys([*new.actions, *old.actions]))
    for row in new.rows:
        seen.add(row.agent)
        before = old.row(row.agent)
        for action in actions:
            o = before.cell(action) if before else None
            n = row.cell(action)
            if (o.key if o else None) != (n.key if n else None):
                changes.append(Change(row.agent, action, o, n, row.automated))
    for row in old.rows:
        if row.agent not in seen:
            for c in row.cells:
                changes.append(Change(row.agent, c.action, c, None, row.automated))
    return changes


def render_changes(changes: Iterable[Change]) -> str:
    changes = list(changes)
    if not changes:
        return "no changes\n"
    regressions = sum(c.regression for c in changes)
    lines = [c.describe() for c in changes]
    lines.append(f"{len(changes)} changed cell(s), {regressions} regression(s)")
    return "\n".join(lines) + "\n"

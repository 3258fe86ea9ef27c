"""The pieces of RESULTS.md: a section per benchmark, each with the targets it checks."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    measured: str
    target: str
    ok: bool | None  # None: not measured in this run (skipped, or a tool missing)
    note: str = ""

    def row(self) -> str:
        verdict = {True: "met", False: "**missed**", None: "not measured"}[self.ok]
        return f"| {self.name} | {self.measured} | {self.target} | {verdict}{' — ' + self.note if self.note else ''} |"


@dataclass(slots=True)
class Section:
    title: str
    lines: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.lines.append("| " + " | ".join(header) + " |")
        self.lines.append("| " + " | ".join("---" for _ in header) + " |")
        for r in rows:
            self.lines.append("| " + " | ".join(r) + " |")
        self.lines.append("")

    def markdown(self) -> str:
        return "\n".join([f"## {self.title}", "", *self.lines, "", f"*({self.seconds:.0f} s)*", ""])


def us(x: float) -> str:
    return f"{x:,.0f} µs" if x >= 100 else f"{x:,.1f} µs"


def ratio(x: float) -> str:
    return f"{x:.2f}×"

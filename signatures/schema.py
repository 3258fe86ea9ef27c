"""Signature rules as typed data, and the errors that point at where a rule went wrong."""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Any, Callable


class Severity(str, enum.Enum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def weight(self) -> float:
        return _WEIGHTS[self]


# Noisy-or weights: one critical artefact (navigator.webdriver) is near-certain on its own; several
# low ones together add up. Policy thresholds (edge/config.py) are read against these.
_WEIGHTS = {Severity.INFO: 0.0, Severity.LOW: 0.15, Severity.MEDIUM: 0.4, Severity.HIGH: 0.7, Severity.CRITICAL: 0.9}


class Status(str, enum.Enum):
    STABLE = "stable"
    TEST = "test"  # matched and recorded, but does not move the score: try a rule on live traffic
    DEPRECATED = "deprecated"  # kept for its id, never evaluated


RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$")


@dataclass(frozen=True, slots=True)
class Condition:
    feature: str
    op: str
    arg: Any
    test: Callable[[Any], bool] = field(compare=False, repr=False)
    needs_value: bool = True  # False only for `present: false`

    def describe(self) -> str:
        return f"{self.feature} {self.op} {self.arg!r}"


@dataclass(frozen=True, slots=True)
class TestCase:
    expect: bool  # True: the rule must match
    features: dict[str, Any] | None
    fixture: str | None
    name: str
    line: int


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    family: str
    severity: Severity
    weight: float
    status: Status
    references: tuple[str, ...]
    description: str
    all: tuple[Condition, ...]
    any: tuple[tuple[Condition, ...], ...]
    tests: tuple[TestCase, ...]
    source: str
    line: int

    @property
    def conditions(self) -> tuple[Condition, ...]:
        return self.all + tuple(c for group in self.any for c in group)

    @property
    def features(self) -> frozenset[str]:
        return frozenset(c.feature for c in self.conditions)


class Level(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class LintIssue:
    """One problem, located: ``file:line: [rule id] message (hint)``."""

    file: str
    line: int
    rule_id: str | None
    message: str
    hint: str = ""
    level: Level = Level.ERROR

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        rid = f" [{self.rule_id}]" if self.rule_id else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{where}: {self.level.value}{rid}: {self.message}{hint}"


class SignatureError(ValueError):
    """A signature set failed lint; ``issues`` holds every problem found, not just the first."""

    def __init__(self, issues: list[LintIssue]):
        self.issues = issues
        errors = [i for i in issues if i.level is Level.ERROR]
        super().__init__(f"{len(errors)} error(s) in signature set:\n" + "\n".join(str(i) for i in errors))

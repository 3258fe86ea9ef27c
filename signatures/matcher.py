"""Compiled signature sets: load a directory once, match feature records fast, explain a match.

Rules are indexed by one condition each, their *anchor*, and a rule is evaluated only when its
anchor holds for the record: ``eq``/``in`` anchors are looked up by the record's value,
``contains``/``contains_any`` anchors by each element of a list feature, numeric thresholds by a
binary search over the thresholds of that feature, any other condition by the feature's presence.
Time grows with the rules that could match, not with the size of the set. The index only chooses
candidates: each is still judged by all of its conditions, so the index changes no verdict.
"""
from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from edge.decision import RuleHit
from fingerprints.catalog import all_features
from signatures.loader import compile_file, finalize
from signatures.schema import Condition, Level, LintIssue, Rule, SignatureError, Status

_MISSING = object()


def _hashable(x: Any) -> bool:
    try:
        hash(x)
    except TypeError:
        return False
    return True


def _check(c: Condition, feats: dict[str, Any]) -> bool:
    v = feats.get(c.feature, _MISSING)
    if c.op == "present":
        return (v is not _MISSING) is c.arg
    if v is _MISSING:
        return False
    try:
        return c.test(v)
    except TypeError:  # e.g. an unhashable list where a set lookup was compiled: not a match
        return False


def rule_matches(rule: Rule, feats: dict[str, Any]) -> bool:
    for c in rule.all:
        if not _check(c, feats):
            return False
    if rule.any:
        for group in rule.any:
            if all(_check(c, feats) for c in group):
                return True
        return False
    return True


@dataclass(frozen=True, slots=True)
class ConditionResult:
    condition: Condition
    value: Any
    ok: bool


@dataclass(frozen=True, slots=True)
class Explanation:
    rule: Rule
    matched: bool
    results: tuple[ConditionResult, ...]

    @property
    def failed(self) -> int:
        return sum(1 for r in self.results if not r.ok)


_BY_VALUE, _BY_ELEMENT, _BY_THRESHOLD, _BY_FEATURE = range(4)
_VALUE_OPS = ("eq", "in")
_ELEMENT_OPS = ("contains", "contains_any")
_THRESHOLD_OPS = ("lt", "lte", "gt", "gte", "between")


def _anchor(conds: tuple[Condition, ...]) -> tuple[str, Condition] | None:
    """The most selective condition to index a group of conditions by (all of them must hold): a
    value (``eq``/``in``), a list element, a numeric threshold, a boolean value (two values only:
    ``webdriver: true`` would make every rule on it a candidate for every automated session), and at
    last the feature's presence."""
    ranked: list[tuple[int, str, Condition]] = []
    for c in conds:
        if c.op in _VALUE_OPS or c.op in _ELEMENT_OPS:
            args = c.arg if c.op in ("in", "contains_any") else (c.arg,)
            if all(_hashable(a) for a in args):
                if c.op in _ELEMENT_OPS:
                    ranked.append((1, "element", c))
                else:
                    ranked.append((3 if all(type(a) is bool for a in args) else 0, "value", c))
                continue
        if c.op in _THRESHOLD_OPS:
            ranked.append((2, "threshold", c))
        elif c.needs_value:
            ranked.append((4, "feature", c))
    if not ranked:
        return None
    _, key, c = min(ranked, key=lambda r: r[0])
    return key, c


class _Thresholds:
    """The numeric-threshold anchors on one feature: for a value, the rules whose threshold it
    passes — one-sided thresholds by binary search over their sorted bounds, ``between`` ranges by
    the stretch between two consecutive bounds the value falls in (each stretch lists its ranges)."""

    __slots__ = ("_lt", "_lte", "_gt", "_gte", "_ranges", "_edges", "_cover")

    def __init__(self) -> None:
        self._lt: Any = []
        self._lte: Any = []
        self._gt: Any = []
        self._gte: Any = []
        self._ranges: list[tuple[Any, Any, int]] = []
        self._edges: list = []
        self._cover: list[list[int]] = []

    def add(self, op: str, arg: Any, i: int) -> None:
        if op == "between":
            self._ranges.append((arg[0], arg[1], i))
        else:
            getattr(self, "_" + op).append((arg, i))

    def freeze(self) -> None:
        for name in ("_lt", "_lte", "_gt", "_gte"):
            pairs = sorted(getattr(self, name), key=lambda p: p[0])
            setattr(self, name, ([a for a, _ in pairs], [i for _, i in pairs]))
        # Stretch 2k+1 is the value edges[k] itself, stretch 2k the open stretch just below it (and
        # the last stretch everything above the largest bound): a range covers a stretch when it
        # holds every value in it.
        edges = sorted({x for lo, hi, _ in self._ranges for x in (lo, hi)})
        cover: list[list[int]] = [[] for _ in range(2 * len(edges) + 1)]
        for lo, hi, i in sorted(self._ranges, key=lambda r: r[2]):
            a, b = bisect.bisect_left(edges, lo), bisect.bisect_left(edges, hi)
            for k in range(2 * a + 1, 2 * b + 2):
                cover[k].append(i)
        self._edges, self._cover = edges, cover

    def passing(self, v: Any, out: list[int]) -> None:
        if not _is_number(v):
            return  # every threshold operator fails on anything but a number
        xs, ids = self._lt
        if ids:
            out.extend(ids[bisect.bisect_right(xs, v):])  # v < x
        xs, ids = self._lte
        if ids:
            out.extend(ids[bisect.bisect_left(xs, v):])  # v <= x
        xs, ids = self._gt
        if ids:
            out.extend(ids[:bisect.bisect_left(xs, v)])  # x < v
        xs, ids = self._gte
        if ids:
            out.extend(ids[:bisect.bisect_right(xs, v)])  # x <= v
        edges = self._edges
        if edges:
            k = bisect.bisect_left(edges, v)
            out.extend(self._cover[2 * k + 1 if k < len(edges) and edges[k] == v else 2 * k])


def _is_number(v: Any) -> bool:
    t = type(v)
    return t is int or t is float or (isinstance(v, (int, float)) and not isinstance(v, bool))


class SignatureSet:
    """An immutable, compiled set. Build with ``SignatureSet.load(directory)``."""

    def __init__(self, rules: Iterable[Rule], version: str, root: str = "", warnings: Iterable[LintIssue] = ()):
        self.rules: tuple[Rule, ...] = tuple(r for r in rules if r.status is not Status.DEPRECATED)
        self.by_id = {r.id: r for r in self.rules}
        self.version = version
        self.root = root
        self.warnings = tuple(warnings)
        # Anchors map to rule positions; candidates are judged in set order, so hits come out in the
        # order the rules were loaded.
        by_value: dict[str, dict[Any, list[int]]] = {}
        by_element: dict[str, dict[Any, list[int]]] = {}
        by_threshold: dict[str, _Thresholds] = {}
        by_feature: dict[str, list[int]] = {}
        always: list[int] = []
        several = False  # can one record reach a rule through two anchors?
        for i, r in enumerate(self.rules):
            groups = [r.all] if r.all else list(r.any)
            anchors = [_anchor(g) for g in groups]
            if not groups or any(a is None for a in anchors):
                always.append(i)  # no condition every match needs: judged for every record
                continue
            several = several or len(anchors) > 1
            for key, c in anchors:  # one anchor per `any` group: a match needs one of them
                if key in ("value", "element"):
                    several = several or key == "element"
                    index = (by_value if key == "value" else by_element).setdefault(c.feature, {})
                    for a in (c.arg if c.op in ("in", "contains_any") else (c.arg,)):
                        ids = index.setdefault(a, [])
                        if not ids or ids[-1] != i:  # `in: [1, 1.0]` is one key
                            ids.append(i)
                elif key == "threshold":
                    by_threshold.setdefault(c.feature, _Thresholds()).add(c.op, c.arg, i)
                else:
                    by_feature.setdefault(c.feature, []).append(i)
        for t in by_threshold.values():
            t.freeze()
        # feature → its anchors, so a record is looked up only for the features it has
        anchors: dict[str, list[tuple[int, Any]]] = {}
        for kind, index in ((_BY_VALUE, by_value), (_BY_ELEMENT, by_element), (_BY_THRESHOLD, by_threshold),
                            (_BY_FEATURE, by_feature)):
            for name, entry in index.items():
                anchors.setdefault(name, []).append((kind, entry))
        self._anchors = {name: tuple(a) for name, a in anchors.items()}
        self._anchored = frozenset(anchors)
        self._always = always
        self._several = several

    def __len__(self) -> int:
        return len(self.rules)

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(sorted({r.family for r in self.rules}))

    def candidates(self, feats: dict[str, Any]) -> list[Rule]:
        """The rules whose anchor holds for ``feats``, in set order, each once."""
        ids: list[int] = list(self._always)
        anchors = self._anchors
        for name in feats.keys() & self._anchored:
            v = feats[name]
            for kind, index in anchors[name]:
                if kind == _BY_VALUE:
                    try:
                        hit = index.get(v)
                    except TypeError:  # an unhashable value equals no rule's value
                        continue
                    if hit:
                        ids.extend(hit)
                elif kind == _BY_ELEMENT:
                    if type(v) is list or type(v) is tuple:
                        for x in v:
                            try:
                                hit = index.get(x)
                            except TypeError:
                                continue
                            if hit:
                                ids.extend(hit)
                elif kind == _BY_THRESHOLD:
                    index.passing(v, ids)
                else:
                    ids.extend(index)
        rules = self.rules
        if len(ids) > 1:
            ids = sorted(set(ids)) if self._several else sorted(ids)
        return [rules[i] for i in ids]

    def match(self, feats: dict[str, Any]) -> list[RuleHit]:
        hits = []
        for r in self.candidates(feats):
            if rule_matches(r, feats):
                hits.append(RuleHit(r.id, r.family, r.weight, r.status.value))
        return hits

    def explain(self, feats: dict[str, Any], near: int = 1) -> list[Explanation]:
        """Every rule that matched, and those that missed by at most ``near`` failed conditions
        (among features the record has)."""
        out = []
        for r in self.rules:
            results = tuple(ConditionResult(c, feats.get(c.feature), _check(c, feats)) for c in r.conditions)
            matched = rule_matches(r, feats)
            failed = sum(1 for x in results if not x.ok)
            if matched or (0 < failed <= near and any(x.ok for x in results)):
                out.append(Explanation(r, matched, results))
        out.sort(key=lambda e: (not e.matched, e.failed, e.rule.id))
        return out

    @classmethod
    def load(cls, root: str | Path) -> "SignatureSet":
        """Compile every ``*.yml`` under ``root``; raise ``SignatureError`` listing all problems."""
        rules, issues, version = lint_dir(root)
        errors = [i for i in issues if i.level is Level.ERROR]
        if errors:
            raise SignatureError(issues)
        return cls(rules, version, str(root), [i for i in issues if i.level is Level.WARNING])


def set_files(root: str | Path) -> list[Path]:
    root = Path(root)
    return sorted(p for p in root.rglob("*.yml") if p.is_file())


def lint_dir(root: str | Path) -> tuple[list[Rule], list[LintIssue], str]:
    root = Path(root)
    issues: list[LintIssue] = []
    if not root.is_dir():
        issues.append(LintIssue(str(root), 0, None, "not a directory"))
        return [], issues, ""
    files = set_files(root)
    if not files:
        issues.append(LintIssue(str(root), 0, None, "no *.yml signature files"))
    catalog = all_features()
    rules: list[Rule] = []
    digest = hashlib.sha256()
    for p in files:
        rel = p.relative_to(root).as_posix()
        digest.update(rel.encode() + b"\0")
        try:
            digest.update(p.read_bytes() + b"\0")
        except OSError:
            pass
        rules.extend(compile_file(p, catalog, issues, display=str(p)))
    finalize(rules, issues)
    return rules, issues, digest.hexdigest()[:12]

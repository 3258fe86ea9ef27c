"""Reading signature files: a safe YAML loader that keeps line numbers and rejects duplicate keys,
and the compiler from rule text to ``Rule`` objects. Every problem is collected with its file, line
and rule id, so an author sees all of them in one run (``tell signatures lint``).
"""
from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Iterable

import yaml

from fingerprints.catalog import Feature
from signatures.schema import (RULE_ID, Condition, Level, LintIssue, Rule, Severity, Status, TestCase)


class _Map(dict):
    line: int = 0


class _List(list):
    line: int = 0


class _Loader(yaml.SafeLoader):
    """SafeLoader (no Python objects, no code) that records lines and refuses duplicate keys."""

    issues: list[LintIssue]
    filename: str


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> _Map:
    out = _Map()
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            loader.issues.append(LintIssue(loader.filename, key_node.start_mark.line + 1, None,
                                           f"duplicate key {key!r}", "YAML keeps only the last one; remove or rename the other"))
        out[key] = loader.construct_object(value_node, deep=True)
    return out


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> _List:
    out = _List(loader.construct_object(n, deep=True) for n in node.value)
    out.line = node.start_mark.line + 1
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


def load_yaml(text: str, filename: str, issues: list[LintIssue]) -> Any:
    loader = _Loader(text)
    loader.issues = issues
    loader.filename = filename
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        issues.append(LintIssue(filename, (mark.line + 1) if mark else 0, None, f"not valid YAML: {getattr(exc, 'problem', exc)}",
                                "check indentation and quoting around this line"))
        return None
    finally:
        loader.dispose()


# --- conditions -------------------------------------------------------------------------------

_NUMERIC = ("int", "float")
OPERATORS: dict[str, tuple[str, ...]] = {
    # operator: feature types it applies to ("*" any)
    "eq": ("*",), "ne": ("*",),
    "in": ("str", "int", "float"), "not_in": ("str", "int", "float"),
    "gt": _NUMERIC, "gte": _NUMERIC, "lt": _NUMERIC, "lte": _NUMERIC, "between": _NUMERIC,
    "regex": ("str",),
    "contains": ("list",), "contains_any": ("list",), "not_empty": ("list", "str"),
    "present": ("*",),
}


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _predicate(op: str, arg: Any):
    if op == "eq":
        return lambda v: v == arg
    if op == "ne":
        return lambda v: v != arg
    if op == "in":
        s = frozenset(arg)
        return lambda v: v in s
    if op == "not_in":
        s = frozenset(arg)
        return lambda v: v not in s
    if op == "gt":
        return lambda v: _is_number(v) and v > arg
    if op == "gte":
        return lambda v: _is_number(v) and v >= arg
    if op == "lt":
        return lambda v: _is_number(v) and v < arg
    if op == "lte":
        return lambda v: _is_number(v) and v <= arg
    if op == "between":
        lo, hi = arg
        return lambda v: _is_number(v) and lo <= v <= hi
    if op == "regex":
        rx = re.compile(arg)
        return lambda v: isinstance(v, str) and rx.search(v) is not None
    if op == "contains":
        return lambda v: isinstance(v, (list, tuple)) and arg in v
    if op == "contains_any":
        s = frozenset(arg)
        return lambda v: isinstance(v, (list, tuple)) and not s.isdisjoint(v)
    if op == "not_empty":
        return lambda v: bool(v) is bool(arg)
    if op == "present":
        return lambda v: True  # presence is decided by the matcher before calling
    raise AssertionError(op)


class _Ctx:
    def __init__(self, filename: str, catalog: dict[str, Feature], issues: list[LintIssue]):
        self.filename = filename
        self.catalog = catalog
        self.issues = issues
        self.rule_id: str | None = None

    def err(self, line: int, message: str, hint: str = "", level: Level = Level.ERROR) -> None:
        self.issues.append(LintIssue(self.filename, line, self.rule_id, message, hint, level))


def _feature_ok(ctx: _Ctx, name: Any, line: int) -> Feature | None:
    if not isinstance(name, str):
        ctx.err(line, f"feature name must be a string, got {name!r}")
        return None
    if name.startswith("probe_") and name not in ctx.catalog:
        # Probes are open-ended (the collector may add more); only their type is unknown.
        return Feature(name, "*", "", "collector probe", "probes")
    spec = ctx.catalog.get(name)
    if spec is None:
        close = difflib.get_close_matches(name, list(ctx.catalog), n=1)
        ctx.err(line, f"unknown feature {name!r}", f"did you mean {close[0]!r}?" if close else "see docs/features.md for the catalog")
    return spec


def _compile_condition(ctx: _Ctx, name: Any, spec: Any, line: int) -> Condition | None:
    feat = _feature_ok(ctx, name, line)
    if isinstance(spec, dict):
        if len(spec) != 1:
            ctx.err(getattr(spec, "line", line), f"{name}: a condition has exactly one operator, got {sorted(spec)}",
                    "split it into two conditions on the same feature (use `any:` groups for OR)")
            return None
        op, arg = next(iter(spec.items()))
    else:
        op, arg = "eq", spec
    if op not in OPERATORS:
        close = difflib.get_close_matches(str(op), list(OPERATORS), n=1)
        ctx.err(line, f"{name}: unknown operator {op!r}", f"did you mean {close[0]!r}?" if close else f"one of {', '.join(OPERATORS)}")
        return None
    if feat is not None and feat.type != "*" and OPERATORS[op] != ("*",) and feat.type not in OPERATORS[op]:
        ctx.err(line, f"{name}: operator {op!r} does not apply to a {feat.type} feature",
                {"list": "use contains / contains_any", "str": "use eq / in / regex", "bool": "use eq: true|false"}.get(feat.type, "pick an operator for this type"))
        return None
    # Argument shape.
    if op in ("in", "not_in", "contains_any") and not (isinstance(arg, list) and arg):
        ctx.err(line, f"{name}: {op} takes a non-empty list")
        return None
    if op in ("gt", "gte", "lt", "lte") and not _is_number(arg):
        ctx.err(line, f"{name}: {op} takes a number, got {arg!r}")
        return None
    if op == "between" and not (isinstance(arg, list) and len(arg) == 2 and all(_is_number(a) for a in arg) and arg[0] <= arg[1]):
        ctx.err(line, f"{name}: between takes [low, high] with low <= high")
        return None
    if op in ("present", "not_empty") and not isinstance(arg, bool):
        ctx.err(line, f"{name}: {op} takes true or false")
        return None
    if op == "regex":
        if not isinstance(arg, str):
            ctx.err(line, f"{name}: regex takes a string")
            return None
        if arg.endswith("\n"):
            ctx.err(line, f"{name}: regular expression ends with a newline", "use >- or a quoted string instead of > in YAML")
            return None
        try:
            re.compile(arg)
        except re.error as exc:
            ctx.err(line, f"{name}: regular expression does not compile: {exc}", "escape special characters with \\ (and quote the string)")
            return None
    if feat is not None and op in ("eq", "ne") and feat.type == "bool" and not isinstance(arg, bool):
        ctx.err(line, f"{name}: a bool feature compares with true or false, got {arg!r}")
        return None
    if not isinstance(name, str):
        return None
    return Condition(feature=name, op=op, arg=tuple(arg) if isinstance(arg, list) else arg,
                     test=_predicate(op, arg), needs_value=not (op == "present" and arg is False))


def _compile_group(ctx: _Ctx, group: Any, where: str, line: int) -> tuple[Condition, ...] | None:
    if not isinstance(group, dict) or not group:
        ctx.err(getattr(group, "line", line), f"{where} must be a non-empty map of feature: condition")
        return None
    out = []
    for name, spec in group.items():
        c = _compile_condition(ctx, name, spec, getattr(group, "line", line))
        if c is not None:
            out.append(c)
    return tuple(out) if len(out) == len(group) else None


_RULE_KEYS = {"id", "title", "family", "severity", "weight", "status", "references", "description", "when", "any", "tests"}


def compile_rule(ctx: _Ctx, raw: Any, default_family: str | None) -> Rule | None:
    line = getattr(raw, "line", 0)
    if not isinstance(raw, dict):
        ctx.err(line, "a rule must be a map")
        return None
    rid = raw.get("id")
    ctx.rule_id = rid if isinstance(rid, str) else None
    n_before = sum(1 for i in ctx.issues if i.level is Level.ERROR)
    for k in raw:
        if k not in _RULE_KEYS:
            close = difflib.get_close_matches(str(k), list(_RULE_KEYS), n=1)
            ctx.err(line, f"unknown rule key {k!r}", f"did you mean {close[0]!r}?" if close else "")
    if not isinstance(rid, str) or not RULE_ID.match(rid):
        ctx.err(line, f"rule id {rid!r} is not of the form family.artefact", "e.g. playwright.fill-without-keys: lower case, dots between parts")
    title = raw.get("title")
    if not isinstance(title, str) or not title.strip():
        ctx.err(line, "missing title", "one line saying what the rule sees, for the analyst reading a decision")
    family = raw.get("family", default_family)
    if not isinstance(family, str) or not family:
        ctx.err(line, "missing family", "set `family:` on the rule or at the top of the file")
    sev_raw = raw.get("severity", "medium")
    try:
        severity = Severity(sev_raw)
    except ValueError:
        ctx.err(line, f"severity {sev_raw!r} is not one of {', '.join(s.value for s in Severity)}")
        severity = Severity.MEDIUM
    weight = raw.get("weight", severity.weight)
    if not _is_number(weight) or not 0 <= weight <= 1:
        ctx.err(line, f"weight {weight!r} must be a number in [0, 1]")
        weight = severity.weight
    st_raw = raw.get("status", "stable")
    try:
        status = Status(st_raw)
    except ValueError:
        ctx.err(line, f"status {st_raw!r} is not one of {', '.join(s.value for s in Status)}")
        status = Status.STABLE
    refs = raw.get("references")
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) and r.strip() for r in refs):
        ctx.err(line, "missing references", "link the tool's source or docs that show the artefact")
        refs = []
    when = raw.get("when")
    anys = raw.get("any")
    if when is None and anys is None:
        ctx.err(line, "a rule needs `when:` (all of) and/or `any:` (one of) conditions")
    all_conds = _compile_group(ctx, when, "when", line) if when is not None else ()
    any_groups: list[tuple[Condition, ...]] = []
    if anys is not None:
        if not isinstance(anys, list) or not anys:
            ctx.err(getattr(anys, "line", line), "`any:` must be a non-empty list of condition maps")
        else:
            for i, g in enumerate(anys):
                cg = _compile_group(ctx, g, f"any[{i}]", getattr(anys, "line", line))
                if cg is not None:
                    any_groups.append(cg)
    tests = _compile_tests(ctx, raw.get("tests"), line)
    n_after = sum(1 for i in ctx.issues if i.level is Level.ERROR)
    if n_after > n_before or all_conds is None:
        return None
    return Rule(id=rid, title=title.strip(), family=family, severity=severity, weight=float(weight), status=status,
                references=tuple(refs), description=str(raw.get("description", "")).strip(), all=all_conds,
                any=tuple(any_groups), tests=tests, source=ctx.filename, line=line)


def _compile_tests(ctx: _Ctx, raw: Any, line: int) -> tuple[TestCase, ...]:
    if not isinstance(raw, list) or not raw:
        ctx.err(line, "missing tests", "add at least one `expect: match` and one `expect: no-match` case")
        return ()
    out = []
    for i, t in enumerate(raw):
        tl = getattr(t, "line", line)
        if not isinstance(t, dict):
            ctx.err(tl, f"tests[{i}] must be a map")
            continue
        expect = t.get("expect")
        if expect not in ("match", "no-match"):
            ctx.err(tl, f"tests[{i}].expect must be 'match' or 'no-match', got {expect!r}")
            continue
        feats, fixture = t.get("features"), t.get("fixture")
        if (feats is None) == (fixture is None):
            ctx.err(tl, f"tests[{i}] needs exactly one of `features:` (inline) or `fixture:` (recorded telemetry)")
            continue
        if feats is not None:
            if not isinstance(feats, dict):
                ctx.err(tl, f"tests[{i}].features must be a map")
                continue
            for name in feats:
                _feature_ok(ctx, name, tl)
        if fixture is not None and not isinstance(fixture, str):
            ctx.err(tl, f"tests[{i}].fixture must be a path")
            continue
        out.append(TestCase(expect=expect == "match", features=dict(feats) if feats is not None else None, fixture=fixture,
                            name=str(t.get("name", f"{expect} #{i}")), line=tl))
    if out and not any(t.expect for t in out):
        ctx.err(line, "no positive test", "add a case with `expect: match`")
    if out and all(t.expect for t in out):
        ctx.err(line, "no negative test", "add a case with `expect: no-match`, ideally a real browser's")
    return tuple(out)


_FILE_KEYS = {"family", "title", "description", "references", "rules"}


def compile_file(path: Path, catalog: dict[str, Feature], issues: list[LintIssue], display: str | None = None) -> list[Rule]:
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        issues.append(LintIssue(name, 0, None, f"cannot read: {exc}"))
        return []
    data = load_yaml(text, name, issues)
    if data is None:
        return []
    if not isinstance(data, dict):
        issues.append(LintIssue(name, 1, None, "a signature file is a map with `family:` and `rules:`"))
        return []
    for k in data:
        if k not in _FILE_KEYS:
            issues.append(LintIssue(name, data.line, None, f"unknown top-level key {k!r}", f"one of {', '.join(sorted(_FILE_KEYS))}"))
    rules_raw = data.get("rules")
    if not isinstance(rules_raw, list) or not rules_raw:
        issues.append(LintIssue(name, data.line, None, "no rules", "add a `rules:` list"))
        return []
    ctx = _Ctx(name, catalog, issues)
    out = []
    for raw in rules_raw:
        r = compile_rule(ctx, raw, data.get("family"))
        if r is not None:
            out.append(r)
    return out


def finalize(rules: Iterable[Rule], issues: list[LintIssue]) -> None:
    """Set-wide checks: unique ids and unique titles."""
    seen: dict[str, Rule] = {}
    titles: dict[str, Rule] = {}
    for r in rules:
        if r.id in seen:
            o = seen[r.id]
            issues.append(LintIssue(r.source, r.line, r.id, f"duplicate rule id (also at {o.source}:{o.line})", "rule ids are stable and unique: rename one"))
        seen[r.id] = r
        if r.title in titles and titles[r.title].id != r.id:
            o = titles[r.title]
            issues.append(LintIssue(r.source, r.line, r.id, f"same title as {o.id}", "titles tell rules apart in a decision: reword one", Level.WARNING))
        titles[r.title] = r

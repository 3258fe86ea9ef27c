"""Running every rule's own test cases: inline feature records and recorded telemetry fixtures."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from signatures.matcher import SignatureSet, rule_matches
from signatures.schema import Rule, TestCase


@dataclass(frozen=True, slots=True)
class CaseResult:
    rule: Rule
    case: TestCase
    passed: bool
    detail: str = ""


def fixture_features(path: Path) -> dict[str, Any]:
    """Decode a recorded telemetry fixture (msgpack, as the collector sent it) into features."""
    from edge.telemetry import decode
    from fingerprints import RequestInfo, extract

    raw = path.read_bytes()
    telemetry = decode(raw)
    # A fixture may carry the HTTP headers the server saw beside it: <name>.headers.json.
    headers_path = path.with_suffix(".headers.json")
    request = None
    if headers_path.exists():
        import json

        request = RequestInfo.from_headers("POST", "/", json.loads(headers_path.read_text()))
    return extract(telemetry, request)


def run_tests(sigset: SignatureSet) -> list[CaseResult]:
    results = []
    cache: dict[Path, dict[str, Any]] = {}
    for rule in sigset.rules:
        for case in rule.tests:
            if case.features is not None:
                feats = case.features
            else:
                path = (Path(rule.source).parent / case.fixture).resolve()
                try:
                    feats = cache[path] if path in cache else cache.setdefault(path, fixture_features(path))
                except (OSError, ValueError) as exc:
                    results.append(CaseResult(rule, case, False, f"fixture {case.fixture}: {exc}"))
                    continue
            got = rule_matches(rule, feats)
            ok = got is case.expect
            detail = "" if ok else f"expected {'match' if case.expect else 'no match'}, got {'match' if got else 'no match'}"
            results.append(CaseResult(rule, case, ok, detail))
    return results

"""The rule engine (schema, loader, compiler, matcher) and the shipped signature sets (``sets/``)."""
from pathlib import Path

from signatures.matcher import Explanation, SignatureSet, lint_dir
from signatures.schema import LintIssue, Rule, Severity, SignatureError, Status

SHIPPED = Path(__file__).resolve().parent / "sets"

__all__ = ["SHIPPED", "Explanation", "LintIssue", "Rule", "Severity", "SignatureError", "SignatureSet", "Status", "lint_dir"]

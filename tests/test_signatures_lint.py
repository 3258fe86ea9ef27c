"""Lint: every shipped file loads; every file in testdata/bad fails with a located, actionable message."""
import shutil
from pathlib import Path

import pytest

from edge.cli import main
from signatures import SHIPPED, SignatureError, SignatureSet, lint_dir
from signatures.schema import Level

DATA = Path(__file__).parent / "testdata" / "signatures"
BAD = sorted((DATA / "bad").glob("*.yml"))

EXPECTED = {
    "duplicate-id": "duplicate rule id",
    "unknown-feature": "unknown feature 'webdrivr'",
    "bad-operator": "unknown operator 'greater'",
    "operator-type": "does not apply to a str feature",
    "missing-tests": "missing tests",
    "no-negative-test": "no negative test",
    "missing-references": "missing references",
    "bad-regex": "does not compile",
    "duplicate-key": "duplicate key 'title'",
    "invalid-yaml": "not valid YAML",
    "bad-id": "is not of the form family.artefact",
    "bad-severity": "severity 'extreme'",
    "python-tag": "not valid YAML",
}


def test_every_bad_case_has_an_expectation():
    assert {p.stem for p in BAD} == set(EXPECTED)


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_file_is_refused_with_location(tmp_path, path):
    shutil.copy(path, tmp_path / path.name)
    _, issues, _ = lint_dir(tmp_path)
    errors = [i for i in issues if i.level is Level.ERROR]
    assert any(EXPECTED[path.stem] in i.message for i in errors), [str(i) for i in errors]
    assert all(i.file.endswith(path.name) and i.line > 0 for i in errors)
    with pytest.raises(SignatureError):
        SignatureSet.load(tmp_path)


def test_all_problems_reported_in_one_run():
    _, issues, _ = lint_dir(DATA / "bad")
    files = {Path(i.file).stem for i in issues if i.level is Level.ERROR}
    assert files == set(EXPECTED)


def test_hints_are_actionable():
    _, issues, _ = lint_dir(DATA / "bad")
    typo = next(i for i in issues if "webdrivr" in i.message)
    assert typo.rule_id == "example.typo" and "webdriver" in typo.hint
    assert "example.typo" in str(typo) and "unknown-feature.yml:" in str(typo)


def test_good_set_loads_and_test_status_is_kept():
    s = SignatureSet.load(DATA / "good")
    assert s.by_id["example.ua-regex"].status.value == "test"
    hits = s.match({"ua": "curl/8.0", "webdriver": True})
    assert {(h.id, h.status) for h in hits} == {("example.webdriver", "stable"), ("example.ua-regex", "test")}


def test_shipped_sets_lint_clean(capsys):
    assert main(["signatures", "lint", str(SHIPPED)]) == 0
    assert "0 error(s)" in capsys.readouterr().out


def test_shipped_sets_pass_their_own_tests(capsys):
    assert main(["signatures", "test", str(SHIPPED)]) == 0
    out = capsys.readouterr().out
    assert " 0 failed" in out


def test_lint_cli_exits_nonzero_and_lists_everything(capsys):
    assert main(["signatures", "lint", str(DATA / "bad")]) == 1
    out = capsys.readouterr().out
    for stem in EXPECTED:
        assert f"{stem}.yml:" in out


def test_version_is_a_content_hash(tmp_path):
    shutil.copy(DATA / "good" / "minimal.yml", tmp_path / "a.yml")
    v1 = SignatureSet.load(tmp_path).version
    assert SignatureSet.load(tmp_path).version == v1
    (tmp_path / "a.yml").write_text((tmp_path / "a.yml").read_text().replace("severity: high", "severity: medium"))
    assert SignatureSet.load(tmp_path).version != v1

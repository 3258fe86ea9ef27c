import pytest

from edge.cli import main
from edge.config import ConfigError, load_config


def test_defaults_and_environment_overrides():
    c = load_config(env={"TELL_PORT": "9001", "TELL_POLICY_FAIL_MODE": "fail_closed", "TELL_SECRET": "abc",
                         "TELL_ROUTES": '{"/api/dm": "message"}'})
    assert c.port == 9001 and c.policy.fail_mode == "fail_closed"
    assert c.tokens.keys == {"k1": "abc"} and c.tokens.active_kid == "k1"
    assert dict(c.routes) == {"/api/dm": "message"}


def test_toml_file_with_thresholds(tmp_path):
    p = tmp_path / "tell.toml"
    p.write_text('port = 7000\n[policy.thresholds]\npost = {challenge = 0.2, block = 0.5}\n[tokens]\nkeys = {a = "1", b = "2"}\nactive_kid = "b"\n')
    c = load_config(p, env={})
    assert c.port == 7000 and c.policy.thresholds["post"].block == 0.5
    assert c.policy.thresholds["register"].block == 0.75  # untouched actions keep defaults
    assert c.tokens.active_kid == "b"


@pytest.mark.parametrize(
    "toml, message",
    [
        ("prot = 1", "prot: unknown configuration key"),
        ("port = 'x'", "port: cannot read"),
        ("[policy]\nfail_mode = 'maybe'", "policy.fail_mode"),
        ("[policy.thresholds]\npost = {challenge = 0.9, block = 0.1}", "challenge <= block"),
        ("[policy.thresholds]\nlike = {challenge = 0.1, block = 0.2}", "unknown action"),
        ("[tokens]\nkeys = {a = '1'}\nactive_kid = 'z'", "active_kid"),
        ("[routes]\n'/x' = 'like'", "routes./x"),
        ("port = [", "config file"),
        ("[enforcement]\nstreak = 'many'", "enforcement.streak"),
        ("[enforcement]\nstrek = 3", "enforcement.strek"),
    ],
)
def test_bad_config_names_the_key(tmp_path, toml, message):
    p = tmp_path / "tell.toml"
    p.write_text(toml)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_config(p, env={})


def test_config_is_frozen():
    c = load_config(env={})
    with pytest.raises(AttributeError):
        c.port = 1  # type: ignore[misc]


def test_config_show_masks_secrets(capsys, monkeypatch):
    monkeypatch.setenv("TELL_ADMIN_TOKEN", "very-secret-admin")
    monkeypatch.setenv("TELL_SECRET", "very-secret-key")
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    assert "very-secret" not in out and "***" in out

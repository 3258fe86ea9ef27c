"""Declared agents: RFC 9421 signatures verified the Web Bot Auth way (edge/httpsig.py), and what the
sidecar does with the result. Keys are generated here; every bad input is a clear status, never a 500."""
from __future__ import annotations

import base64
import dataclasses
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from edge import httpsig
from edge.app import make_app
from edge.config import ConfigError, load_config

NOW = 1_767_000_000
AGENT_DIR = "https://agent.example/.well-known/http-message-signatures-directory"


def jwk(key: Ed25519PrivateKey) -> dict:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def keydir(tmp_path, key):
    d = tmp_path / "agents"
    d.mkdir()
    (d / "example-agent.json").write_text(json.dumps({"agent": "Example Agent", "signature_agent": [AGENT_DIR], "keys": [jwk(key)]}))
    return d


@pytest.fixture
def keys(keydir) -> httpsig.KeyDirectory:
    return httpsig.KeyDirectory.load(keydir)


def message(**kw) -> httpsig.Message:
    headers = {"host": "social.example", "signature-agent": f'"{AGENT_DIR}"', "user-agent": "ExampleAgent/1.0"}
    headers.update(kw.pop("headers", {}))
    return httpsig.Message(**{"method": "POST", "authority": "social.example", "path": "/post", "query": "", "scheme": "https",
                              "headers": headers, **kw})


def signed(msg: httpsig.Message, key, **kw) -> httpsig.Message:
    kw.setdefault("created", NOW - 10)
    sig = httpsig.sign(msg, key, **kw)
    return dataclasses.replace(msg, headers={**msg.headers, **{k.lower(): v for k, v in sig.items()}})


def with_headers(msg: httpsig.Message, **h: str) -> httpsig.Message:
    return dataclasses.replace(msg, headers={**msg.headers, **h})


def test_keyid_is_the_rfc7638_thumbprint():
    # RFC 8037 appendix A.3: the thumbprint of the example Ed25519 key.
    example = {"crv": "Ed25519", "kty": "OKP", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert httpsig.jwk_thumbprint(example) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_valid_signature_verifies_and_names_the_agent(keys, key):
    v = httpsig.verify(signed(message(), key), keys, now=NOW)
    assert v.status == httpsig.VERIFIED and v.verified
    assert v.agent == "Example Agent" and v.label == "sig1"
    assert v.features() == {"req_agent_signature": "verified", "req_agent_name": "Example Agent"}


def _tamper_signature(msg):
    label, _, b64 = msg.headers["signature"].partition("=")
    raw = bytearray(base64.b64decode(b64.strip(":")))
    raw[0] ^= 1
    return with_headers(msg, signature=f"{label}=:{base64.b64encode(bytes(raw)).decode()}:")


@pytest.mark.parametrize(
    "mutate, status",
    [
        pytest.param(lambda m: m, httpsig.VERIFIED, id="valid"),
        pytest.param(_tamper_signature, httpsig.BAD_SIGNATURE, id="tampered-signature"),
        pytest.param(lambda m: dataclasses.replace(m, path="/message"), httpsig.BAD_SIGNATURE, id="tampered-path"),
        pytest.param(lambda m: dataclasses.replace(m, method="DELETE"), httpsig.BAD_SIGNATURE, id="tampered-method"),
        pytest.param(lambda m: dataclasses.replace(m, authority="other.example"), httpsig.BAD_SIGNATURE, id="tampered-authority"),
        pytest.param(lambda m: with_headers(m, **{"signature-agent": '"https://evil.example/dir"'}), httpsig.BAD_SIGNATURE,
                     id="tampered-signature-agent"),
        pytest.param(lambda m: {k: v for k, v in m.headers.items() if k != "signature-input"}, httpsig.MALFORMED,
                     id="missing-signature-input"),
        pytest.param(lambda m: {k: v for k, v in m.headers.items() if k != "signature"}, httpsig.MALFORMED, id="missing-signature"),
        pytest.param(lambda m: with_headers(m, **{"signature-input": 'sig1=("@authority" '}), httpsig.MALFORMED,
                     id="malformed-signature-input"),
        pytest.param(lambda m: with_headers(m, signature="sig1=:not base64!:"), httpsig.MALFORMED, id="malformed-signature"),
        pytest.param(lambda m: with_headers(m, signature='sig1="a string"'), httpsig.MALFORMED, id="signature-not-bytes"),
        pytest.param(lambda m: with_headers(m, signature="sig2=:AAAA:"), httpsig.MALFORMED, id="signature-other-label"),
        pytest.param(lambda m: with_headers(m, **{"signature-input": "sig1=1"}), httpsig.MALFORMED, id="input-not-inner-list"),
        pytest.param(lambda m: with_headers(m, **{"signature-input": "\u00ff\u00fe(((" * 10}), httpsig.MALFORMED, id="garbage"),
        pytest.param(lambda m: with_headers(m, **{"signature-input": "a=" + "x" * 9000}), httpsig.MALFORMED, id="oversized"),
    ],
)
def test_each_tampering_is_a_clear_status(keys, key, mutate, status):
    msg = signed(message(), key)
    out = mutate(msg)
    if isinstance(out, dict):
        out = dataclasses.replace(msg, headers=out)
    v = httpsig.verify(out, keys, now=NOW)
    assert v.status == status, v.reason
    assert v.reason and (v.agent is None) is (status != httpsig.VERIFIED)


@pytest.mark.parametrize(
    "created, expires, now, status",
    [
        (NOW - 10, NOW + 290, NOW, httpsig.VERIFIED),
        (NOW - 400, NOW - 100, NOW, httpsig.EXPIRED),
        (NOW - 400, NOW - 30, NOW, httpsig.VERIFIED),  # within the 60 s clock-skew allowance
        (NOW + 600, NOW + 900, NOW, httpsig.NOT_YET_VALID),
        (NOW + 30, NOW + 300, NOW, httpsig.VERIFIED),  # a slow clock, not an attack
        (NOW - 10, NOW - 20, NOW, httpsig.MALFORMED),  # expires before created
        (NOW - 10, NOW + 7 * 86400, NOW, httpsig.MALFORMED),  # a week-long bearer credential
    ],
)
def test_validity_window_with_clock_skew(keys, key, created, expires, now, status):
    v = httpsig.verify(signed(message(), key, created=created, expires=expires), keys, now=now)
    assert v.status == status, v.reason


def test_unknown_key_is_its_own_status(keys):
    stranger = Ed25519PrivateKey.generate()
    v = httpsig.verify(signed(message(), stranger), keys, now=NOW)
    assert v.status == httpsig.UNKNOWN_KEY and not v.verified


def test_no_signature_headers_is_absent(keys):
    assert httpsig.verify(message(), keys, now=NOW).status == httpsig.ABSENT


def test_signature_without_web_bot_auth_tag_is_not_a_declared_agent(keys, key):
    msg = signed(message(), key)
    v = httpsig.verify(with_headers(msg, **{"signature-input": msg.headers["signature-input"].replace(';tag="web-bot-auth"', "")}),
                       keys, now=NOW)
    assert v.status == httpsig.NO_WEB_BOT_AUTH


def test_signature_agent_must_be_covered_when_sent(keys, key):
    v = httpsig.verify(signed(message(), key, components=("@authority", "@method", "@path")), keys, now=NOW)
    assert v.status == httpsig.MISSING_COMPONENT and "Signature-Agent" in v.reason


def test_authority_must_be_covered(keys, key):
    v = httpsig.verify(signed(message(), key, components=("@method", "@path", "signature-agent")), keys, now=NOW)
    assert v.status == httpsig.MISSING_COMPONENT


def test_target_uri_and_query_are_covered_components(keys, key):
    msg = message(path="/comment", query="post=7")
    sig = signed(msg, key, components=("@target-uri", "@query", "@method", "signature-agent"))
    assert httpsig.verify(sig, keys, now=NOW).verified
    assert httpsig.verify(dataclasses.replace(sig, query="post=8"), keys, now=NOW).status == httpsig.BAD_SIGNATURE


def test_signature_agent_as_dictionary_member(keys, key):
    msg = message(headers={"signature-agent": f'agent1="{AGENT_DIR}"'})
    headers = httpsig.sign(msg, key, components=("@authority", "@method"), created=NOW - 5)
    # Later drafts: Signature-Agent is a dictionary and the component names its member.
    items = [("@authority", {}), ("@method", {}), ("signature-agent", {"key": "agent1"})]
    params = {"created": NOW - 5, "expires": NOW + 295, "keyid": httpsig.jwk_thumbprint(jwk(key)), "tag": "web-bot-auth"}
    base = httpsig.signature_base(msg, items, params)
    assert base.decode().splitlines()[2] == f'"signature-agent";key="agent1": "{AGENT_DIR}"'
    from http_sf.innerlist import ser_innerlist

    headers = {"signature-input": "sig1=" + ser_innerlist((items, params)),
               "signature": f"sig1=:{base64.b64encode(key.sign(base)).decode()}:"}
    assert httpsig.verify(with_headers(msg, **headers), keys, now=NOW).verified


def test_agent_declaring_another_directory_is_a_mismatch(keys, key):
    msg = message(headers={"signature-agent": '"https://someone-else.example/dir"'})
    assert httpsig.verify(signed(msg, key), keys, now=NOW).status == httpsig.AGENT_MISMATCH


def test_unsupported_components_and_algorithms(keys, key):
    msg = signed(message(), key)
    sig_input = msg.headers["signature-input"]
    v = httpsig.verify(with_headers(msg, **{"signature-input": sig_input.replace('"@path"', '"@query-param";name="a"')}), keys, now=NOW)
    assert v.status == httpsig.UNSUPPORTED
    v = httpsig.verify(with_headers(msg, **{"signature-input": sig_input.replace('alg="ed25519"', 'alg="rsa-pss-sha512"')}), keys, now=NOW)
    assert v.status == httpsig.UNSUPPORTED


@pytest.mark.parametrize(
    "content, message_part",
    [
        ("not json", "not a readable JSON"),
        ("[]", "'keys' array"),
        ('{"keys": [{"kty": "RSA", "n": "x", "e": "AQAB"}]}', "only Ed25519"),
        ('{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}]}', "not a base64url Ed25519"),
        ('{"agent": 3, "keys": []}', "'agent' must be a string"),
    ],
)
def test_bad_key_directory_fails_at_start_naming_the_file(tmp_path, content, message_part):
    (tmp_path / "bad.json").write_text(content)
    with pytest.raises(httpsig.KeyDirectoryError, match=message_part) as info:
        httpsig.KeyDirectory.load(tmp_path)
    assert "bad.json" in str(info.value)


def test_plain_jwks_takes_its_agent_name_from_the_file(tmp_path, key):
    (tmp_path / "crawler-co.json").write_text(json.dumps({"keys": [jwk(key)]}))
    d = httpsig.KeyDirectory.load(tmp_path)
    assert len(d) == 1 and d.get(httpsig.jwk_thumbprint(jwk(key))).agent == "crawler-co"


def test_no_key_directory_configured_means_no_agents():
    assert len(httpsig.KeyDirectory.load("")) == 0


# --- through the sidecar ---------------------------------------------------------------------------

def _config(tmp_path, keydir, **env):
    return load_config(env={"TELL_SECRET": "s" * 32, "TELL_STORE": f"sqlite:///{tmp_path}/tell.sqlite3",
                            "TELL_NETWORK_AGENT_KEYS_DIR": str(keydir), **env})


def _gateway_headers(key, *, now: int | None = None) -> dict[str, str]:
    msg = message()
    sig = httpsig.sign(msg, key, created=now)
    return {"X-Original-Method": "POST", "X-Original-URI": "/post", "X-Forwarded-Host": "social.example",
            "X-Forwarded-Proto": "https", "Signature-Agent": msg.headers["signature-agent"], "User-Agent": "ExampleAgent/1.0", **sig}


@pytest.mark.parametrize("policy, status, verdict", [("challenge", 401, "challenge"), ("allow", 200, "allow"), ("block", 403, "block")])
async def test_sidecar_labels_a_verified_agent_and_applies_the_policy(aiohttp_client, tmp_path, keydir, key, policy, status, verdict):
    client = await aiohttp_client(make_app(_config(tmp_path, keydir, TELL_NETWORK_DECLARED_AGENT_WRITES=policy)))
    r = await client.post("/v1/decide", headers=_gateway_headers(key))
    body = await r.json()
    assert r.status == status and body["decision"] == verdict
    assert "declared-agent.verified" in r.headers["X-Tell-Rules"].split(",")
    assert "declared-agent" in r.headers["X-Tell-Families"].split(",")
    assert body["reasons"][0].startswith("declared agent 'Example Agent'")


@pytest.mark.parametrize(
    "mutate, rule",
    [
        (lambda h: {**h, "X-Original-URI": "/message"}, "declared-agent.signature-invalid"),
        (lambda h: {**h, "Signature-Input": "sig1=((("}, "declared-agent.signature-malformed"),
        (lambda h: {**h, "Signature": "\u00ff garbage"}, "declared-agent.signature-malformed"),
        (lambda h: {k: v for k, v in h.items() if k != "Signature-Input"}, "declared-agent.signature-malformed"),
    ],
)
async def test_sidecar_never_500s_on_a_bad_signature(aiohttp_client, tmp_path, keydir, key, mutate, rule):
    client = await aiohttp_client(make_app(_config(tmp_path, keydir, TELL_NETWORK_DECLARED_AGENT_WRITES="allow")))
    r = await client.post("/v1/decide", headers=mutate(_gateway_headers(key)))
    assert r.status in (401, 403)  # not verified, so not the agents' "allow": the usual policy
    assert rule in r.headers["X-Tell-Rules"].split(",")
    assert "declared-agent.verified" not in r.headers["X-Tell-Rules"]


async def test_expired_signature_through_the_sidecar(aiohttp_client, tmp_path, keydir, key):
    client = await aiohttp_client(make_app(_config(tmp_path, keydir)))
    r = await client.post("/v1/decide", headers=_gateway_headers(key, now=1_000_000_000))
    assert "declared-agent.signature-outside-validity" in r.headers["X-Tell-Rules"].split(",")


def test_bad_declared_agent_policy_is_a_config_error(tmp_path, keydir):
    with pytest.raises(ConfigError, match="declared_agent_writes"):
        make_app(_config(tmp_path, keydir, TELL_NETWORK_DECLARED_AGENT_WRITES="maybe"))

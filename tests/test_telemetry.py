"""The decoder: every documented limit answered with the one error type, naming the field."""
import math

import msgpack
import pytest

from edge.telemetry import MAX_BODY_BYTES, TelemetryError, decode, encode


def minimal(**kw):
    t = {"v": 1, "sid": "abc", "page": "/register", "sent_ms": 1200.5,
         "device": {"ua": "Mozilla/5.0", "screen": [1920, 1080, 1920, 1040, 24], "window": [1920, 1040, 1920, 947]},
         "markers": {"webdriver": False, "chrome": [True, True, False, True]},
         "events": [["mm", 10.0, 1, 5, 5, 1, 1, 5, 105], ["kd", 20.5, 1, "l", 0, 0, 0], ["ku", 90.0, 1, "l", 0, 0, 0]],
         "dropped": 0, "fields": [[0, "text", 5]]}
    t.update(kw)
    return t


def test_valid_payload_round_trips():
    t = minimal()
    assert decode(encode(t)) == t


def _ext():
    return msgpack.packb({"v": 1, "x": msgpack.ExtType(5, b"abc")})


def _deep(n):
    # msgpack's own packer refuses this depth, so write the bytes: {"v": 1, "probes": [[[...1]]]}
    return b"\x82\xa1v\x01\xa6probes" + b"\x91" * n + b"\x01"


def _dup_keys():
    # {"v": 1, "v": 1}: a hand-built map with a repeated key
    return b"\x82\xa1v\x01\xa1v\x01"


@pytest.mark.parametrize(
    "body, field",
    [
        (b"", "$"),
        (encode(minimal())[:-3], "$"),  # truncated
        (msgpack.packb([1, 2]), "$"),
        (msgpack.packb({"v": 2}), "v"),
        (msgpack.packb({"sid": "x"}), "v"),
        (msgpack.packb({"v": "1"}), "v"),
        (encode(minimal(sid=7)), "sid"),
        (encode(minimal(events=[["mm", math.nan, 1, 0, 0, 0, 0, 0, 0]])), "events[0][1]"),
        (encode(minimal(events=[["mm", math.inf, 1, 0, 0, 0, 0, 0, 0]])), "events[0][1]"),
        (encode(minimal(events=[["kd", 5, 1, "l", 0, 0, 0], ["ku", 4, 1, "l", 0, 0, 0]])), "events[1][1]"),
        (encode(minimal(events=[["zz", 5, 1]])), "events[0][0]"),
        (encode(minimal(events=[["kd", 5, 1, "l", 0, 0]])), "events[0]"),
        (encode(minimal(events=[["kd", 5, 2, "l", 0, 0, 0]])), "events[0][2]"),
        (encode(minimal(events=[["kd", 5, 1, "Q", 0, 0, 0]])), "events[0][3]"),
        (encode(minimal(events=[["mm", 5, 1, "x", 0, 0, 0, 0, 0]])), "events[0][3]"),
        (encode(minimal(events=[["mm", 1, 1, 0, 0, 0, 0, 0, 0]] * 5000)), "$"),
        (encode(minimal(device={"ua": "x" * 600})), "$"),
        (encode(minimal(device={"ua": 5})), "device.ua"),
        (encode(minimal(device={"screen": [1, 2, 3]})), "device.screen"),
        (encode(minimal(device={"hw_concurrency": -1})), "device.hw_concurrency"),
        (encode(minimal(markers={"webdriver": "yes"})), "markers.webdriver"),
        (encode(minimal(markers={"cdc": [1]})), "markers.cdc[0]"),
        (encode(minimal(probes={"x": {"a": 1}})), "probes.x"),
        (encode(minimal(fields=[[0, "text"]])), "fields[0]"),
        (encode(minimal(dropped=-1)), "dropped"),
        (msgpack.packb({"v": 1, "x": b"\x00" * 10}, use_bin_type=True), "$"),
        (_ext(), "$"),
        (_deep(2000), "$"),
        (_dup_keys(), "v"),
        (encode(minimal()) + b"\x00", "$"),
        (b"\xc1" * 10, "$"),
        (b"x" * (MAX_BODY_BYTES + 1), "$"),
        (msgpack.packb({"v": 1, 1: 2}), "$"),
    ],
)
def test_bad_telemetry_names_the_field(body, field):
    with pytest.raises(TelemetryError) as info:
        decode(body)
    assert info.value.field == field
    assert info.value.to_json()["error"] == "bad_telemetry"

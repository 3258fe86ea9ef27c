"""Property: whatever a client sends, ``decode`` returns a valid record or raises ``TelemetryError`` —
nothing else, ever — and ``extract`` turns every record ``decode`` accepts into features of the
documented types (fingerprints/catalog.py).

Inputs: arbitrary bytes; arbitrary msgpack structures; telemetry-shaped maps with arbitrary values
in the schema's own fields; byte-level and field-level mutations of a valid payload. Bounded
(``max_examples`` below, no deadline) and deterministic (``derandomize``): the same examples run
on every machine, so a CI failure reproduces locally.
"""
from __future__ import annotations

import math

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.telemetry import EVENT_FIELDS, KEY_CLASSES, TelemetryError, decode, encode, validate
from fingerprints import RequestInfo, extract
from fingerprints.catalog import all_features
from tests.payloads import browser_headers, headless_playwright, person

FUZZ = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
CATALOG = all_features()
REQUEST = RequestInfo.from_headers("POST", "/post", browser_headers(), "203.0.113.9")
_TYPES = {"bool": (bool,), "int": (int,), "float": (int, float), "str": (str,), "list": (list, tuple)}


def check(body: bytes) -> None:
    """The property, for one input."""
    try:
        record = decode(body)
    except TelemetryError as exc:
        assert exc.field and exc.detail and exc.to_json()["error"] == "bad_telemetry"
        return
    assert isinstance(record, dict) and record["v"] == 1
    assert validate(record) is record  # what decode accepts, the schema accepts
    for request in (None, REQUEST):
        feats = extract(record, request)
        assert isinstance(feats, dict)
        for name, value in feats.items():
            assert isinstance(name, str)
            spec = CATALOG.get(name)
            if spec is None:
                # Probe keys pass through as probe_<key>: a scalar or a list of scalars, as validated.
                assert name.startswith("probe_"), f"feature {name!r} is not in the catalog"
                continue
            if value is None:
                continue
            assert isinstance(value, _TYPES[spec.type]), (name, spec.type, type(value), value)
            if spec.type != "bool":
                assert not isinstance(value, bool) or spec.type == "list", (name, value)
            if isinstance(value, float):
                assert math.isfinite(value), (name, value)


# --- arbitrary bytes and structures ------------------------------------------------------------

@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes(body):
    check(body)


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40), st.binary(max_size=20),
)
structures = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=8),
                            st.dictionaries(st.one_of(st.text(max_size=12), st.integers(-5, 5)), inner, max_size=8)),
    max_leaves=40,
)


@FUZZ
@given(structures)
def test_arbitrary_msgpack_structures(obj):
    check(msgpack.packb(obj, use_bin_type=True))


# --- telemetry-shaped maps: the schema's fields with arbitrary (and plausible) values ------------

numbers = st.one_of(st.integers(-(2**40), 2**40), st.floats(allow_nan=True, allow_infinity=True),
                    st.floats(min_value=0, max_value=1e6))
small_scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=30))


@st.composite
def events(draw):
    out, t = [], 0.0
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(sorted(EVENT_FIELDS)))
        t += draw(st.floats(min_value=0, max_value=500))
        fields = []
        for code in EVENT_FIELDS[kind]:
            if code == "n":
                fields.append(draw(st.one_of(st.floats(-5000, 5000), st.integers(-5000, 5000))))
            elif code == "s":
                fields.append(draw(st.one_of(st.sampled_from(sorted(KEY_CLASSES) + ["insertText", "deleteContentBackward", ""]),
                                             st.text(max_size=8))))
            else:
                fields.append(draw(st.sampled_from([0, 1])))
        out.append([kind, t, draw(st.sampled_from([0, 1])), *fields])
    if out and draw(st.booleans()):  # now and then, one broken event anywhere
        i = draw(st.integers(0, len(out) - 1))
        j = draw(st.integers(0, len(out[i]) - 1))
        out[i][j] = draw(small_scalars)
    return out


def _nums(n):
    return st.lists(numbers, min_size=n, max_size=n)


device = st.fixed_dictionaries({}, optional={
    "ua": st.one_of(st.text(max_size=200), st.sampled_from([person()["device"]["ua"], headless_playwright()["device"]["ua"]])),
    "platform": st.one_of(st.none(), st.text(max_size=20)), "language": st.one_of(st.none(), st.text(max_size=10)),
    "languages": st.lists(st.text(max_size=10), max_size=5), "tz": st.one_of(st.none(), st.text(max_size=20)),
    "tz_offset_min": st.one_of(st.none(), st.integers(-2000, 2000)), "screen": _nums(5), "window": _nums(4),
    "dpr": st.one_of(st.none(), numbers), "hw_concurrency": st.one_of(st.none(), st.integers(-1, 5000)),
    "device_memory": st.one_of(st.none(), numbers), "touch_points": st.one_of(st.none(), st.integers(-1, 20000)),
    "plugins": st.one_of(st.none(), st.integers(0, 10)), "mime_types": st.one_of(st.none(), st.integers(0, 10)),
    "webgl_vendor": st.one_of(st.none(), st.text(max_size=20)), "webgl_renderer": st.one_of(st.none(), st.text(max_size=40)),
    "cookie_enabled": st.one_of(st.none(), st.booleans()), "pdf_viewer": st.one_of(st.none(), st.booleans()),
    "uad": st.one_of(st.none(), st.fixed_dictionaries({}, optional={
        "brands": st.lists(st.lists(st.text(max_size=12), min_size=2, max_size=2), max_size=4),
        "mobile": st.one_of(st.none(), st.booleans()), "platform": st.one_of(st.none(), st.text(max_size=12))})),
})
markers = st.fixed_dictionaries({}, optional={
    "webdriver": st.one_of(st.none(), st.booleans()), "chrome": st.lists(st.booleans(), min_size=4, max_size=4),
    "cdc": st.lists(st.text(max_size=10), max_size=3), "globals": st.lists(st.text(max_size=10), max_size=3),
    "doc_attrs": st.lists(st.text(max_size=10), max_size=3), "stack_markers": st.lists(st.text(max_size=10), max_size=3),
    "notif_perm": st.one_of(st.none(), st.sampled_from(["default", "denied", "granted"])),
    "perm_query": st.one_of(st.none(), st.sampled_from(["prompt", "denied", "granted"])),
    "outer_zero": st.one_of(st.none(), st.booleans()), "pw_events": st.one_of(st.none(), st.integers(0, 100)),
})
probes = st.dictionaries(
    st.one_of(st.sampled_from(["cdp", "lies", "ctx_mismatch", "ctx_done", "screen_eq_viewport", "mm_dpr", "voices", "codecs",
                               "tz_locale", "locale_mismatch", "dom", "untrusted_after_trusted", "tamper", "errors"]),
              st.text(max_size=10)),
    st.one_of(small_scalars, st.lists(small_scalars, max_size=5)), max_size=8)
telemetry = st.fixed_dictionaries({"v": st.just(1)}, optional={
    "sid": st.text(max_size=70), "page": st.text(max_size=30), "sent_ms": numbers, "device": device, "markers": markers,
    "probes": probes, "events": events(), "dropped": st.integers(-1, 2**32),
    "fields": st.lists(st.tuples(st.integers(-1, 20_000), st.text(max_size=10), st.integers(-1, 10**8)).map(list), max_size=5),
})


@FUZZ
@given(telemetry)
def test_telemetry_shaped_maps(t):
    check(msgpack.packb(t, use_bin_type=True))


# --- mutations of a valid payload ------------------------------------------------------------------

SEEDS = [encode(person(1)), encode(person(7)), encode(headless_playwright())]


@FUZZ
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.sampled_from(["flip", "insert", "delete", "truncate"]),
                                                   st.integers(0, 2**31), st.integers(0, 255)), min_size=1, max_size=8))
def test_byte_mutations_of_a_valid_payload(seed, edits):
    b = bytearray(seed)
    for op, pos, byte in edits:
        if not b:
            break
        i = pos % len(b)
        if op == "flip":
            b[i] = byte
        elif op == "insert":
            b.insert(i, byte)
        elif op == "delete":
            del b[i]
        else:
            del b[i:]
    check(bytes(b))


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj[:6]):
            yield from _paths(v, prefix + (i,))


PERSON = person(3)
PATHS = [p for p in _paths(PERSON) if p]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(PATHS), st.one_of(small_scalars, st.lists(small_scalars, max_size=4),
                                                            st.dictionaries(st.text(max_size=5), small_scalars, max_size=3))),
                min_size=1, max_size=4))
def test_field_mutations_of_a_valid_payload(edits):
    import copy

    t = copy.deepcopy(PERSON)
    for path, value in edits:
        node = t
        try:
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit replaced a parent of this path
    check(msgpack.packb(t, use_bin_type=True))

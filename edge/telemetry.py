"""Decoding and validating telemetry (schema in docs/telemetry.md).

The body is attacker-controlled. msgpack's own limits bound what the C decoder will allocate; the
checks below then hold every field to its documented type and range. Anything else raises
``TelemetryError`` naming the field, which the service answers with 400 — never a 500.

The events are most of a payload and most of the cost, so they are checked a kind at a time, a
column at a time, by the same pass that turns them into the float columns the timing features are
computed from (:class:`EventColumns`): a valid payload's events come back as an :class:`Events`
list carrying its columns. When that pass finds anything amiss, the events are checked again one by
one, for an error that names the first bad field.
"""
from __future__ import annotations

import math
from itertools import chain
from operator import itemgetter
from typing import Any, Sequence

import msgpack
import numpy as np

SCHEMA_VERSION = 1
MAX_BODY_BYTES = 262_144
MAX_EVENTS = 4_096
MAX_STR = 512
MAX_ARRAY = 64
MAX_MAP = 64
MAX_ABS = 1e12  # no coordinate, length or time in a page view comes near this


class TelemetryError(ValueError):
    """The one error type for bad telemetry: ``field`` is a path such as ``events[3][1]``."""

    def __init__(self, field: str, detail: str):
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail

    def to_json(self) -> dict[str, str]:
        return {"error": "bad_telemetry", "field": self.field, "detail": self.detail}


def _pairs(pairs: list[tuple[Any, Any]]) -> dict:
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set = set()
        for k, _ in pairs:
            if k in seen:
                raise TelemetryError(str(k), "duplicate key in map")
            seen.add(k)
    return d


_NUM = (int, float)


def _is_num(x: Any) -> bool:
    # bool is an int subclass; telemetry numbers are never booleans.
    t = type(x)
    return (t is int or t is float) and (t is int or math.isfinite(x))


def _str(v: Any, path: str, *, nil: bool = False) -> str | None:
    if v is None and nil:
        return None
    if type(v) is not str:
        raise TelemetryError(path, "expected a string" + (" or nil" if nil else ""))
    return v


def _int(v: Any, path: str, *, nil: bool = False, lo: int = -(2**31), hi: int = 2**31) -> int | None:
    if v is None and nil:
        return None
    if type(v) is not int or not lo <= v <= hi:
        raise TelemetryError(path, f"expected an integer in [{lo}, {hi}]" + (" or nil" if nil else ""))
    return v


def _num(v: Any, path: str, *, nil: bool = False, lo: float = -1e12, hi: float = 1e12) -> float | None:
    if v is None and nil:
        return None
    if not _is_num(v) or not lo <= v <= hi:
        raise TelemetryError(path, f"expected a finite number in [{lo:g}, {hi:g}]" + (" or nil" if nil else ""))
    return v


def _bool(v: Any, path: str, *, nil: bool = False) -> bool | None:
    if v is None and nil:
        return None
    if type(v) is not bool:
        raise TelemetryError(path, "expected a boolean" + (" or nil" if nil else ""))
    return v


def _map(v: Any, path: str) -> dict:
    if type(v) is not dict:
        raise TelemetryError(path, "expected a map")
    return v


def _list(v: Any, path: str, *, n: int | None = None, max_len: int = MAX_ARRAY) -> list:
    if type(v) is not list:
        raise TelemetryError(path, "expected an array")
    if n is not None and len(v) != n:
        raise TelemetryError(path, f"expected {n} items, got {len(v)}")
    if len(v) > max_len:
        raise TelemetryError(path, f"at most {max_len} items")
    return v


def _str_list(v: Any, path: str) -> list[str]:
    for i, s in enumerate(_list(v, path)):
        _str(s, f"{path}[{i}]")
    return v


def _nums(v: Any, path: str, n: int) -> list:
    for i, x in enumerate(_list(v, path, n=n)):
        _num(x, f"{path}[{i}]")
    return v


# Event layouts after [kind, t, trusted]: "n" number, "s" string, "b" 0/1.
EVENT_FIELDS: dict[str, str] = {
    "mm": "nnnnnn",
    "md": "nnnnnnn",
    "mu": "nnn",
    "ck": "nnn",
    "pd": "nnsnnnn",
    "kd": "sbbb",
    "ku": "sbbb",
    "in": "snnn",
    "cs": "",
    "ce": "n",
    "pa": "n",
    "fo": "n",
    "bl": "n",
    "sc": "n",
    "ts": "nnnn",
    "tm": "nn",
    "te": "nn",
    "su": "n",
}
KEY_CLASSES = frozenset("ldsbetmnpo")


def _check_events(events: list) -> None:
    """Each event in turn, for the first bad field: what the column pass found wrong, named."""
    prev = 0.0
    for i, e in enumerate(events):
        if type(e) is not list or len(e) < 3:
            raise TelemetryError(f"events[{i}]", "expected [kind, t, trusted, ...]")
        kind = e[0]
        layout = EVENT_FIELDS.get(kind) if type(kind) is str else None
        if layout is None:
            raise TelemetryError(f"events[{i}][0]", f"unknown event kind {str(kind)[:16]!r}")
        if len(e) != 3 + len(layout):
            raise TelemetryError(f"events[{i}]", f"{kind!r} has {len(layout)} fields after trusted, got {len(e) - 3}")
        t = e[1]
        if not _is_num(t) or not 0 <= t < MAX_ABS:
            raise TelemetryError(f"events[{i}][1]", "timestamp must be a finite number >= 0")
        if t < prev:
            raise TelemetryError(f"events[{i}][1]", "timestamps must not go backwards")
        prev = t
        if e[2] != 0 and e[2] != 1 or type(e[2]) is not int:
            raise TelemetryError(f"events[{i}][2]", "trusted must be 0 or 1")
        # type first: a list here is unhashable, and a set lookup would raise TypeError (a 500)
        if (kind == "kd" or kind == "ku") and (type(e[3]) is not str or e[3] not in KEY_CLASSES):
            raise TelemetryError(f"events[{i}][3]", "unknown key class (see docs/telemetry.md)")
        for j, code in enumerate(layout, 3):
            x = e[j]
            if code == "n":
                if not _is_num(x) or not -MAX_ABS < x < MAX_ABS:
                    raise TelemetryError(f"events[{i}][{j}]", f"expected a finite number within ±{MAX_ABS:g}")
            elif code == "s":
                if type(x) is not str:
                    raise TelemetryError(f"events[{i}][{j}]", "expected a string")
            elif x != 0 and x != 1 or type(x) is not int:
                raise TelemetryError(f"events[{i}][{j}]", "expected 0 or 1")


# --- events as columns ------------------------------------------------------------------------------

KEY = "key"
"""kd and ku share one group, in stream order (pairing presses with releases needs their order)."""


class _Group:
    """How one kind's events become a float matrix: drop the kind and the string fields; the rest —
    t, trusted, then the numbers and 0/1 flags in layout order — are the matrix's rows."""

    __slots__ = ("name", "length", "strings", "kept", "width", "bits", "column", "dropped")

    def __init__(self, name: str, layout: str):
        self.name = name
        self.length = 3 + len(layout)
        self.strings = tuple(3 + j for j, c in enumerate(layout) if c == "s")
        self.kept = (1, 2) + tuple(3 + j for j, c in enumerate(layout) if c != "s")  # event positions, in row order
        self.width = len(self.kept)
        self.column = {pos: row for row, pos in enumerate(self.kept)}  # event position → matrix row
        self.bits = (2,) + tuple(3 + j for j, c in enumerate(layout) if c == "b")  # trusted, 0/1 flags (positions)
        self.dropped = tuple(sorted((0, *self.strings), reverse=True))  # the kind and the strings, the last first


_GROUPS: dict[str, _Group] = {}
for _kind, _layout in EVENT_FIELDS.items():
    _name = KEY if _kind in ("kd", "ku") else _kind
    _GROUPS.setdefault(_name, _Group(_name, _layout))
_GROUP_OF = {k: (KEY if k in ("kd", "ku") else k) for k in EVENT_FIELDS}
_GROUP_OF_ITEMS = tuple(_GROUP_OF.items())
_EMPTY = {name: np.empty((g.width, 0)) for name, g in _GROUPS.items()}
_T = itemgetter(1)
_NUMBER = frozenset({int, float})
_STR = frozenset({str})
_BITS = bytes(range(2))  # the values a 0/1 flag may take, as bytes


def column(kind: str, position: int) -> int:
    """The matrix row of a kind's event field (``position`` as in docs/telemetry.md: 1 is t, 2
    trusted, 3 the first field after it)."""
    return _GROUPS[_GROUP_OF[kind]].column[position]


class EventColumns:
    """One payload's events by kind, as float columns — what the timing features are computed from.

    ``num(kind)``: a matrix with one row per field and one column per event of that kind in stream
    order, so each field is a contiguous array; :func:`column` says which row holds which field
    (``"key"``: keydowns and keyups together, ``key_down`` telling them apart, ``key_class`` their
    class letters as bytes). ``strings(kind, position)``: a string field, one per event. ``t``: every
    event's time in stream order; ``untrusted``: how many events have ``trusted`` 0. Built once: by
    the decoder while it validates, or by :func:`event_columns` for events that did not come
    through it.
    """

    __slots__ = ("n", "t", "untrusted", "key_down", "key_class", "_num", "_str")

    def __init__(self, n: int, t: np.ndarray, untrusted: int, num: dict[str, np.ndarray],
                 strs: dict[tuple[str, int], Sequence[str]], key_down: np.ndarray, key_class: np.ndarray):
        self.n = n
        self.t = t
        self.untrusted = untrusted
        self.key_down = key_down
        self.key_class = key_class
        self._num = num
        self._str = strs

    def num(self, kind: str) -> np.ndarray:
        m = self._num.get(kind)
        return _EMPTY[kind] if m is None else m

    def kinds(self):
        """(kind, matrix) of each kind the payload has events of."""
        return self._num.items()

    def count(self, kind: str) -> int:
        m = self._num.get(kind)
        return 0 if m is None else m.shape[1]

    def strings(self, kind: str, position: int) -> Sequence[str]:
        return self._str.get((kind, position), ())


class Events(list):
    """A validated ``events`` list (equal to the plain list) that also carries its :class:`EventColumns`."""

    __slots__ = ("columns",)

    def __init__(self, events: list, columns: EventColumns):
        super().__init__(events)
        self.columns = columns


_NO_KEYS = np.empty(0, bool), np.empty(0, np.uint8)  # shared by every payload without keys: read-only
for _a in _NO_KEYS:
    _a.flags.writeable = False


def _columns(events: list, validate: bool) -> EventColumns:
    """The column pass: events bucketed by kind, each kind's events flattened into one list, the
    string fields sliced out, all numbers converted in one call. With ``validate``, every check of
    :func:`_check_events` on the way, raising ValueError when one fails. Raises (KeyError,
    IndexError, TypeError, ValueError, OverflowError) on events of the wrong shape either way.

    Few objects the garbage collector tracks are made here (a list per kind, not one per field):
    a payload's event lists are most of the collector's young generation already, and each object
    more brings the next collection closer — one that then walks all of them."""
    groups: dict[str, list] = {name: [] for name in _GROUPS}
    add = {kind: groups[name].append for kind, name in _GROUP_OF_ITEMS}
    for e in events:
        add[e[0]](e)
    del add
    nums: list = []  # every kind's numbers, kind after kind, each kind's event after event
    spans: list[tuple[str, int, int]] = []
    bits = bytearray()
    strs: dict[tuple[str, int], list[str]] = {}
    key_down, key_class = _NO_KEYS
    for name, rows in groups.items():
        if not rows:
            continue
        g = _GROUPS[name]
        length = g.length
        if set(map(len, rows)) != {length}:
            raise ValueError(f"{name}: events of another length")
        flat = list(chain.from_iterable(rows))
        for pos in g.strings:
            strs[(name, pos)] = flat[pos::length]
        if name == KEY:
            key_down = np.frombuffer("".join(flat[0::length]).encode(), np.uint8)[1::2] == ord("d")
            cls = strs[(KEY, 3)]
            if validate and not set(cls) <= KEY_CLASSES:
                raise ValueError("unknown key class")
            key_class = np.frombuffer("".join(cls).encode(), np.uint8)
        elif validate:
            for pos in g.strings:
                if set(map(type, strs[(name, pos)])) != _STR:
                    raise ValueError(f"{name}: a string field is not a string")
        if validate:
            for pos in g.bits:
                # bytes() takes only integers 0-255 (no float, no None); the numbers' type check excludes bool
                bits += bytes(flat[pos::length])
        for pos in g.dropped:  # the last first: those before stay put
            del flat[pos::length]
            length -= 1
        spans.append((name, len(nums), len(rows)))
        nums += flat
        del flat
    a = np.fromiter(nums, float, len(nums))  # (validation checks the types: this takes "1.5" and None too)
    num = {name: a[start:start + n * _GROUPS[name].width].reshape(n, _GROUPS[name].width).T.copy()
           for name, start, n in spans}
    t = np.fromiter(map(_T, events), float, len(events))
    if validate:
        if not set(map(type, nums)) <= _NUMBER:  # no bool, None or string among the numbers
            raise ValueError("a number field is not a number")
        if not (np.abs(a) < MAX_ABS).all():  # finite and in range (NaN fails too)
            raise ValueError("a number out of range")
        if bits.translate(None, _BITS):
            raise ValueError("a 0/1 flag is not 0 or 1")
        if len(t) and (t[0] < 0 or (t[1:] < t[:-1]).any()):  # (every t is among the numbers checked above)
            raise ValueError("timestamps go backwards")
    del nums
    trusted = int(sum(m[1].sum() for m in num.values()))  # row 1: trusted, 0 or 1
    return EventColumns(len(events), t, len(events) - trusted, num, strs, key_down, key_class)


def event_columns(events: list) -> EventColumns:
    """The columns of events that are already valid (an :class:`Events` list has them already)."""
    cols = getattr(events, "columns", None)
    return cols if isinstance(cols, EventColumns) else _columns(events, False)


def _columns_valid(events: list) -> EventColumns | None:
    """The column pass with every check of :func:`_check_events`; None when any fails."""
    if set(map(type, events)) - {list}:
        return None
    try:
        return _columns(events, True)
    except (KeyError, IndexError, TypeError, ValueError, OverflowError):
        return None


def _events(v: Any) -> list[list]:
    if type(v) is Events:
        v = list(v)  # validated before, perhaps changed since: check it again
    events = _list(v, "events", max_len=MAX_EVENTS)
    cols = _columns_valid(events)
    if cols is None:
        _check_events(events)  # raises, naming the field
        return events  # (the column pass refuses some valid oddity: no columns, nothing else lost)
    return Events(events, cols)


def _device(d: dict) -> dict:
    p = "device."
    _str(d.get("ua", ""), p + "ua")
    for k in ("platform", "language", "tz"):
        _str(d.get(k), p + k, nil=True)
    _str_list(d.get("languages", []), p + "languages")
    _int(d.get("tz_offset_min"), p + "tz_offset_min", nil=True, lo=-1440, hi=1440)
    if "screen" in d:
        _nums(d["screen"], p + "screen", 5)
    if "window" in d:
        _nums(d["window"], p + "window", 4)
    _num(d.get("dpr"), p + "dpr", nil=True, lo=0, hi=100)
    _int(d.get("hw_concurrency"), p + "hw_concurrency", nil=True, lo=0, hi=4096)
    _num(d.get("device_memory"), p + "device_memory", nil=True, lo=0, hi=1e6)
    for k in ("touch_points", "plugins", "mime_types"):
        _int(d.get(k), p + k, nil=True, lo=0, hi=10_000)
    for k in ("webgl_vendor", "webgl_renderer"):
        _str(d.get(k), p + k, nil=True)
    for k in ("cookie_enabled", "pdf_viewer"):
        _bool(d.get(k), p + k, nil=True)
    uad = d.get("uad")
    if uad is not None:
        _map(uad, p + "uad")
        brands = _list(uad.get("brands", []), p + "uad.brands")
        for i, b in enumerate(brands):
            _list(b, f"{p}uad.brands[{i}]", n=2)
            _str(b[0], f"{p}uad.brands[{i}][0]")
            _str(b[1], f"{p}uad.brands[{i}][1]")
        _bool(uad.get("mobile"), p + "uad.mobile", nil=True)
        _str(uad.get("platform"), p + "uad.platform", nil=True)
    return d


def _markers(m: dict) -> dict:
    p = "markers."
    _bool(m.get("webdriver"), p + "webdriver", nil=True)
    if "chrome" in m:
        for i, b in enumerate(_list(m["chrome"], p + "chrome", n=4)):
            _bool(b, f"{p}chrome[{i}]")
    for k in ("cdc", "globals", "doc_attrs", "stack_markers"):
        if k in m:
            _str_list(m[k], p + k)
    for k in ("notif_perm", "perm_query"):
        _str(m.get(k), p + k, nil=True)
    _bool(m.get("outer_zero"), p + "outer_zero", nil=True)
    _int(m.get("pw_events"), p + "pw_events", nil=True, lo=0, hi=2**31)
    return m


def _probes(pr: dict) -> dict:
    for k, v in pr.items():
        path = f"probes.{k}"
        if type(k) is not str:
            raise TelemetryError("probes", "keys must be strings")
        if type(v) is list:
            for i, x in enumerate(_list(v, path)):
                if not (x is None or type(x) in (str, bool) or _is_num(x)):
                    raise TelemetryError(f"{path}[{i}]", "expected a scalar")
        elif not (v is None or type(v) in (str, bool) or _is_num(v)):
            raise TelemetryError(path, "expected a scalar or an array of scalars")
    return pr


def validate(obj: Any) -> dict:
    """Hold a decoded object to the schema and return it: the same dict, its ``events`` replaced by
    an equal :class:`Events` list that also carries their columns."""
    t = _map(obj, "$")
    if "v" not in t:
        raise TelemetryError("v", "missing schema version")
    if t["v"] != SCHEMA_VERSION or type(t["v"]) is not int:
        raise TelemetryError("v", f"unsupported schema version {t['v']!r} (this server speaks {SCHEMA_VERSION})")
    _str(t.get("sid", ""), "sid")
    if len(t.get("sid", "")) > 64:
        raise TelemetryError("sid", "at most 64 characters")
    _str(t.get("page", ""), "page")
    _num(t.get("sent_ms", 0), "sent_ms", lo=0, hi=1e10)
    _device(_map(t.get("device", {}), "device"))
    _markers(_map(t.get("markers", {}), "markers"))
    _probes(_map(t.get("probes", {}), "probes"))
    if "events" in t:
        t["events"] = _events(t["events"])
    else:
        _events([])
    _int(t.get("dropped", 0), "dropped", lo=0, hi=2**31)
    for i, f in enumerate(_list(t.get("fields", []), "fields")):
        _list(f, f"fields[{i}]", n=3)
        _int(f[0], f"fields[{i}][0]", lo=0, hi=10_000)
        _str(f[1], f"fields[{i}][1]")
        _int(f[2], f"fields[{i}][2]", lo=0, hi=10_000_000)
    return t


def decode(body: bytes) -> dict:
    """msgpack bytes → validated telemetry dict, or ``TelemetryError``."""
    if not body:
        raise TelemetryError("$", "empty body")
    if len(body) > MAX_BODY_BYTES:
        raise TelemetryError("$", f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        obj = msgpack.unpackb(
            body,
            raw=False,
            strict_map_key=True,
            object_pairs_hook=_pairs,
            max_str_len=MAX_STR,
            max_bin_len=0,
            max_ext_len=0,
            max_array_len=MAX_EVENTS,
            max_map_len=MAX_MAP,
        )
    except TelemetryError:
        raise
    except msgpack.ExtraData:
        raise TelemetryError("$", "trailing bytes after the telemetry map") from None
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as exc:
        # ValueError covers truncated input, over-limit strings/arrays/maps, bin/ext types and
        # invalid UTF-8; the message says which.
        # An empty message comes from the C decoder's fixed nesting stack overflowing.
        detail = str(exc)[:200] or "nesting too deep"
        raise TelemetryError("$", f"not a valid msgpack telemetry map: {detail}") from None
    return validate(obj)


def encode(telemetry: dict) -> bytes:
    """The inverse of decode, for fixtures, tests and the corpus replay."""
    return msgpack.packb(telemetry, use_bin_type=True)

"""What a simulated agent does on a site: the flows, their fields and where the decision shows.

The demo (``tell demo``) is the default. Any site that embeds the collector can be described in a
TOML file (``tell simulate --selectors site.toml``); every key is optional and falls back to the
demo's value::

    [page]
    ready = "window.Tell && window.Tell.v"   # JS expression, true once the collector has loaded
    decision = "#decision"                   # element showing Tell's decision after a write
    decision_attr = "data-decision"          # its attribute holding allow/challenge/block
    families_attr = "data-families"          # comma-separated rule families ("—" or "none" for none)
    score_attr = "data-score"
    next = "#next"                           # link on a write's result page; its href is {next}
    account_cookie = "demo_user"             # see below; "" to never set one

    [flows.register]
    url = "/register"
    submit = "#submit"
    fields = [{selector = "#username", text = "{username}"},
              {selector = "#password", text = "{password}"}]

    [flows.comment]
    url = "{next}"                           # the href of `next` on the previous write's page
    fallback_url = "/"                       # when there is no {next}: a page listing posts,
    fallback_link = "a[href^='/comment?post=']"  # and the first link on it to follow

Field texts may name ``{username}``, ``{password}`` and ``{body}`` (the agent's own text: English,
or Chinese for the CJK agent).

``account_cookie``: when the register write is refused the site creates no account, so the later
writes would run signed out. The demo trusts its ``demo_user`` cookie, so the runner sets it (httpOnly,
through the browser's cookie store, invisible to the page's scripts) to the username and the later
writes are still decided for that account, as they would be for an account registered earlier. A
real site has no such cookie: leave it empty there and the later writes run as whatever session the
site keeps.
"""
from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

ACTIONS = ("register", "post", "comment")
PLACEHOLDERS = ("username", "password", "body", "next")


class SelectorConfigError(ValueError):
    """A selectors file that cannot be used; ``str()`` names the file and the key."""

    def __init__(self, source: str, key: str, detail: str):
        super().__init__(f"{source}: {key}: {detail}")
        self.source, self.key, self.detail = source, key, detail


@dataclass(frozen=True, slots=True)
class Field:
    selector: str
    text: str


@dataclass(frozen=True, slots=True)
class Flow:
    action: str
    url: str
    submit: str
    fields: tuple[Field, ...]
    fallback_url: str = ""
    fallback_link: str = ""


@dataclass(frozen=True, slots=True)
class Page:
    ready: str = "window.Tell && window.Tell.v"
    decision: str = "#decision"
    decision_attr: str = "data-decision"
    families_attr: str = "data-families"
    score_attr: str = "data-score"
    next: str = "#next"
    account_cookie: str = "demo_user"


@dataclass(frozen=True, slots=True)
class Target:
    page: Page
    flows: dict[str, Flow]

    def to_json(self) -> dict[str, Any]:
        return {"page": asdict(self.page),
                "flows": {a: {**asdict(f), "fields": [asdict(x) for x in f.fields]} for a, f in self.flows.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Target":
        flows = {a: Flow(**{**f, "fields": tuple(Field(**x) for x in f["fields"])}) for a, f in data["flows"].items()}
        return cls(Page(**data["page"]), flows)


_BODY_FIELD = (Field("#body", "{body}"),)
DEMO = Target(
    page=Page(),
    flows={
        "register": Flow("register", "/register", "#submit",
                         (Field("#username", "{username}"), Field("#password", "{password}"))),
        "post": Flow("post", "/post", "#submit", _BODY_FIELD),
        "comment": Flow("comment", "{next}", "#submit", _BODY_FIELD,
                        fallback_url="/", fallback_link="a[href^='/comment?post=']"),
    },
)
"""The demo site's forms (edge/demo.py)."""


def _str(source: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise SelectorConfigError(source, key, f"expected a string, got {type(value).__name__}")
    return value


def _check_template(source: str, key: str, text: str) -> str:
    try:
        text.format(**{p: "" for p in PLACEHOLDERS})
    except (KeyError, IndexError, ValueError) as exc:
        raise SelectorConfigError(
            source, key, f"unknown placeholder or stray brace {exc} (use {{username}}, {{password}}, {{body}}, "
            "{next}; write {{ and }} for literal braces)") from None
    return text


def parse_selectors(data: dict[str, Any], source: str = "<selectors>") -> Target:
    """A :class:`Target` from a parsed TOML mapping, the demo filling in what it leaves out."""
    unknown = set(data) - {"page", "flows"}
    if unknown:
        raise SelectorConfigError(source, sorted(unknown)[0], "unknown section (expected [page] and [flows.*])")
    page = DEMO.page
    raw_page = data.get("page", {})
    if not isinstance(raw_page, dict):
        raise SelectorConfigError(source, "page", "expected a table")
    known = {f.name for f in fields(Page)}
    for key, value in raw_page.items():
        if key not in known:
            raise SelectorConfigError(source, f"page.{key}", f"unknown key (one of {', '.join(sorted(known))})")
        page = replace(page, **{key: _str(source, f"page.{key}", value)})

    flows = dict(DEMO.flows)
    raw_flows = data.get("flows", {})
    if not isinstance(raw_flows, dict):
        raise SelectorConfigError(source, "flows", "expected a table of [flows.<action>]")
    for action, raw in raw_flows.items():
        where = f"flows.{action}"
        if action not in ACTIONS:
            raise SelectorConfigError(source, where, f"unknown action (one of {', '.join(ACTIONS)})")
        if not isinstance(raw, dict):
            raise SelectorConfigError(source, where, "expected a table")
        base = flows[action]
        allowed = {"url", "submit", "fields", "fallback_url", "fallback_link"}
        for key in raw:
            if key not in allowed:
                raise SelectorConfigError(source, f"{where}.{key}", f"unknown key (one of {', '.join(sorted(allowed))})")
        flow_fields = base.fields
        if "fields" in raw:
            if not isinstance(raw["fields"], list) or not raw["fields"]:
                raise SelectorConfigError(source, f"{where}.fields", "expected a non-empty array of {selector, text} tables")
            parsed = []
            for i, item in enumerate(raw["fields"]):
                at = f"{where}.fields[{i}]"
                if not isinstance(item, dict) or set(item) != {"selector", "text"}:
                    raise SelectorConfigError(source, at, "expected a table with exactly `selector` and `text`")
                parsed.append(Field(_str(source, f"{at}.selector", item["selector"]),
                                    _check_template(source, f"{at}.text", _str(source, f"{at}.text", item["text"]))))
            flow_fields = tuple(parsed)
        flows[action] = Flow(
            action,
            _check_template(source, f"{where}.url", _str(source, f"{where}.url", raw.get("url", base.url))),
            _str(source, f"{where}.submit", raw.get("submit", base.submit)),
            flow_fields,
            _str(source, f"{where}.fallback_url", raw.get("fallback_url", base.fallback_url)),
            _str(source, f"{where}.fallback_link", raw.get("fallback_link", base.fallback_link)),
        )
    for action, flow in flows.items():
        if "{next}" in flow.url and action == "register":
            raise SelectorConfigError(source, "flows.register.url", "the first write has no previous page: {next} is unusable")
    return Target(page, flows)


def load_selectors(path: str | Path) -> Target:
    """Read and validate a selectors TOML file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SelectorConfigError(str(path), "-", exc.strerror or str(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise SelectorConfigError(str(path), "-", f"not valid TOML: {exc}") from None
    return parse_selectors(data, str(path))

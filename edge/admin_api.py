"""Admin write API: user reports, the review queue, and manual enforcement overrides.

    POST /v1/reports                              {"reporter_id", "account_id", "reason"?}
    GET  /v1/review?limit=N                       reported accounts, strongest evidence first
    POST /v1/accounts/{account_id}/enforcement    {"enforcement", "note", "actor"}

Every handler checks the admin token first. Input is untrusted even behind the token (a leaked
token, a buggy moderation tool): anything malformed is a 400 naming the field, never a 5xx, and
bodies and ids are bounded before they reach the store.
"""
from __future__ import annotations

import functools
import json
from typing import Any, Awaitable, Callable

from aiohttp import web

from edge.api import json_error
from edge.auth import require_admin
from edge.decision import Enforcement
from edge.keys import STORE
from edge.limits import read_body
from edge.service import KNOWN
from edge.store import StoreError

MAX_BODY = 16 * 1024
MAX_ID = 128
MAX_TEXT = 2000
MAX_REVIEW = 500


class BadInput(Exception):
    def __init__(self, error: str, field: str, detail: str):
        super().__init__(detail)
        self.error, self.field, self.detail = error, field, detail

    def response(self) -> web.Response:
        return json_error(400, self.error, self.detail, field=self.field)


async def _json_object(request: web.Request) -> dict[str, Any]:
    # Bounded read: a declared or actual body over the limit is refused before it is parsed.
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise BadInput("body_too_large", "$", f"body larger than {MAX_BODY} bytes")
    body = await read_body(request, MAX_BODY)  # all of it: one read() may return only the first segment
    if body is None:
        raise BadInput("body_too_large", "$", f"body larger than {MAX_BODY} bytes")
    try:
        data = json.loads(body)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, over-long integer literals
        raise BadInput("invalid_json", "$", f"body is not JSON: {exc}") from None
    except RecursionError:
        raise BadInput("invalid_json", "$", "body nests too deeply") from None
    if not isinstance(data, dict):
        raise BadInput("invalid_json", "$", "body must be a JSON object")
    return data


def _text(data: dict[str, Any], field: str, *, max_len: int, required: bool = True, nonempty: bool = True) -> str:
    if field not in data:
        if required:
            raise BadInput("missing_field", field, f"{field} is required")
        return ""
    value = data[field]
    if not isinstance(value, str):
        raise BadInput("invalid_field", field, f"{field} must be a string")
    if nonempty and not value.strip():
        raise BadInput("invalid_field", field, f"{field} must not be empty")
    if len(value) > max_len:
        raise BadInput("invalid_field", field, f"{field} longer than {max_len} characters")
    return value


def _account_id(value: str, field: str = "account_id") -> str:
    if not value or len(value) > MAX_ID:
        raise BadInput("invalid_field", field, f"{field} must be 1 to {MAX_ID} characters")
    return value


Handler = Callable[[web.Request], Awaitable[web.Response]]


def admin_handler(fn: Handler) -> Handler:
    """Admin token first; bad input becomes a 400 naming the field; a store outage a 503."""

    @functools.wraps(fn)
    async def impl(request: web.Request) -> web.Response:
        require_admin(request)
        try:
            return await fn(request)
        except BadInput as exc:
            return exc.response()
        except StoreError as exc:
            return json_error(503, "store_unavailable", str(exc), field="$")

    return impl


@admin_handler
async def post_report(request: web.Request) -> web.Response:
    data = await _json_object(request)
    reporter = _account_id(_text(data, "reporter_id", max_len=MAX_ID), "reporter_id")
    account = _account_id(_text(data, "account_id", max_len=MAX_ID))
    reason = _text(data, "reason", max_len=MAX_TEXT, required=False, nonempty=False)
    return web.json_response(await request.app[STORE].report(reporter, account, reason))


@admin_handler
async def get_review(request: web.Request) -> web.Response:
    raw = request.query.get("limit", "50")
    # Length first: int() of a 5000-digit string raises (CPython's int_max_str_digits).
    if not (len(raw) <= 4 and raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_REVIEW:
        raise BadInput("invalid_field", "limit", f"limit must be an integer from 1 to {MAX_REVIEW}")
    return web.json_response({"accounts": await request.app[STORE].review(int(raw))})


@admin_handler
async def post_enforcement(request: web.Request) -> web.Response:
    account = _account_id(request.match_info["account_id"])
    data = await _json_object(request)
    value = _text(data, "enforcement", max_len=16)
    try:
        enforcement = Enforcement(value)
    except ValueError:
        choices = "|".join(e.value for e in Enforcement)
        raise BadInput("invalid_field", "enforcement", f"enforcement must be one of {choices}") from None
    # Who and why are the audit trail of a manual decision: both are required.
    note = _text(data, "note", max_len=MAX_TEXT)
    actor = _text(data, "actor", max_len=MAX_ID)
    result = await request.app[STORE].override(account, enforcement, note, actor)
    if KNOWN in request.app:  # a ban (or its lifting) holds in this worker even if the store then goes down
        request.app[KNOWN].note(account, enforcement)
    return web.json_response(result)


def add_admin_routes(app: web.Application) -> None:
    app.router.add_post("/v1/reports", post_report)
    app.router.add_get("/v1/review", get_review)
    app.router.add_post("/v1/accounts/{account_id}/enforcement", post_enforcement)

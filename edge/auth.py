"""Admin authentication: a bearer token compared in constant time."""
from __future__ import annotations

import hmac

from aiohttp import web

from edge.keys import CONFIG


def _json_error(status: int, error: str, detail: str) -> web.HTTPException:
    exc_cls = {401: web.HTTPUnauthorized, 403: web.HTTPForbidden}[status]
    return exc_cls(
        text=f'{{"error": "{error}", "detail": "{detail}"}}',
        content_type="application/json",
        headers={"WWW-Authenticate": 'Bearer realm="tell-admin"'} if status == 401 else None,
    )


def admin_token_ok(request: web.Request) -> bool:
    expected = request.app[CONFIG].admin_token
    if not expected:
        return False
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not presented:
        presented = request.cookies.get("tell_admin", "")
    # compare_digest: the time taken must not reveal how many leading characters were right.
    return hmac.compare_digest(presented.strip().encode(), expected.encode())


def require_admin(request: web.Request) -> None:
    """Raise 401 unless the request carries the admin bearer token (or the dashboard cookie)."""
    if not request.app[CONFIG].admin_token:
        raise _json_error(403, "admin_disabled", "set TELL_ADMIN_TOKEN to enable the admin API")
    if not admin_token_ok(request):
        raise _json_error(401, "unauthorized", "missing or wrong admin bearer token")

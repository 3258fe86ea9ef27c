"""Application factories: the sidecar (``tell serve``) and the demo site (``tell demo``)."""
from __future__ import annotations

from aiohttp import web

from edge.api import add_api_routes, get_account, get_decisions, healthz, json_error
from edge.limits import body_deadline
from edge.config import Config
from edge.dashboard import add_dashboard
from edge.metrics import add_metrics
from edge.reload import add_reload
from edge.service import setup
from edge.store import Store


def make_app(config: Config, *, store: Store | None = None, middlewares=()) -> web.Application:
    """The sidecar: collector, telemetry, ``/v1/decide`` and the admin API."""
    # Bodies are small (telemetry ≤ 256 KiB, admin JSON smaller): refuse anything larger early.
    # The body deadline is outermost: whatever reads a body, a trickled one is cut off (edge/limits.py).
    first = [body_deadline(config.limits.body_timeout_s)]
    if config.admin_port:
        first.append(admin_elsewhere)
    app = web.Application(client_max_size=config.max_body_bytes + 16_384, middlewares=first + list(middlewares))
    add_metrics(app)  # first: setup's hooks count into it
    setup(app, config, store=store)
    add_api_routes(app)
    add_reload(app)
    add_dashboard(app)
    return app


# --- the admin listener ------------------------------------------------------------------------

# Routes that belong to operators, not to browsers or the gateway. With ``admin_port`` set they are
# served only by make_admin_app's listener; the public listener answers 404 as if they did not exist.
ADMIN_PREFIXES = ("/v1/accounts", "/v1/decisions", "/v1/reports", "/v1/review", "/v1/signatures", "/admin", "/metrics")


def _is_admin_route(request: web.Request) -> bool:
    # Judged on the route the router resolved (its canonical path), not on the raw path: whatever
    # spelling of the URL reached a handler (%-escapes, dot segments), this is the handler it reached.
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else request.path
    return any(canonical == p or canonical.startswith(p + "/") for p in ADMIN_PREFIXES)


@web.middleware
async def admin_elsewhere(request: web.Request, handler) -> web.StreamResponse:
    """On the public listener when an admin listener is configured: admin routes do not exist here."""
    if _is_admin_route(request):
        return json_error(404, "not_found", "no such route")
    return await handler(request)


def make_admin_app(config: Config, public: web.Application) -> web.Application:
    """The admin listener (``admin_host``:``admin_port``): accounts, decisions, reports, review,
    signature status and reload, dashboard and metrics, over the public app's store and state.

    Start it after ``public`` (its startup copies the public app's state: store, engine, buffer,
    metrics) and stop it first. Every route still checks the admin bearer token, except
    ``/metrics`` and ``/healthz``: the listener is meant for an operators' network only.
    """
    from edge.admin_api import add_admin_routes
    from edge.reload import get_status, post_reload

    admin = web.Application(client_max_size=64 * 1024, middlewares=[body_deadline(config.limits.body_timeout_s)])

    async def share_public_state(admin: web.Application) -> None:
        for key in public:
            if key not in admin:
                admin[key] = public[key]

    admin.on_startup.append(share_public_state)
    admin.router.add_get("/v1/accounts/{account_id}", get_account)
    admin.router.add_get("/v1/decisions", get_decisions)
    admin.router.add_get("/healthz", healthz)
    add_admin_routes(admin)
    admin.router.add_post("/v1/signatures/reload", post_reload)
    admin.router.add_get("/v1/signatures", get_status)
    try:  # the dashboard and metrics land separately
        from edge.metrics import METRICS, metrics_handler
    except ImportError:
        pass
    else:
        if METRICS in public:
            admin.router.add_get("/metrics", metrics_handler(public))
    try:
        from edge.dashboard import add_dashboard
    except ImportError:
        pass
    else:
        add_dashboard(admin)
    return admin

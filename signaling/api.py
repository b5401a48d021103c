"""The REST API: consults, the consult record, FHIR export, the printable summary, the audit log.

Every route answers JSON errors ``{"error": {"code", "message"}}``; who may call what is the
table ``ACCESS`` (the authorisation matrix test checks it against a running server). Reading a
record or the summary is audited as a view, the FHIR Bundle as an export.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from devices import fhir
from devices.errors import LocalError
from signaling import openapi, record, summary
from signaling.accounts import Principal, Role
from signaling.audit import AuditLog
from signaling.consults import ConsultState
from signaling.store import Store

STAFF = frozenset({Role.SPECIALIST, Role.OBSERVER, Role.ADMIN})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Who = Callable[[web.Request], Principal | None]


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def setup(app: web.Application, who: Who, store: Callable[[], Store], audit: Callable[[], AuditLog]) -> None:
    def allowed(roles: frozenset[Role], handler: Callable[[web.Request, Principal], Awaitable[web.StreamResponse]]
                ) -> Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            principal = who(request)
            if principal is None:
                return error(401, "unauthorized", "log in or send a station token")
            if principal.role not in roles:
                return error(403, "forbidden", f"a {principal.role} may not use this route")
            try:
                return await handler(request, principal)
            except LocalError as exc:
                return error(404 if exc.code == "no_consult" else 400, exc.code, exc.args[0])
        return run

    async def consults(request: web.Request, principal: Principal) -> web.Response:
        state = request.query.get("state")
        if state is not None and state not in {s.value for s in ConsultState}:
            raise LocalError(f"state is one of {', '.join(s.value for s in ConsultState)}", code="bad_field")
        try:
            limit = int(request.query.get("limit", "100"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 1000:
            raise LocalError("limit is a whole number from 1 to 1000", code="bad_field")
        return web.json_response({"consults": await record.consult_list(store(), state, limit)})

    async def detail(request: web.Request, principal: Principal) -> web.Response:
        body = await record.consult_record(store(), request.match_info["consult"])
        await audit().append(principal.name, "view", body["consult"]["id"], what="record")
        return web.json_response(body)

    async def export(request: web.Request, principal: Principal) -> web.Response:
        body = await record.consult_record(store(), request.match_info["consult"])
        bundle = fhir.bundle(record.readings_of(body))
        await audit().append(principal.name, "export", body["consult"]["id"], what="fhir",
                             entries=len(bundle["entry"]))
        return web.json_response(bundle, content_type="application/fhir+json")

    async def printable(request: web.Request, principal: Principal) -> web.Response:
        body = await record.consult_record(store(), request.match_info["consult"])
        await audit().append(principal.name, "view", body["consult"]["id"], what="summary")
        return web.Response(text=summary.render(body), content_type="text/html")

    async def audit_entries(request: web.Request, principal: Principal) -> web.Response:
        consult = request.query.get("consult")
        entries = await audit().entries(consult)
        return web.json_response({"entries": entries})

    async def document(request: web.Request) -> web.Response:
        return web.json_response(openapi.DOCUMENT)

    app.router.add_get("/api/openapi.json", document)
    app.router.add_get("/api/consults", allowed(STAFF, consults))
    app.router.add_get("/api/consults/{consult}", allowed(STAFF, detail))
    app.router.add_get("/api/consults/{consult}/fhir", allowed(STAFF, export))
    app.router.add_get("/api/consults/{consult}/summary", allowed(STAFF, printable))
    app.router.add_get("/api/audit", allowed(frozenset({Role.ADMIN}), audit_entries))

"""The OpenAPI 3.0 document served at /api/openapi.json: the contract of the HTTP API.

Written out by hand (a dict), because it is the one place an integrator reads; the schemathesis
test fuzzes the running server against it. The WebSocket protocol is described in
docs/architecture.md, not here.
"""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}
_ID = {"name": "consult", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 64}}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {400: "bad request", 401: "not logged in", 403: "role not allowed, or CSRF token missing",
            404: "no such consult", 413: "too many items or bytes", 429: "too many failed logins"}
    return {str(code): _json(_ERROR, text[code]) for code in codes}


_CONSULT = {
    "type": "object",
    "required": ["id", "station", "priority", "reason", "state", "created", "updated"],
    "properties": {
        "id": {"type": "string"}, "station": {"type": "string"},
        "priority": {"type": "string", "enum": ["emergency", "urgent", "routine"]},
        "reason": {"type": "string"},
        "state": {"type": "string",
                  "enum": ["requested", "waiting", "claimed", "live", "ended", "abandoned", "transferred"]},
        "lead": {"type": "string", "nullable": True}, "transfer_to": {"type": "string", "nullable": True},
        "created": {"type": "number"}, "updated": {"type": "number"},
    },
}

_RECORD = {
    "type": "object",
    "required": ["consult", "members", "timeline", "chat", "notes", "readings", "stills"],
    "properties": {
        "consult": _CONSULT,
        "members": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "role": {"type": "string", "nullable": True},
            "joined": {"type": "number"}, "left": {"type": "number", "nullable": True}}}},
        "timeline": {"type": "array", "items": {"type": "object"}},
        "chat": {"type": "array", "items": {"$ref": "#/components/schemas/Text"}},
        "notes": {"type": "array", "items": {"$ref": "#/components/schemas/Text"}},
        "readings": {"type": "array", "items": {"type": "object", "required": ["kind", "unit", "time", "source"],
                                                "properties": {"key": {"type": "string"}}}},
        "stills": {"type": "array", "items": {"type": "object"}},
    },
}

_UPLOAD = {"type": "object", "required": ["items"], "properties": {"items": {
    "type": "array", "maxItems": 500, "items": {
        "type": "object", "required": ["kind", "body"], "properties": {
            "key": {"type": "string", "pattern": "^[0-9a-f]{32}$",
                    "description": "idempotency key; a reading's is derived from its content and may be left out"},
            "kind": {"type": "string", "enum": ["reading", "chat", "note"]},
            "consult": {"type": "string", "nullable": True, "maxLength": 36},
            "body": {"type": "object", "description": "reading: the Reading JSON model; chat: {from, text, time}; "
                                                      "note: {text, time}"}}}}}}

_UPLOAD_ANSWER = {"type": "object", "required": ["held", "refused"], "properties": {
    "held": {"type": "array", "items": {"type": "integer"}, "description": "positions of the items the record holds"},
    "refused": {"type": "array", "items": {"type": "object", "required": ["index", "key", "code", "message"],
                                           "properties": {
        "index": {"type": "integer"}, "key": {"type": "string", "nullable": True}, "code": {"type": "string"},
        "message": {"type": "string"}}}}}}

_ME = {"type": "object", "required": ["name", "role", "csrf"],
       "properties": {"name": {"type": "string"}, "role": {"type": "string"}, "csrf": {"type": "string"}}}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Farlink signaling server", "version": "1",
             "description": "Consults, their records and exports. Browser sessions use the farlink_session "
                            "cookie; state-changing requests also need X-CSRF-Token (from /api/login or "
                            "/api/me). Stations use a Bearer token."},
    "components": {
        "securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": "farlink_session"},
            "station": {"type": "http", "scheme": "bearer"},
        },
        "schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                "type": "object", "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
            "Text": {"type": "object", "required": ["time", "from", "text"], "properties": {
                "time": {"type": "number"}, "from": {"type": "string"}, "text": {"type": "string"},
                "key": {"type": "string", "description": "the station outbox's idempotency key"}}},
            "Consult": _CONSULT,
            "Record": _RECORD,
        },
    },
    "paths": {
        "/healthz": {"get": {"summary": "Liveness", "security": [], "responses": {
            "200": _json({"type": "object", "required": ["status"]}, "the server is up")}}},
        "/metrics": {"get": {"summary": "Prometheus metrics (counts only, no names)", "security": [],
                             "responses": {"200": {"description": "Prometheus text format", "content": {
                                 "text/plain": {"schema": {"type": "string"}}}}}}},
        "/api/login": {"post": {
            "summary": "Log in; sets the session cookie and returns the CSRF token", "security": [],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["name", "password"],
                "properties": {"name": {"type": "string"}, "password": {"type": "string"}}}}}},
            "responses": {"200": _json(_ME, "logged in"), **_errors(400, 401, 429)}}},
        "/api/logout": {"post": {"summary": "End the session (needs X-CSRF-Token)", "security": [{"session": []}],
                                 "responses": {"200": _json({"type": "object"}, "logged out"), **_errors(403)}}},
        "/api/me": {"get": {"summary": "Who the session is", "security": [{"session": []}],
                            "responses": {"200": _json(_ME, "the session's user"), **_errors(401)}}},
        "/api/consults": {"get": {
            "summary": "Consults, newest first", "security": [{"session": []}],
            "parameters": [
                {"name": "state", "in": "query", "schema": _CONSULT["properties"]["state"]},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000}},
            ],
            "responses": {"200": _json({"type": "object", "required": ["consults"], "properties": {
                "consults": {"type": "array", "items": {"$ref": "#/components/schemas/Consult"}}}}, "the list"),
                **_errors(400, 401, 403)}}},
        "/api/consults/{consult}": {"get": {
            "summary": "The consult record (audited as a view)", "security": [{"session": []}], "parameters": [_ID],
            "responses": {"200": _json({"$ref": "#/components/schemas/Record"}, "the record"),
                          **_errors(401, 403, 404)}}},
        "/api/consults/{consult}/fhir": {"get": {
            "summary": "The consult's readings as a FHIR R4 Bundle of Observations (audited as an export)",
            "security": [{"session": []}], "parameters": [_ID],
            "responses": {"200": {"description": "a collection Bundle", "content": {"application/fhir+json": {
                "schema": {"type": "object", "required": ["resourceType", "type", "entry"]}}}},
                **_errors(401, 403, 404)}}},
        "/api/consults/{consult}/summary": {"get": {
            "summary": "A printable HTML summary with the vitals charted (audited as a view)",
            "security": [{"session": []}], "parameters": [_ID],
            "responses": {"200": {"description": "the page", "content": {"text/html": {"schema": {"type": "string"}}}},
                          **_errors(401, 403, 404)}}},
        "/api/station/records": {"post": {
            "summary": "A station's outbox upload: readings, chat and notes, deduplicated by key (station token; "
                       "the body may be gzipped, Content-Encoding: gzip)",
            "security": [{"station": []}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _UPLOAD}}},
            "responses": {"200": _json(_UPLOAD_ANSWER, "held after the commit, or refused with a code"),
                          **_errors(400, 401, 403, 413)}}},
        "/api/audit": {"get": {
            "summary": "Audit log entries (admin)", "security": [{"session": []}],
            "parameters": [{"name": "consult", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": _json({"type": "object", "required": ["entries"]}, "the entries"),
                          **_errors(401, 403)}}},
        "/api/openapi.json": {"get": {"summary": "This document", "security": [],
                                      "responses": {"200": _json({"type": "object"}, "the document")}}},
    },
}

"""The service's own pages: a landing page at ``/`` and its API reference at ``/docs``.

Both are plain HTML with an inline stylesheet and no script: nothing is fetched from
anywhere, this service included, beyond the page itself. ``/docs.json`` is the OpenAPI
description they are made from, without links to other sites: a valid OpenAPI 3.0.3
document (BentoML's says 3.0.2 but writes its schemas in OpenAPI 3.1's JSON Schema, which
3.0 tools cannot read), with the API key and the service's own answers to each route.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

from parcelrisk.serving.guard import OPEN_PATHS

#: The service's GET routes besides the pages, with what each answers.
GET_ROUTES = (
    ("/model", "model metadata and the scoring policy in force (API key if one is set)"),
    ("/healthz", "liveness (200 while the process runs)"),
    ("/readyz", "readiness (200 once the model is loaded)"),
    ("/metrics", "Prometheus metrics: BentoML's request metrics and parcelrisk's own"),
    ("/docs.json", "the OpenAPI description of every route"),
)
#: The POST routes, with what each takes.
POST_ROUTES = (
    ("/score", "probability, lane, model version and reasons per parcel; every decision is "
               "logged before the answer"),
    ("/explain", "full TreeSHAP contributions by input group and by feature"),
    ("/outcomes", "inspection results of scored parcels"),
)  # fmt: skip
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;"
    "color:#222;line-height:1.45}code,pre{background:#f4f6f7;padding:.1em .3em}"
    "pre{padding:.6em;overflow-x:auto}h2{border-bottom:1px solid #ddd}"
)
DESCRIPTION = (
    "Customs risk scoring of low-value parcel declarations: probability, lane and reasons "
    "per parcel; every decision is written to an append-only audit log."
)


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )


def _route_list(routes: tuple[tuple[str, str], ...], method: str, link: bool) -> str:
    items = []
    for path, what in routes:
        name = f"<code>{method} {html.escape(path)}</code>"
        if link:
            name = f"<a href='{html.escape(path)}'>{name}</a>"
        else:
            name = f"<a href='/docs#{html.escape(path.strip('/'))}'>{name}</a>"
        items.append(f"<li>{name}: {html.escape(what)}</li>")
    return "<ul>" + "".join(items) + "</ul>"


def landing_page(name: str, model_version: str) -> str:
    """The page at ``/``: the service, its model version and links to every route."""
    body = (
        f"<h1>{html.escape(name)}</h1><p>{html.escape(DESCRIPTION)}</p>"
        f"<p>Model version: <code>{html.escape(model_version)}</code></p>"
        "<h2>Endpoints</h2><p>JSON over HTTP; see <a href='/docs'>the API reference</a> "
        "and <a href='/docs.json'>its OpenAPI description</a>.</p>"
        + _route_list(POST_ROUTES, "POST", link=False)
        + _route_list(GET_ROUTES, "GET", link=True)
    )
    return _page(name, body)


#: The OpenAPI version of the description: 3.0.3, which more tools read than 3.1.
OPENAPI_VERSION = "3.0.3"
#: The security scheme of the API key, and the routes open without it (the health probes);
#: every other route takes the key if the service has one set.
API_KEY_SCHEME = "ApiKey"
_ERROR_SCHEMA = {
    "type": "object",
    "title": "Error",
    "description": "A request the service refused or failed: what went wrong.",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "what went wrong, and what was not done"},
        "error_id": {"type": "string", "description": "names the error in the server log"},
        "problems": {
            "type": "array",
            "description": "every problem of the request: where (row, parcel id, field) and why",
            "items": {"type": "object", "additionalProperties": True},
        },
        "unknown_parcel_ids": {
            "type": "array",
            "description": "parcel ids with no logged decision",
            "items": {"type": "string"},
        },
    },
    "additionalProperties": True,
}
_REFUSALS = {
    "400": "the body is not JSON, or does not fit the request schema (where, in "
    "'problems'), or holds no records; nothing was done",
    "401": "missing or wrong API key in header X-API-Key",
    "404": "not found: for /outcomes, parcel ids with no logged decision, in "
    "'unknown_parcel_ids' (nothing was recorded)",
    "413": "more records than the service takes in one request, or a body over its byte "
    "limit; nothing was done",
    "415": "not a JSON body (Content-Type: application/json); nothing was done",
    "422": "records the service cannot take, every problem named in 'problems'; nothing was done",
    "503": "audit store unavailable, or the service overloaded (Retry-After); nothing was "
    "decided or recorded, retry",
    "500": "internal error, named by 'error_id' in the server log; nothing was done",
}
#: The service's own answers besides 200 and 401 (BentoML's description names only its own).
ROUTE_ERRORS = {
    "/score": ("400", "413", "415", "422", "503", "500"),
    "/explain": ("400", "413", "415", "422", "503", "500"),
    "/outcomes": ("400", "404", "413", "415", "422", "503", "500"),
    "/static_content/{path}": ("404",),
}
#: The answers that are not JSON.
MEDIA_TYPES = {"/": "text/html", "/docs": "text/html", "/metrics": "text/plain"}
#: Keywords of an OpenAPI 3.0 Schema Object (besides ``x-`` extensions and ``$ref``).
_SCHEMA_30_KEYS = frozenset({
    "title", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
    "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems",
    "maxProperties", "minProperties", "required", "enum", "type", "not", "allOf", "oneOf",
    "anyOf", "items", "properties", "additionalProperties", "description", "format",
    "default", "nullable", "discriminator", "readOnly", "writeOnly", "example",
    "externalDocs", "deprecated", "xml",
})  # fmt: skip
_DEFS = "#/$defs/"
_SCHEMAS = "#/components/schemas/"


def openapi_description(spec: Mapping[str, Any], name: str, model_version: str) -> dict:
    """BentoML's OpenAPI description of the service as a valid OpenAPI 3.0.3 document, with
    its own title and description (BentoML's describes BentoML, with badges from other
    sites), the API key as a security scheme and the service's own answers to each route.

    BentoML's schemas are JSON Schema 2020-12 (pydantic's) under an OpenAPI 3.0.2 label:
    ``anyOf`` with ``{"type": "null"}``, numeric ``exclusiveMinimum``, ``const``, ``$defs``.
    They are converted to OpenAPI 3.0 Schema Objects (:func:`schema_30`), without which
    schema-driven clients and testers cannot build an ``/outcomes`` request.
    """
    components = dict(spec.get("components", {}))
    found = {**_defs(spec), **components.get("schemas", {})}
    schemas = {k: schema_30(v) for k, v in found.items()}
    schemas["Error"] = _ERROR_SCHEMA
    components["schemas"] = schemas
    components["securitySchemes"] = {
        **components.get("securitySchemes", {}),
        API_KEY_SCHEME: {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "every route but the health probes needs it if the service "
            "has keys set (PARCELRISK_API_KEY, PARCELRISK_API_KEYS)",
        },
    }
    paths = {path: {method: _operation(path, op) for method, op in methods.items()}
             for path, methods in spec.get("paths", {}).items()}  # fmt: skip
    info = {"title": name, "version": model_version, "description": DESCRIPTION}
    return {**spec, "openapi": OPENAPI_VERSION, "info": info, "paths": paths,
            "components": components}  # fmt: skip


def _operation(path: str, op: Mapping[str, Any]) -> dict[str, Any]:
    op = dict(op)
    if "parameters" in op:  # the key is the security scheme's, not a parameter
        op["parameters"] = [
            {**p, "schema": schema_30(p["schema"])} if "schema" in p else p
            for p in op["parameters"]
            if not (p.get("in") == "header" and p.get("name", "").lower() == "x-api-key")
        ]
        if not op["parameters"]:
            del op["parameters"]
    if "requestBody" in op:  # BentoML's APIs need their inputs: a body is required
        op["requestBody"] = {**_with_content(op["requestBody"]), "required": True}
    responses = {code: _with_content(r) for code, r in op.get("responses", {}).items()}
    keyed = path not in OPEN_PATHS
    for code in ("401",) * keyed + ROUTE_ERRORS.get(path, ()):
        responses[code] = {
            "description": _REFUSALS[code],
            "content": {"application/json": {"schema": {"$ref": f"{_SCHEMAS}Error"}}},
        }
    if path in MEDIA_TYPES and "200" in responses:
        responses["200"] = {**responses["200"], "content": {MEDIA_TYPES[path]: {"schema": {}}}}
    op["responses"] = responses
    if keyed:
        op["security"] = [{API_KEY_SCHEME: []}]
    return op


def _with_content(part: Mapping[str, Any]) -> dict[str, Any]:
    """A request body or response with the schema of each media type converted."""
    if "content" not in part:
        return dict(part)
    content = {media: {**c, "schema": schema_30(c["schema"])} if "schema" in c else c
               for media, c in part["content"].items()}  # fmt: skip
    return {**part, "content": content}


def schema_30(schema: Any) -> Any:
    """A JSON Schema (2020-12, as OpenAPI 3.1 and pydantic write it) as an OpenAPI 3.0
    Schema Object: ``null`` types become ``nullable``, ``const`` a one-value ``enum``,
    ``examples`` one ``example``, numeric exclusive bounds boolean ones and ``$defs``
    references component references (:func:`openapi_description` moves the ``$defs``
    there). Keywords 3.0 lacks are left out: the schema then allows more, never less."""
    if not isinstance(schema, Mapping):
        return schema
    if "$ref" in schema:
        ref = {"$ref": str(schema["$ref"]).replace(_DEFS, _SCHEMAS)}
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        # 3.0 ignores a reference's siblings: keep them beside it, the reference in an allOf
        return {**schema_30(rest), "allOf": [ref]} if rest else ref
    out: dict[str, Any] = {}
    nullable, alone = False, None  # alone: the one member of an anyOf with null
    for key, value in schema.items():
        if key == "type" and isinstance(value, list):
            kinds = [t for t in value if t != "null"]
            nullable |= len(kinds) < len(value)
            if len(kinds) == 1:
                out["type"] = kinds[0]
            elif kinds:
                out["anyOf"] = [{"type": t} for t in kinds]
        elif key == "type" and value == "null":
            nullable, out["enum"] = True, [None]
        elif key in ("anyOf", "oneOf"):
            members = [schema_30(m) for m in value if m != {"type": "null"}]
            nullable |= len(members) < len(value)
            if len(members) == 1 and len(members) < len(value):
                alone = members[0]
            elif members:
                out[key] = members
        elif key == "allOf":
            out[key] = [schema_30(m) for m in value]
        elif key == "const":
            out["enum"] = [value]
        elif key == "examples":
            if isinstance(value, list) and value:
                out["example"] = value[0]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            out[key.replace("exclusiveM", "m")], out[key] = value, True
        elif key == "properties":
            out[key] = {name: schema_30(s) for name, s in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            if isinstance(value, Mapping) or key == "additionalProperties":
                out[key] = schema_30(value)  # items as a list (of a tuple) has no 3.0 form
        elif key in _SCHEMA_30_KEYS or key.startswith("x-"):
            out[key] = value
    if alone is not None:  # merged in, unless its keywords would clash with the schema's
        if "$ref" in alone or set(alone) & set(out):
            out["allOf"] = [*out.get("allOf", []), alone]
        else:
            out = {**alone, **out}
    if nullable:
        out["nullable"] = True
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]  # 3.0.3: an enum must name null to allow it
    return out


def _defs(value: Any) -> dict[str, Any]:
    """Every ``$defs`` entry anywhere in ``value``, by name."""
    found: dict[str, Any] = {}
    if isinstance(value, Mapping):
        for key, v in value.items():
            if key == "$defs" and isinstance(v, Mapping):
                found.update(v)
            found.update(_defs(v))
    elif isinstance(value, list):
        for v in value:
            found.update(_defs(v))
    return found


def docs_page(spec: Mapping[str, Any]) -> str:
    """The page at ``/docs``: every route of an OpenAPI description, with its request body
    schema and its answers, and the schemas they refer to."""
    parts = [f"<h1>{html.escape(spec['info']['title'])} API</h1>",
             f"<p>{html.escape(spec['info']['description'])}</p>",
             "<p>Machine-readable: <a href='/docs.json'>OpenAPI description</a>.</p>"]  # fmt: skip
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            anchor, route = html.escape(path.strip("/")), html.escape(path)
            parts.append(f"<h2 id='{anchor}'><code>{method.upper()} {route}</code></h2>")
            if text := op.get("description") or op.get("summary"):
                parts.append(f"<p>{html.escape(text)}</p>")
            body = op.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                parts.append(f"<p>Request body ({html.escape(media)}):</p>")
                parts.append(_json(content.get("schema", {})))
            answers = ", ".join(
                f"{html.escape(str(code))} {html.escape(str(r.get('description', '')))}"
                for code, r in op.get("responses", {}).items()
            )
            if answers:
                parts.append(f"<p>Answers: {answers}</p>")
    schemas = spec.get("components", {}).get("schemas", {})
    if schemas:
        parts.append("<h2 id='schemas'>Schemas</h2>")
        for schema_name, schema in schemas.items():
            parts.append(f"<h3 id='{html.escape(schema_name)}'>{html.escape(schema_name)}</h3>")
            parts.append(_json(schema))
    return _page(f"{spec['info']['title']} API", "\n".join(parts))


def _json(value: Any) -> str:
    return f"<pre>{html.escape(json.dumps(value, indent=2, ensure_ascii=False))}</pre>"

"""The service's own pages: a landing page at ``/`` and its API reference at ``/docs``.

Both are plain HTML with an inline stylesheet and no script: nothing is fetched from
anywhere, this service included, beyond the page itself. ``/docs.json`` is the OpenAPI
description they are made from, without links to other sites.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from typing import Any

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


def openapi_description(spec: Mapping[str, Any], name: str, model_version: str) -> dict:
    """BentoML's OpenAPI description of the service with its own title and description
    (BentoML's describes BentoML, with badges from other sites)."""
    info = {"title": name, "version": model_version, "description": DESCRIPTION}
    return {**spec, "info": info}


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

"""The service's OpenAPI description (``/docs.json``): a valid OpenAPI 3.0.3 document that
schema-driven tools can build a request for every route from."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.definitions import OPENAPI_30

from parcelrisk.serving.pages import docs_page, openapi_description, schema_30


@pytest.fixture(scope="module")
def description() -> dict[str, Any]:
    from parcelrisk.serving.service import ParcelRisk  # BentoML's description, no model

    raw = ParcelRisk.openapi_spec.asdict()
    return openapi_description(json.loads(json.dumps(raw)), "parcelrisk", "test-1")


def _problems(document: dict[str, Any]) -> list[str]:
    """Every way ``document`` is not a valid OpenAPI 3.0 document."""
    problems = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}"
        for e in jsonschema.Draft4Validator(OPENAPI_30).iter_errors(document)
    ]
    try:  # a stricter validator if installed (not a dependency of the project)
        from openapi_spec_validator import validate
    except ImportError:
        return problems
    try:
        validate(document)
    except Exception as err:
        problems.append(f"openapi-spec-validator: {err}")
    return problems


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_the_services_description_is_a_valid_openapi_3_0_document(description):
    assert description["openapi"] == "3.0.3"
    assert _problems(description) == []
    schemathesis.openapi.from_dict(description).validate()  # schemathesis's own check
    # no JSON Schema 2020-12 left over
    assert not _keys(description) & {"const", "examples", "$defs", "prefixItems"}
    assert '{"type": "null"}' not in json.dumps(description)
    assert description["info"] == {
        "title": "parcelrisk",
        "version": "test-1",
        "description": description["info"]["description"],
    }
    assert "bentoml" not in json.dumps(description["info"]).lower()


def test_the_api_key_is_a_security_scheme_of_the_routes_that_take_it(description):
    scheme = description["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-Key")
    for path, methods in description["paths"].items():
        for op in methods.values():
            keyed = path not in ("/healthz", "/livez", "/readyz")
            assert (op.get("security") == [{"ApiKey": []}]) == keyed, path
            assert all(p["name"].lower() != "x-api-key" for p in op.get("parameters", []))
            if keyed:
                assert op["responses"]["401"]["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/Error"
                }


def test_refusals_and_non_json_pages_are_described(description):
    paths = description["paths"]
    for path in ("/score", "/explain", "/outcomes"):
        answers = paths[path]["post"]["responses"]
        assert {"400", "401", "413", "415", "422", "503", "500"} <= set(answers), path
        assert answers["400"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/Error"
        }
    assert "404" in paths["/outcomes"]["post"]["responses"]
    assert "401" in paths["/model"]["get"]["responses"]
    assert "401" not in paths["/healthz"]["get"]["responses"]
    error = description["components"]["schemas"]["Error"]
    assert error["required"] == ["error"] and "error_id" in error["properties"]
    for path, media in (("/", "text/html"), ("/docs", "text/html"), ("/metrics", "text/plain")):
        assert list(paths[path]["get"]["responses"]["200"]["content"]) == [media], path


def test_outcomes_become_nullable_3_0_schemas(description):
    props = description["components"]["schemas"]["Outcome"]["properties"]
    assert props["violation_found"]["type"] == "boolean" and props["violation_found"]["nullable"]
    assert props["inspection_reason"]["enum"] == ["rule", "random", None]
    p = props["inspection_propensity"]
    assert (p["minimum"], p["exclusiveMinimum"], p["maximum"], p["nullable"]) == (0, True, 1, True)
    at = props["outcome_at"]
    assert (at["type"], at["format"], at["nullable"], at["default"]) == (
        "string",
        "date-time",
        True,
        None,
    )
    assert "anyOf" not in at and "title" in at and "description" in at


def _drawn(strategy, n: int) -> list:
    """Up to ``n`` examples of ``strategy``."""
    found = []

    @given(example=strategy)
    @settings(max_examples=n, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def draw(example):
        found.append(example)

    draw()
    return found


def test_every_operation_gets_requests_from_schemathesis(description):
    """Schemathesis builds requests, bodies included, for every route (with BentoML's
    own 3.0.2 description it cannot for /outcomes)."""
    schema = schemathesis.openapi.from_dict(description)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/score", "/explain", "/outcomes", "/model"}
    for op in operations:
        # a body can be broken; a string in a path, or nothing at all, cannot
        has_body = "requestBody" in description["paths"][op.path][op.method.lower()]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)[: 1 + has_body]:
            cases = _drawn(op.as_strategy(mode), 3)
            assert cases, (op.label, mode)
            if op.path == "/outcomes" and mode is GenerationMode.POSITIVE:
                assert all(isinstance(c.body, dict) and "outcomes" in c.body for c in cases)


def test_schema_30_converts_json_schema_2020_12():
    assert schema_30({"type": ["string", "null"], "const": "a", "examples": ["a", "b"]}) == {
        "type": "string",
        "enum": ["a", None],
        "example": "a",
        "nullable": True,
    }
    assert schema_30({"anyOf": [{"$ref": "#/$defs/X"}, {"type": "null"}], "title": "T"}) == {
        "title": "T",
        "allOf": [{"$ref": "#/components/schemas/X"}],
        "nullable": True,
    }
    assert schema_30({"$ref": "#/$defs/X", "description": "d"}) == {
        "description": "d",
        "allOf": [{"$ref": "#/components/schemas/X"}],
    }
    assert schema_30({"type": "number", "exclusiveMaximum": 5, "prefixItems": []}) == {
        "type": "number",
        "maximum": 5,
        "exclusiveMaximum": True,
    }
    assert schema_30(
        {"type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "string"}]}}
    ) == {
        "type": "array",
        "items": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
    }
    assert schema_30({"type": ["integer", "string"]}) == {
        "anyOf": [{"type": "integer"}, {"type": "string"}]
    }


def test_defs_move_to_the_components_and_the_document_stays_valid():
    spec = {
        "openapi": "3.0.2",
        "info": {"title": "x", "version": "0"},
        "paths": {
            "/a": {
                "post": {
                    "requestBody": {"content": {"application/json": {"schema": {
                        "type": "object",
                        "properties": {"b": {"anyOf": [{"$ref": "#/$defs/B"}, {"type": "null"}]}},
                        "$defs": {"B": {"type": "object", "properties": {"c": {"const": 1}}}},
                    }}}},
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }  # fmt: skip
    out = openapi_description(spec, "x", "1")
    assert out["components"]["schemas"]["B"] == {
        "type": "object",
        "properties": {"c": {"enum": [1]}},
    }
    assert _problems(out) == []


def test_the_docs_page_renders_the_description(description):
    page = docs_page(description)
    assert "POST /outcomes" in page and "violation_type" in page and "X-API-Key" in page
    assert "<script" not in page

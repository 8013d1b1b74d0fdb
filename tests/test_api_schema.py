"""OpenAPI schema and docs page: bearer scheme, scopes per operation, offline assets."""

import re

import pytest
from django.contrib.staticfiles import finders

from tests.api_support import ENDPOINTS, ORDER_ENDPOINTS, api_events, call
from tests.conftest import run_manage


@pytest.fixture
def schema(gateway_db):
    return call("/api/schema/?format=json").json()


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_schema_declares_bearer_scheme(schema):
    scheme = schema["components"]["securitySchemes"]["bearerAuth"]

    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"


def test_every_operation_requires_bearer(schema):
    for path, method, operation in operations(schema):
        assert operation["security"] == [{"bearerAuth": []}], (path, method)


def test_every_operation_states_its_scope(schema):
    expected = {
        path.split("?")[0].replace("/DU5550101/", "/{account_id}/"): scope
        for path, scope in ENDPOINTS
    }
    expected.update(
        {schema_path: scope for _method, _path, schema_path, scope in ORDER_ENDPOINTS}
    )

    for path, _method, operation in operations(schema):
        scope = expected[path]
        assert operation["x-required-scopes"] == [scope], path
        assert scope in operation["description"], path


def test_schema_lists_every_endpoint(schema):
    order_paths = {schema_path for _m, _p, schema_path, _s in ORDER_ENDPOINTS}

    assert len(schema["paths"]) == len(ENDPOINTS) + len(order_paths)


def test_schema_documents_error_shape(schema):
    error = schema["components"]["schemas"]["ErrorDetail"]

    assert set(error["properties"]) == {"code", "message", "request_id"}


def test_schema_call_is_audited(gateway_db):
    call("/api/schema/")

    (event,) = api_events(gateway_db)
    assert event["operation"] == "api.schema.read"
    assert event["outcome"] == "completed"
    assert event["actor"]["kind"] == "anonymous"


@pytest.fixture
def docs_page(gateway_db):
    response = call("/api/docs/")
    assert response.status_code == 200
    return response.content.decode()


def test_docs_page_names_no_remote_host(docs_page):
    assert "http://" not in docs_page
    assert "https://" not in docs_page


def test_docs_page_assets_are_local_files(docs_page):
    assets = re.findall(r'(?:src|href)="([^"]+)"', docs_page)

    assert len(assets) >= 3
    for asset in assets:
        assert asset.startswith("/static/drf_spectacular_sidecar/"), asset
        assert finders.find(asset.removeprefix("/static/")), asset


def test_docs_page_loads_local_schema(docs_page):
    assert '"/api/schema/"' in docs_page


def test_docs_call_is_audited(gateway_db, docs_page):
    (event,) = api_events(gateway_db)

    assert event["operation"] == "api.docs.read"


def test_spectacular_validates_without_warnings(gateway_db, tmp_path):
    output = tmp_path / "schema.yaml"

    result = run_manage(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--file",
        str(output),
        db_path=gateway_db,
    )

    assert result.returncode == 0, result.stderr
    assert "bearerAuth" in output.read_text()

"""The API's OpenAPI document: valid OpenAPI 3.1, served to a logged-in caller, naming
exactly the endpoints the edge routes, and describing the answers the real edge gives."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import requests
from edge_helpers import FakeDaemonApi, a_view
from openapi_spec_validator import validate
from web_helpers import PASSWORD

from infra_gitops.auth.store import AuthStore
from infra_gitops.daemon.metrics import PrometheusMetrics
from infra_gitops.web.app import ENDPOINTS, openapi_document
from infra_gitops.web.auth import WebAuth
from infra_gitops.web.server import ServerHandle, serve


@pytest.fixture(scope="module")
def server(auth_store: AuthStore) -> Iterator[ServerHandle]:
    api = FakeDaemonApi(views=[a_view("app")])
    registry = PrometheusMetrics().registry
    with serve("127.0.0.1:0", api, registry, webhook_secret=None, auth=WebAuth(auth_store)) as s:
        yield s


def conforms(instance: Any, schema_name: str) -> None:
    """instance matches components/schemas/NAME of the document (JSON Schema 2020-12)."""
    document = openapi_document()
    root = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    jsonschema.Draft202012Validator(root).validate(instance)


def test_the_document_is_valid_openapi_and_names_exactly_the_routed_endpoints() -> None:
    document = openapi_document()
    validate(document)
    operations = [
        (path, m.upper(), op) for path, ops in document["paths"].items() for m, op in ops.items()
    ]
    documented = {(path, method) for path, method, _ in operations}
    assert documented == {(e.path, e.method) for e in ENDPOINTS}
    public = {(path, method) for path, method, op in operations if op.get("security") == []}
    assert public == {(e.path, e.method) for e in ENDPOINTS if e.public}


def test_the_edge_serves_it_and_its_answers_match_it(server: ServerHandle) -> None:
    assert requests.get(f"{server.url}/api/openapi.json", timeout=5).status_code == 401
    client = requests.Session()
    login = client.post(
        f"{server.url}/api/session", json={"name": "ada", "password": PASSWORD}, timeout=10
    )
    conforms(login.json(), "Principal")
    client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
    assert client.get(f"{server.url}/api/openapi.json", timeout=5).json() == openapi_document()
    stacks = client.get(f"{server.url}/api/stacks", timeout=5).json()
    jsonschema.Draft202012Validator(
        {
            "type": "array",
            "items": {"$ref": "#/components/schemas/StackView"},
            "components": openapi_document()["components"],
        }
    ).validate(stacks)
    conforms(client.post(f"{server.url}/api/stacks/app/heal", timeout=5).json(), "Accepted")
    conforms(client.post(f"{server.url}/api/stacks/nope/heal", timeout=5).json(), "Error")
    conforms(client.get(f"{server.url}/api/session", timeout=5).json(), "Principal")

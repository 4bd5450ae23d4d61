from __future__ import annotations

from infra_gitops import hcl
from infra_gitops.sandbox.backend import backend_config


def test_hcl_strings_escape_quotes_and_templates() -> None:
    assert hcl.string('a "b" ${c} %{d} \\e') == '"a \\"b\\" $${c} %%{d} \\\\e"'


def test_backend_file_renders_the_endpoints_object() -> None:
    text = hcl.attributes(backend_config("http://127.0.0.1:9", "storage"))
    assert 'key = "storage/terraform.tfstate"\n' in text
    assert 'endpoints = { s3 = "http://127.0.0.1:9" }\n' in text
    assert "use_lockfile = true\n" in text


def test_attributes_are_sorted_and_nested_maps_become_objects() -> None:
    text = hcl.attributes(
        {"bucket": "b", "endpoints": {"s3": "http://h:1"}, "use_lockfile": True, "n": 3}
    )
    assert text == ('bucket = "b"\nendpoints = { s3 = "http://h:1" }\nn = 3\nuse_lockfile = true\n')

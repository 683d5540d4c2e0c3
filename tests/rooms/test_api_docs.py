"""docs/api.md documents every endpoint the API serves, so the page cannot silently fall
behind the code (the schema is generated from the handlers)."""

from __future__ import annotations

import re
from pathlib import Path

from rooms.api import api

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def documented_endpoints() -> set[tuple[str, str]]:
    """(METHOD, path) of every `### \\`METHOD /path...\\`` heading, query string dropped."""
    headings = re.findall(r"^### `([A-Z]+) (/[^`?\s]+)", DOC.read_text(), flags=re.MULTILINE)
    return {(method, path) for method, path in headings}


def served_endpoints() -> set[tuple[str, str]]:
    schema = api.get_openapi_schema(path_prefix="/api/")
    return {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}


def test_every_endpoint_in_the_schema_has_a_section_in_the_api_docs():
    missing = served_endpoints() - documented_endpoints()

    assert not missing, f"add these to docs/api.md: {sorted(missing)}"


def test_the_api_docs_describe_no_endpoint_that_does_not_exist():
    stale = documented_endpoints() - served_endpoints()

    assert not stale, f"docs/api.md describes endpoints that are gone: {sorted(stale)}"


def test_every_error_code_the_docs_promise_is_in_the_error_table():
    table = DOC.read_text().split("### Error codes", 1)[1].split("\n## ", 1)[0]
    for code in (
        "invalid",
        "malformed_body",
        "not_authenticated",
        "csrf_failed",
        "therapists_only",
        "owner_not_removable",
        "banned",
        "not_found",
        "invitation_expired",
        "invitation_revoked",
        "invitation_used",
    ):
        assert f"`{code}`" in table, code

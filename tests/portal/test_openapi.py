"""The OpenAPI schema: every operation has a unique, stable id and a tag named for its resource."""

from collections import Counter
from typing import Any

import pytest
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(scope="module")
def operations() -> list[tuple[str, str, dict[str, Any]]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def test_every_operation_id_is_unique_across_the_whole_schema(operations) -> None:
    counts = Counter(operation["operationId"] for _, _, operation in operations)

    assert [name for name, count in counts.items() if count > 1] == []
    assert len(counts) == len(operations) > 70


def test_no_operation_is_tagged_after_the_api_mount_point(operations) -> None:
    for path, method, operation in operations:
        assert operation["tags"], (method, path)
        assert not {"api", "fleet-api", "audits"} & set(operation["tags"]), (method, path)


def test_every_tag_in_use_is_described_for_the_docs(operations) -> None:
    described = {tag["name"] for tag in settings.SPECTACULAR_SETTINGS["TAGS"]}
    used = {tag for _, _, operation in operations for tag in operation["tags"]}

    assert used == described


def test_operations_are_tagged_and_named_by_resource(operations) -> None:
    named = {(method, path): operation for path, method, operation in operations}

    # Ids are public: clients generated from the schema and the docs' deep links use them.
    expected = {
        ("get", "/api/lpars/"): ("lpars", "lpars_list"),
        ("post", "/api/stacks/{stack}/publish/"): ("stacks", "stacks_publish_create"),
        ("get", "/api/services/{uuid}/"): ("services", "services_retrieve"),
        ("get", "/api/cipher-sets/"): ("cipher-sets", "cipher_sets_list"),
        ("post", "/api/token/"): ("token", "token_create"),
        ("get", "/api/fleet/stacks/"): ("fleet", "fleet_stacks_list"),
        ("post", "/api/fleet/deployments/"): ("deployments", "fleet_deployments_create"),
        ("get", "/audits/api/packs/"): ("evidence", "audits_api_packs_list"),
        ("post", "/audits/api/verify/"): ("evidence", "audits_api_verify_create"),
    }
    for key, (tag, operation_id) in expected.items():
        assert named[key]["tags"] == [tag], key
        assert named[key]["operationId"] == operation_id, key

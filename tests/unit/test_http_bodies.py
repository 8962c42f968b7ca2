"""Request bodies over HTTP: JSON only, at most 1 MiB, at most 64 levels deep, strictly decoded."""

from collections.abc import Iterator

import pytest

from gateways.http.limits import json_depth
from tests.unit.test_http_builders import (
    a_client,
    a_registered_workflow,
    a_spec,
    an_engine,
    problem,
    raw_json,
    recorded,
)

ONE_MIB = 1_048_576


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def test_a_body_nested_70_levels_deep_is_a_400_and_the_app_still_answers() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        response = raw_json(client, "/v1/workflows", nested(70))

        assert problem(response, 400)["type"].endswith("/json-too-deep")
        assert recorded(engine) == 0
        assert client.get("/health/live").status_code == 200


def test_a_body_nested_half_a_million_levels_deep_is_refused_before_decoding() -> None:
    with a_client() as client:
        response = raw_json(client, "/v1/workflows", nested(500_000))

        assert problem(response, 400)["type"].endswith("/json-too-deep")
        assert client.get("/health/live").status_code == 200


def test_the_depth_limit_is_configurable() -> None:
    with a_client(max_json_depth=4) as client:
        a_registered_workflow(client, "etl")

        response = client.post("/v1/workflows/etl/runs", json={"inputs": {"a": {"b": {"c": {}}}}})

        assert problem(response, 400)["detail"].endswith("more than 4 levels deep")


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    with a_client() as client:
        spec = a_spec(description='[{"\\' + "[" * 100 + '"')

        response = client.post("/v1/workflows", json=spec)

        assert response.status_code == 201


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b"1", 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'["[[[", "\\"[[["]', 1),
        (b'{"a": "unterminated [[[[', 1),
    ],
)
def test_json_depth_counts_arrays_and_objects_outside_strings(raw: bytes, depth: int) -> None:
    assert json_depth(raw) == depth


def test_a_body_of_one_mib_and_one_byte_is_a_413_and_records_nothing() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        response = raw_json(client, "/v1/workflows", b" " * (ONE_MIB + 1))

        assert "1048576" in problem(response, 413)["detail"]
        assert recorded(engine) == 0


def test_a_streamed_body_without_content_length_is_cut_off_at_the_limit() -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b" " * 65_536

    engine = an_engine()
    with a_client(engine) as client:
        response = client.post(
            "/v1/workflows", content=chunks(), headers={"Content-Type": "application/json"}
        )

        problem(response, 413)
        assert recorded(engine) == 0


def test_a_body_just_under_the_limit_gets_past_the_size_check() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")
        padding = b" " * (ONE_MIB - 100)

        response = raw_json(client, "/v1/workflows/etl/runs", b'{"inputs": {}}' + padding)

        assert response.status_code == 202


def test_the_size_limit_is_configurable() -> None:
    with a_client(max_body_bytes=100) as client:
        response = client.post("/v1/workflows", json=a_spec())

        assert "100 bytes" in problem(response, 413)["detail"]


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"name": }', b"\xff\xfe", b'{"a": NaN}', b'{"a": 1e999}', b'{"a": 1, "a": 2}',
     b'{"a": ' + b"9" * 5000 + b"}"],
    ids=["truncated", "no-value", "not-utf8", "nan", "infinite", "duplicate-key", "huge-int"],
)  # fmt: skip
def test_a_body_that_is_not_strict_json_is_a_400_and_records_nothing(raw: bytes) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        response = raw_json(client, "/v1/workflows", raw)

        assert problem(response, 400)["type"].endswith("/malformed-json")
        assert recorded(engine) == 0


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1", None],
)
def test_a_body_that_is_not_labelled_json_is_a_415_and_records_nothing(
    content_type: str | None,
) -> None:
    engine = an_engine()
    headers = {} if content_type is None else {"Content-Type": content_type}
    with a_client(engine) as client:
        response = client.post("/v1/workflows", content=b'{"name": "etl"}', headers=headers)

        assert problem(response, 415)["type"].endswith("/unsupported-media-type")
        assert recorded(engine) == 0


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "application/merge-patch+json"]
)
def test_json_media_types_with_parameters_or_suffixes_are_accepted(content_type: str) -> None:
    with a_client() as client:
        response = client.post(
            "/v1/workflows",
            content=b'{"name": "etl", "tasks": [{"name": "a", "executor": "noop"}]}',
            headers={"Content-Type": content_type},
        )

        assert response.status_code == 201

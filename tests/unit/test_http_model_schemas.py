"""The OpenAPI document describes request and response models as the API validates them."""

from typing import Any

import pytest

from tests.unit.test_http_builders import a_client, a_spec


def components() -> dict[str, Any]:
    with a_client() as client:
        document: dict[str, Any] = client.get("/schema/openapi.json").json()
    schemas: dict[str, Any] = document["components"]["schemas"]
    return schemas


@pytest.mark.parametrize(
    "model", ["WorkflowSpec", "TaskSpec", "RetryPolicy", "SecretRef", "CancelRunRequest"]
)
def test_a_request_model_says_it_refuses_unknown_fields(model: str) -> None:
    assert components()[model]["additionalProperties"] is False


def test_a_response_model_leaves_room_for_new_fields() -> None:
    assert "additionalProperties" not in components()["RunView"]


def test_a_tasks_environment_is_an_object_of_bounded_size_with_named_variables() -> None:
    env = components()["TaskSpec"]["properties"]["env"]

    assert (env["type"], env["maxProperties"]) == ("object", 256)
    assert env["propertyNames"]["pattern"] == "^[A-Za-z_][A-Za-z0-9_]{0,127}$"


def test_list_items_keep_their_constraints() -> None:
    task = components()["TaskSpec"]["properties"]

    assert task["depends_on"]["items"]["pattern"].startswith("^[A-Za-z0-9]")
    assert task["expected_status"]["items"] == {"type": "integer", "minimum": 100, "maximum": 599}


def test_optional_text_keeps_its_constraints_beside_null() -> None:
    command = components()["TaskSpec"]["properties"]["command"]

    assert command["oneOf"][0]["minLength"] == 1
    assert command["oneOf"][1] == {"type": "null"}


def test_a_fields_own_pattern_is_documented() -> None:
    secret = components()["SecretRef"]["properties"]["secret"]

    assert secret["pattern"] == "^[A-Za-z_][A-Za-z0-9_]{0,127}$"


def test_a_bound_of_zero_is_documented() -> None:
    with a_client() as client:
        operation = client.get("/schema/openapi.json").json()["paths"]["/v1/runs/{run_id}/events"]
        after = next(p for p in operation["get"]["parameters"] if p["name"] == "after")

        assert after["schema"]["minimum"] == 0


@pytest.mark.parametrize("jitter", [0, 1, "true", None])
def test_a_retry_policy_takes_only_true_or_false_for_jitter(jitter: object) -> None:
    with a_client() as client:
        response = client.post("/v1/workflows", json=a_spec(retry={"jitter": jitter}))

        assert response.status_code == 422
        assert response.json()["errors"] == [
            {"loc": "retry.jitter", "msg": "must be true or false"}
        ]


def test_an_integer_may_be_written_with_a_zero_fraction() -> None:
    with a_client() as client:
        client.post("/v1/workflows", json=a_spec(retry={"max_attempts": 3.0}))

        definition = client.get("/v1/workflows/etl").json()

        assert definition["retry"]["max_attempts"] == 3

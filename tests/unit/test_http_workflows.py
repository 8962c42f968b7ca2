"""The workflows resource over HTTP: register, apply (create or revise) and read definitions."""

import pytest

from tests.unit.test_http_builders import (
    a_client,
    a_registered_workflow,
    a_spec,
    an_engine,
    locs,
    problem,
    recorded,
)


def test_registering_a_workflow_answers_201_with_its_first_version_and_location() -> None:
    with a_client() as client:
        response = client.post("/v1/workflows", json=a_spec("etl"))

        assert response.status_code == 201
        assert response.headers["location"] == "/v1/workflows/etl"
        body = response.json()
        assert (body["name"], body["version"], body["applied"]) == ("etl", 1, "created")
        assert body["created_at"]


def test_registering_a_name_that_exists_is_a_409_and_records_nothing() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")
        before = recorded(engine)

        response = client.post("/v1/workflows", json=a_spec("etl", description="again"))

        assert problem(response, 409)["type"].endswith("/workflow-exists")
        assert recorded(engine) == before


def test_applying_a_new_workflow_creates_it_with_201() -> None:
    with a_client() as client:
        response = client.put("/v1/workflows/etl", json=a_spec("etl"))

        assert response.status_code == 201
        assert response.headers["location"] == "/v1/workflows/etl"
        assert (response.json()["version"], response.json()["applied"]) == (1, "created")


def test_applying_a_changed_definition_records_the_next_version() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")

        response = client.put("/v1/workflows/etl", json=a_spec("etl", description="v2"))

        assert response.status_code == 200
        assert (response.json()["version"], response.json()["applied"]) == (2, "revised")


def test_applying_the_same_definition_again_changes_nothing() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")
        before = recorded(engine)

        response = client.put("/v1/workflows/etl", json=a_spec("etl"))

        assert response.status_code == 200
        assert (response.json()["version"], response.json()["applied"]) == (1, "unchanged")
        assert recorded(engine) == before


def test_applying_an_invalid_revision_is_a_422_and_keeps_the_current_version() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        a_registered_workflow(client, "etl")
        before = recorded(engine)
        cyclic = [{"name": "a", "executor": "noop", "depends_on": ["a"]}]

        response = client.put("/v1/workflows/etl", json=a_spec("etl", tasks=cyclic))

        assert locs(problem(response, 422)) == ["tasks[0].depends_on"]
        assert recorded(engine) == before
        assert client.get("/v1/workflows/etl").json()["version"] == 1


def test_applying_a_body_that_names_another_workflow_is_refused_at_name() -> None:
    engine = an_engine()
    with a_client(engine) as client:
        response = client.put("/v1/workflows/etl", json=a_spec("other"))

        assert locs(problem(response, 422)) == ["name"]
        assert recorded(engine) == 0


@pytest.mark.parametrize("path_name", ["a%20b", "etl%0A", "a" * 65, "-x", "%00"])
def test_a_malformed_name_in_the_path_is_a_422_at_name(path_name: str) -> None:
    engine = an_engine()
    with a_client(engine) as client:
        response = client.put(f"/v1/workflows/{path_name}", json=a_spec("etl"))

        assert locs(problem(response, 422)) == ["name"]
        assert recorded(engine) == 0


def test_reading_a_workflow_shows_its_current_definition() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")
        client.put("/v1/workflows/etl", json=a_spec("etl", description="v2"))

        response = client.get("/v1/workflows/etl")

        assert response.status_code == 200
        body = response.json()
        assert (body["name"], body["version"], body["current_version"]) == ("etl", 2, 2)
        assert body["description"] == "v2"
        assert [task["name"] for task in body["tasks"]] == ["extract", "transform", "load"]
        assert body["tasks"][1]["depends_on"] == ["extract"]


def test_reading_a_workflow_at_an_older_version_shows_that_version() -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")
        client.put("/v1/workflows/etl", json=a_spec("etl", description="v2"))

        response = client.get("/v1/workflows/etl", params={"version": 1})

        body = response.json()
        assert (body["version"], body["current_version"], body["description"]) == (1, 2, "")


@pytest.mark.parametrize("path", ["/v1/workflows/nope", "/v1/workflows/etl?version=2"])
def test_an_unknown_workflow_or_version_is_a_404(path: str) -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")

        response = client.get(path)

        assert problem(response, 404)["type"].endswith("/workflow-not-found")


@pytest.mark.parametrize("version", ["0", "-1", "one", "1.5"])
def test_a_version_that_is_not_a_positive_integer_is_a_422(version: str) -> None:
    with a_client() as client:
        a_registered_workflow(client, "etl")

        response = client.get("/v1/workflows/etl", params={"version": version})

        assert locs(problem(response, 422)) == ["version"]


def test_reading_with_a_malformed_name_is_a_422_at_name() -> None:
    with a_client() as client:
        response = client.get("/v1/workflows/a%20b")

        assert locs(problem(response, 422)) == ["name"]


def test_a_definition_with_every_executor_reads_back_as_written() -> None:
    tasks = [
        {"name": "p", "executor": "python", "target": "pkg.tasks:load"},
        {"name": "h", "executor": "http", "url": "https://example.com/hook", "method": "POST"},
    ]
    with a_client() as client:
        client.post("/v1/workflows", json=a_spec(tasks=tasks)).raise_for_status()

        body = client.get("/v1/workflows/etl").json()

        assert [task["executor"] for task in body["tasks"]] == ["python", "http"]
        assert body["tasks"][0]["target"] == "pkg.tasks:load"
        assert body["retry"]["max_attempts"] == 1

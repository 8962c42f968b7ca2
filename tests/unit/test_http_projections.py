"""`GET /v1/projections`: each read model's version, position and lag behind the log."""

from eventsourcing.persistence import OperationalError

from projections.status import ProjectionStatus
from tests.unit.test_http_builders import a_client

RUNS_BEHIND = ProjectionStatus(
    name="runs",
    version=2,
    built_version=1,
    position=1200,
    head=1204,
    lag_events=4,
    lag_seconds=0.01234,
    following=True,
)


def test_each_read_model_is_listed_with_its_lag() -> None:
    with a_client(projections=lambda: [RUNS_BEHIND]) as client:
        response = client.get("/v1/projections")

    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {
                "name": "runs",
                "version": 2,
                "built_version": 1,
                "position": 1200,
                "head": 1204,
                "lag_events": 4,
                "lag_seconds": 0.012,
                "following": True,
            }
        ],
        "next_cursor": None,
    }


def test_changing_the_read_models_over_http_is_a_405() -> None:
    with a_client() as client:
        response = client.delete("/v1/projections")

    assert response.status_code == 405
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "GET" in response.headers["allow"]


def test_an_unreachable_store_is_a_503_with_retry_after() -> None:
    def unreachable() -> list[ProjectionStatus]:
        raise OperationalError("connection refused")

    with a_client(projections=unreachable) as client:
        response = client.get("/v1/projections")

    assert response.status_code == 503
    assert "retry-after" in response.headers

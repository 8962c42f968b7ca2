"""Health probes over HTTP: live while serving; ready while PostgreSQL is reachable."""

from gateways.http.health import Readiness
from tests.unit.test_http_builders import a_client, a_probe


def test_the_live_probe_answers_ok() -> None:
    with a_client() as client:
        response = client.get("/health/live")

        assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_the_api_is_ready_when_the_database_is_up_and_reports_nats_down() -> None:
    with a_client(readiness=a_probe(database=True, nats=False)) as client:
        response = client.get("/health/ready")

        assert response.status_code == 200
        assert response.json() == {
            "status": "ready",
            "database": "up",
            "nats": "down",
            "details": {},
        }


def test_the_api_is_not_ready_while_the_database_is_down() -> None:
    with a_client(readiness=a_probe(database=False)) as client:
        response = client.get("/health/ready")

        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert (response.json()["status"], response.json()["database"]) == ("unavailable", "down")


def test_the_probes_details_are_reported() -> None:
    async def probe() -> Readiness:
        return Readiness(database=True, nats=False, details={"nats": "connection refused"})

    with a_client(readiness=probe) as client:
        response = client.get("/health/ready")

        assert response.json()["details"] == {"nats": "connection refused"}


def test_a_probe_that_fails_counts_as_not_ready() -> None:
    async def probe() -> Readiness:
        msg = "probe bug"
        raise RuntimeError(msg)

    with a_client(readiness=probe) as client:
        response = client.get("/health/ready")

        assert response.status_code == 503
        assert "probe bug" not in response.text

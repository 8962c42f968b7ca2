"""Which webhook URLs may be called (SSRF), and how deliveries are signed and encoded."""

import json

import pytest

from gateways.webhooks.addresses import AddressPolicy, Destination, RefusedURLError
from gateways.webhooks.delivery import STRUCTURED_CONTENT_TYPE, DeliveryPolicy, encoded
from gateways.webhooks.signing import new_secret, signature, verify

HOSTS = {
    "hooks.example.com": ["93.184.215.14"],
    "localhost": ["127.0.0.1", "::1"],
    "rebound.example.com": ["93.184.215.14", "10.1.2.3"],
    "metadata.example.com": ["169.254.169.254"],
    "mapped.example.com": ["::ffff:127.0.0.1"],
    "v6.example.com": ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
}


def a_policy(*, allow_private: bool = False) -> AddressPolicy:
    def resolver(host: str, port: int) -> list[str]:
        if host in HOSTS:
            return HOSTS[host]
        return [host]  # an IP literal resolves to itself

    return AddressPolicy(allow_private=allow_private, resolver=resolver)


def test_an_https_url_of_a_public_host_is_allowed() -> None:
    a_policy().check("https://hooks.example.com/ledgerflow?x=1")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://127.0.0.1/hook", "loopback"),
        ("https://10.0.0.1/hook", "private"),
        ("https://192.168.1.20/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "metadata"),
        ("https://[::1]/hook", "loopback"),
        ("https://224.0.0.1/hook", "multicast"),
        ("https://0.0.0.0/hook", "reserved"),
        ("https://240.0.0.1/hook", "reserved"),
        ("https://localhost/hook", "loopback"),
        ("https://metadata.example.com/", "metadata"),
        ("https://mapped.example.com/", "loopback"),
        ("https://rebound.example.com/", "private"),
    ],
)
def test_a_host_that_resolves_to_a_non_public_address_is_refused(url: str, why: str) -> None:
    with pytest.raises(RefusedURLError, match=why):
        a_policy().check(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/hook",
        "ftp://hooks.example.com/hook",
        "hooks.example.com/hook",
        "https:///hook",
        "https://user:pw@hooks.example.com/",
        "https://hooks.example.com:99999/",
        "https://hooks.example.com/a b",
        "https://" + "a" * 2100 + ".com/",
    ],
)
def test_a_malformed_or_non_https_url_is_refused(url: str) -> None:
    with pytest.raises(RefusedURLError):
        a_policy().check(url)


@pytest.mark.parametrize(
    ("url", "destination"),
    [
        (
            "https://hooks.example.com/ledgerflow?x=1",
            Destination(
                "https://93.184.215.14/ledgerflow?x=1", "hooks.example.com", "hooks.example.com"
            ),
        ),
        (
            "https://hooks.example.com:8443/in",
            Destination(
                "https://93.184.215.14:8443/in", "hooks.example.com:8443", "hooks.example.com"
            ),
        ),
        (
            "https://v6.example.com/in",
            Destination(
                "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/in",
                "v6.example.com",
                "v6.example.com",
            ),
        ),
    ],
)
def test_a_delivery_connects_to_the_address_that_was_checked_under_the_urls_own_name(
    url: str, destination: Destination
) -> None:
    # The client is given the vetted address, so a second DNS answer (rebinding to a private
    # address between the check and the connect) is never asked for; Host and TLS keep the name.
    assert a_policy().check(url) == destination


def test_a_host_that_resolves_to_nothing_is_refused() -> None:
    policy = AddressPolicy(resolver=lambda host, port: [])

    with pytest.raises(RefusedURLError, match="no address"):
        policy.check("https://hooks.example.com/")


def test_allowing_private_addresses_allows_http_to_loopback_but_no_other_scheme() -> None:
    policy = a_policy(allow_private=True)

    policy.check("http://127.0.0.1:8081/hook")

    with pytest.raises(RefusedURLError):
        policy.check("ftp://127.0.0.1/hook")


def test_a_signature_covers_the_timestamp_and_the_body() -> None:
    secret = new_secret()

    header = signature(secret, 1_700_000_000, b'{"id":"ledgerflow-1"}')

    assert header.startswith("sha256=")
    assert verify(secret, 1_700_000_000, b'{"id":"ledgerflow-1"}', header)
    assert not verify(secret, 1_700_000_001, b'{"id":"ledgerflow-1"}', header)
    assert not verify(secret, 1_700_000_000, b'{"id":"ledgerflow-2"}', header)
    assert not verify(new_secret(), 1_700_000_000, b'{"id":"ledgerflow-1"}', header)


ENVELOPE = {
    "specversion": "1.0",
    "id": "ledgerflow-7",
    "type": "dev.ledgerflow.run.started.v1",
    "datacontenttype": "application/json",
    "position": 7,
    "data": {"workflow": "etl"},
}


def test_structured_mode_sends_the_whole_cloudevent() -> None:
    body, headers = encoded(ENVELOPE, "structured")

    assert json.loads(body) == ENVELOPE
    assert headers == {"Content-Type": STRUCTURED_CONTENT_TYPE}


def test_binary_mode_sends_the_data_with_the_attributes_as_headers() -> None:
    body, headers = encoded(ENVELOPE, "binary")

    assert json.loads(body) == {"workflow": "etl"}
    assert headers["ce-id"] == "ledgerflow-7"
    assert headers["ce-position"] == "7"
    assert headers["Content-Type"] == "application/json"


def test_backoff_doubles_up_to_its_bound() -> None:
    policy = DeliveryPolicy(backoff_seconds=1.0, max_backoff_seconds=5.0)

    assert [policy.backoff(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]

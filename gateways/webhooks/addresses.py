"""Which webhook URLs may be called: https to public addresses only (SSRF), checked twice."""

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

MAX_URL_LENGTH = 2048
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)

Resolver = Callable[[str, int], Sequence[str]]
"""(host, port) -> the IP addresses it resolves to."""


class RefusedURLError(ValueError):
    """A webhook URL Ledgerflow will not call; the message says why."""


@dataclass(frozen=True)
class Destination:
    """Where a delivery connects: the URL with its host replaced by the address that was
    checked, so the connection cannot go anywhere else (a second DNS answer could: DNS
    rebinding), and the URL's own host for the `Host` header and TLS (SNI and certificate)."""

    url: str
    host_header: str
    server_name: str


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the system resolver)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        msg = f"the host {host!r} does not resolve ({error})"
        raise RefusedURLError(msg) from None
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True)
class AddressPolicy:
    """https URLs whose host resolves only to public addresses; with `allow_private`
    (`LEDGERFLOW_WEBHOOK_ALLOW_PRIVATE=true`, for tests and closed networks) http and any
    address are allowed too."""

    allow_private: bool = False
    resolver: Resolver = resolve

    def check_form(self, url: str) -> tuple[str, int]:
        """The (host, port) of a well-formed URL of an allowed scheme, without resolving it."""
        if len(url) > MAX_URL_LENGTH:
            msg = f"must be at most {MAX_URL_LENGTH} characters"
            raise RefusedURLError(msg)
        if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
            msg = "must not contain whitespace or control characters"
            raise RefusedURLError(msg)
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            msg = f"is not a valid URL ({error})"
            raise RefusedURLError(msg) from None
        schemes = ("https", "http") if self.allow_private else ("https",)
        if parts.scheme not in schemes:
            msg = f"must be an {' or '.join(schemes)} URL"
            raise RefusedURLError(msg)
        if not parts.hostname:
            msg = "must name a host"
            raise RefusedURLError(msg)
        if parts.username is not None or parts.password is not None:
            msg = "must not carry credentials (sign with the subscription's secret instead)"
            raise RefusedURLError(msg)
        return parts.hostname, port or (443 if parts.scheme == "https" else 80)

    def check(self, url: str) -> Destination:
        """Refuse (`RefusedURLError`) a URL that is malformed, not https, or whose host
        resolves to a loopback, private, link-local, multicast, reserved or metadata address;
        else where to connect, pinned to the first address checked.

        Run at registration and again before every delivery (the DNS answer may change)."""
        host, port = self.check_form(url)
        parts = urlsplit(url)
        if self.allow_private:
            return Destination(url, parts.netloc, host)
        addresses = self.resolver(host, port)
        if not addresses:
            msg = f"the host {host!r} resolves to no address"
            raise RefusedURLError(msg)
        for address in addresses:
            refused = _why_refused(address)
            if refused is not None:
                msg = f"the host {host!r} resolves to {address}, {refused}"
                raise RefusedURLError(msg)
        pinned = f"[{addresses[0]}]" if ":" in addresses[0] else addresses[0]
        netloc = pinned if parts.port is None else f"{pinned}:{parts.port}"
        return Destination(urlunsplit(parts._replace(netloc=netloc)), parts.netloc, host)


def _why_refused(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    checks = (
        (address in METADATA_ADDRESSES, "a cloud metadata address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_reserved or address.is_unspecified, "a reserved address"),
        (address.is_private, "a private address"),
        (not address.is_global, "not a public address"),
    )
    return next((why for refused, why in checks if refused), None)

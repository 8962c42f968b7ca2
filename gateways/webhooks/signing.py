"""Webhook signatures: HMAC-SHA256 of the timestamp and the body with the subscription's secret."""

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "Ledgerflow-Signature"
TIMESTAMP_HEADER = "Ledgerflow-Timestamp"
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix that marks secrets, not a secret)


def new_secret() -> str:
    """A fresh per-subscription secret (shown once, at registration)."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, "<timestamp>." + body).

    The timestamp (Unix seconds, sent as `Ledgerflow-Timestamp`) is signed with the body, so a
    receiver that refuses old timestamps cannot be replayed a captured delivery."""
    signed = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: int, body: bytes, header: str) -> bool:
    """Whether `header` is the signature of (timestamp, body): what a receiver checks."""
    return hmac.compare_digest(signature(secret, timestamp, body), header)

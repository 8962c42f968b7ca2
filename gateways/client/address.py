"""Where the API is: a base URL from an argument, else `$LEDGERFLOW_API_URL`, else the default."""

import os

API_URL_VARIABLE = "LEDGERFLOW_API_URL"
DEFAULT_API_URL = "http://127.0.0.1:8080"


def base_url(given: str | None = None) -> str:
    """`given`, `$LEDGERFLOW_API_URL` or the default, without a trailing slash; checked."""
    url = (given or os.environ.get(API_URL_VARIABLE) or DEFAULT_API_URL).rstrip("/")
    if not url.startswith(("http://", "https://")):
        msg = f"the API URL must start with http:// or https:// (got {url!r})"
        raise ValueError(msg)
    return url

"""The console's sign-in: a session cookie derived from the bearer token.

A browser cannot put a bearer token on a page it navigates to, so the console
asks for the token once and keeps a cookie that proves it: HttpOnly (no script
reads it), SameSite=Strict (no other site's page sends it, so no cross-site
request forgery) and derived from the token, not the token itself.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

COOKIE = "wio_console"


def session_value(token: str) -> str:
    return hashlib.sha256(f"wio-console-session:{token}".encode()).hexdigest()


def signed_in(connection: Any, token: str | None) -> bool:
    """Whether the request carries the console's cookie for ``token`` (always, without one)."""
    if token is None:
        return True
    given = connection.cookies.get(COOKIE, "")
    return hmac.compare_digest(given.encode(), session_value(token).encode())

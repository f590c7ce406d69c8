"""Journal URLs in messages: never with their password.

A URL's credentials are everything between ``://`` and its last ``@`` (a
password may hold an unencoded ``@``, ``/`` or ``?``, which libpq then takes
for part of the host or the query and echoes in its errors), and any
``password=`` option. Messages show the URL redacted, and any text that could
echo a piece of the password (a database driver's error) is scrubbed of it.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

_PASSWORD_OPTION = re.compile(r"(password=)([^&\s]*)", re.IGNORECASE)
MASK = "***"


def redact_url(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    scheme, separator, rest = url.partition("://")
    if separator and "@" in rest:
        userinfo, _, host = rest.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        rest = f"{user}:{MASK}@{host}" if colon else f"{userinfo}@{host}"
        url = f"{scheme}://{rest}"
    return _PASSWORD_OPTION.sub(rf"\g<1>{MASK}", url)


def passwords_in(url: str) -> list[str]:
    """Each form the URL's password can take in a driver's message: as written, decoded,
    and each piece libpq may split an unencoded one into."""
    found: list[str] = []
    _, separator, rest = url.partition("://")
    if separator and "@" in rest:
        userinfo = rest.rpartition("@")[0]
        _, colon, password = userinfo.partition(":")
        if colon and password:
            found += [password, unquote(password), *re.split(r"[@/?#:]", password)]
    for match in _PASSWORD_OPTION.finditer(url):
        found += [match[2], unquote(match[2])]
    return sorted({p for p in found if len(p) >= 3}, key=len, reverse=True)


def scrubbed(text: str, passwords: list[str]) -> str:
    """``text`` with every form of a password masked."""
    for password in passwords:
        text = text.replace(password, MASK)
    return text

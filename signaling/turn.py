"""Time-limited TURN credentials in the TURN REST API scheme (coturn's ``use-auth-secret``).

The server and coturn share a secret; nothing is stored per user. A credential is
``username = "<expiry unix time>:<user>"`` and ``password = base64(HMAC-SHA1(secret, username))``;
coturn recomputes it and refuses it after the expiry, so a leaked credential dies on its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def credentials(secret: str, user: str, now: float, ttl_s: int) -> tuple[str, str]:
    username = f"{int(now) + ttl_s}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()

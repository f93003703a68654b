"""CSRF protection: a random token per session, required on every state-changing request.

The token is stored in the signed session cookie and must come back in the form field
``csrf_token`` (or the ``X-CSRF-Token`` header); another site can make a browser send the
cookie but cannot read the token. The session cookie is also ``SameSite=strict``.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request

SESSION_KEY = "csrf"
FORM_FIELD = "csrf_token"
HEADER = "x-csrf-token"


def csrf_token(request: Request) -> str:
    """The session's token, created on first use."""
    token = request.session.get(SESSION_KEY)
    if not token:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_KEY] = token
    return str(token)


async def csrf_valid(request: Request) -> bool:
    expected = request.session.get(SESSION_KEY)
    if not expected:
        return False
    sent = request.headers.get(HEADER)
    if not sent:
        form = await request.form()
        value = form.get(FORM_FIELD)
        sent = value if isinstance(value, str) else None
    return bool(sent) and hmac.compare_digest(str(sent), str(expected))

"""The one-click unsubscribe links: a signed token naming a person and what to turn off,
so the link works without signing in (RFC 8058). The signature is the proof; the token
carries no secret of its own, and it stays valid: an old mail's link must still work."""

from __future__ import annotations

import re

from django.core import signing

_SALT = "portside.notifications.unsubscribe"
MAX_TOKEN = 300
_SCOPE = re.compile(r"\A(?:org:[0-9]{1,18}|product:[0-9]{1,18}|digest)\Z")


class BadToken(Exception):
    pass


def make(user_id: int, scope: str) -> str:
    if not _SCOPE.match(scope):
        raise ValueError(f"not a notification scope: {scope!r}")
    return signing.dumps({"u": user_id, "s": scope}, salt=_SALT, compress=False)


def read(token: str) -> tuple[int, str]:
    """(user id, scope) of a genuine token; ``BadToken`` for anything else."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN:
        raise BadToken("not a token")
    try:
        data = signing.loads(token, salt=_SALT)
    except (signing.BadSignature, ValueError, UnicodeError):
        raise BadToken("not a token") from None
    if not isinstance(data, dict):
        raise BadToken("not a token")
    user_id, scope = data.get("u"), data.get("s")
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id < 1:
        raise BadToken("not a token")
    if not isinstance(scope, str) or not _SCOPE.match(scope):
        raise BadToken("not a token")
    return user_id, scope

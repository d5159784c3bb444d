"""Bearer tokens changed by someone without the store's key are refused: twelve ways of
tampering with a real token, and hostile strings where a token should be. Each answer is
401 ``invalid_token`` with no content, never the private manifest and never a 500."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import jwt
import pytest

from portside.registry import tokens

NAME = "acme/app"
MANIFEST = f"/v2/{NAME}/manifests/latest"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _parts(token: str) -> tuple[dict, dict, str]:
    header, payload, signature = token.split(".")
    return json.loads(_unb64(header)), json.loads(_unb64(payload)), signature


def _join(header: dict, payload: dict, signature: str) -> str:
    return ".".join(
        [_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode()), signature]
    )


def _with_payload(change: Callable[[dict], None]) -> Callable[[str, str], str]:
    """The token with its payload changed and its signature kept."""

    def tamper(token: str, other: str) -> str:
        header, payload, signature = _parts(token)
        change(payload)
        return _join(header, payload, signature)

    return tamper


def _widen(payload: dict) -> None:
    payload["access"] = [
        {"type": "repository", "name": NAME, "actions": ["pull", "push", "delete"]}
    ]


def _become_admin(payload: dict) -> None:
    payload["sub"], payload["uid"] = "admin", 1


def _live_forever(payload: dict) -> None:
    payload["exp"] = payload["exp"] + 10 * 365 * 86400


def _alg_none(token: str, other: str) -> str:
    _, payload, _ = _parts(token)
    return _join({"alg": "none", "typ": "JWT"}, payload, "")


def _alg_none_keeping_signature(token: str, other: str) -> str:
    _, payload, signature = _parts(token)
    return _join({"alg": "none", "typ": "JWT"}, payload, signature)


def _alg_hs512(token: str, other: str) -> str:
    header, payload, signature = _parts(token)
    return _join({**header, "alg": "HS512"}, payload, signature)


def _spliced_signature(token: str, other: str) -> str:
    """The payload of this token with the (valid) signature of another one."""
    return ".".join(token.split(".")[:2] + other.split(".")[2:])


def _no_signature(token: str, other: str) -> str:
    return ".".join(token.split(".")[:2])


def _empty_signature(token: str, other: str) -> str:
    return ".".join(token.split(".")[:2]) + "."


def _own_key_and_kid(token: str, other: str) -> str:
    """Signed with the attacker's own secret, with headers that point to it."""
    _, payload, _ = _parts(token)
    return jwt.encode(
        payload,
        "attacker-secret-of-thirty-two-bytes!",
        algorithm="HS256",
        headers={"kid": "attacker", "jku": "http://attacker.invalid/keys"},
    )


def _refresh_token_as_bearer(token: str, other: str) -> str:
    """A real token of the store, but a refresh token, signed with its own key."""
    return tokens.issue_refresh(user_id=1, password_marker="x", access_token_id=None)


def _another_service(token: str, other: str) -> str:
    """A real bearer token, issued for another service (audience)."""
    _, payload, _ = _parts(token)
    made, _, _ = tokens.issue(
        user_id=payload["uid"],
        username=payload["sub"],
        access=[tokens.Access("repository", NAME, ("pull",))],
        service="elsewhere.example",
    )
    return made


def _public_key_confusion(token: str, other: str) -> str:
    """RS256 in the header with a signature made from a text posing as a public key."""
    header, payload, _ = _parts(token)
    forged = jwt.encode(
        payload, "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYI", algorithm="HS256"
    )
    return _join({**header, "alg": "RS256"}, payload, forged.split(".")[2])


TAMPERINGS = {
    "access widened to push and delete": _with_payload(_widen),
    "subject changed to the admin": _with_payload(_become_admin),
    "expiry moved ten years on": _with_payload(_live_forever),
    "alg none, no signature": _alg_none,
    "alg none, signature kept": _alg_none_keeping_signature,
    "alg HS512, signature kept": _alg_hs512,
    "signature of another token": _spliced_signature,
    "signature removed": _no_signature,
    "signature empty": _empty_signature,
    "own key with kid and jku": _own_key_and_kid,
    "refresh token as bearer": _refresh_token_as_bearer,
    "issued for another service": _another_service,
    "RS256 with a public key as secret": _public_key_confusion,
}


def _refused(response) -> None:
    assert response.status_code == 401, response.status_code
    assert 'error="invalid_token"' in response["WWW-Authenticate"]
    assert b"schemaVersion" not in response.content


@pytest.mark.parametrize("how", list(TAMPERINGS))
def test_a_tampered_token_is_refused(client, as_owner, how: str) -> None:
    as_owner.push_image(NAME)
    token = as_owner.token(f"repository:{NAME}:pull")
    other = as_owner.token("repository:acme/other:pull")
    assert client.get(MANIFEST, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    tampered = TAMPERINGS[how](token, other)
    assert tampered != token
    _refused(client.get(MANIFEST, HTTP_AUTHORIZATION=f"Bearer {tampered}"))
    # And the push it might have widened to: refused before anything is stored.
    started = client.post(f"/v2/{NAME}/blobs/uploads/", HTTP_AUTHORIZATION=f"Bearer {tampered}")
    assert started.status_code == 401


@pytest.mark.parametrize(
    "value",
    [
        "",
        "x",
        "a.b.c",
        "....",
        "é.é.é",
        "eyJhbGciOiJIUzI1NiJ9." + "A" * 100_000 + ".sig",
        "Bearer Bearer",
        "%00%00%00",
        "eyJ9.eyJ9.eyJ9",
    ],
)
def test_hostile_strings_as_tokens(client, as_owner, value: str) -> None:
    as_owner.push_image(NAME)
    response = client.get(MANIFEST, HTTP_AUTHORIZATION=f"Bearer {value}")
    assert response.status_code == 401
    assert b"schemaVersion" not in response.content

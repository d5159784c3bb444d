"""What a registry or token service says about a refusal reaches the user, safely."""

from __future__ import annotations

import io
import json
import urllib.error
from email.message import Message

import pytest

from portside.scanner.remote import MAX_SAID, _says


def refusal(body: bytes) -> urllib.error.HTTPError:
    return urllib.error.HTTPError("http://x/", 401, "Unauthorized", Message(), io.BytesIO(body))


@pytest.mark.parametrize(
    "body, said",
    [
        (
            {"errors": [{"code": "DENIED", "message": "requested access is denied"}]},
            ": requested access is denied",
        ),
        ({"detail": "Incorrect user name or password."}, ": Incorrect user name or password."),
        ({"error": "invalid_grant", "error_description": "expired"}, ": expired"),
        ({"errors": [{"code": "X", "message": ""}], "detail": "fallback"}, ": fallback"),
        ({"errors": "not a list"}, ""),
        ({"errors": [5]}, ""),
        ({"detail": 5}, ""),
        ([1, 2], ""),
        ({}, ""),
        ({"detail": "  "}, ""),
        ({"detail": "line\nbreak\x1b[31mred\x00"}, ": line break [31mred"),
    ],
)
def test_the_servers_words(body: object, said: str) -> None:
    assert _says(refusal(json.dumps(body).encode())) == said


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"<html>nope</html>",
        b"\xff\xfe",
        b"{" * 100_000,
        b"[" * 60_000,
        b'{"detail": "x' + b"y" * 10,
    ],
)
def test_what_is_not_json_says_nothing(raw: bytes) -> None:
    assert _says(refusal(raw)) == ""


def test_a_long_message_is_cut() -> None:
    said = _says(refusal(json.dumps({"detail": "z" * 10_000}).encode()))
    assert len(said) == len(": ") + MAX_SAID and said.endswith("…")


def test_a_huge_body_is_not_read_whole() -> None:
    body = json.dumps({"detail": "ok", "pad": "p" * (1 << 20)}).encode()
    assert _says(refusal(body)) == ""  # only the first 64 KiB are read: not JSON then

"""Fuzzing the registry's token endpoint: ``GET /auth/token?service=&scope=&account=``
with hostile scopes (the grammar's pieces mixed with nonsense, NUL bytes, long names,
many of them), services, accounts and ``offline_token`` values, anonymously and with a
real user's credentials, and with hostile basic credentials.

Every answer is JSON with status 200, 400, 401 or 429, never a server error; a token
never grants more than the caller has: nothing to an anonymous caller, and to a member
only known actions on repositories of their own organisation.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from django.db import connection
from django.test import Client
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st

from portside.oci.errors import NameInvalid
from portside.oci.reference import validate_name
from tests.factories import PASSWORD, make_org, make_user
from tests.fuzz.support import STRINGS, fuzz

pytestmark = pytest.mark.django_db

STATUSES = {200, 400, 401, 429}
ON_POSTGRESQL = connection.vendor == "postgresql"
ACTIONS = {"pull", "push", "delete"}

names = st.one_of(
    st.sampled_from(["acme/app", "acme/app/sub", "globex/db", "acme", "catalog", "library/x"]),
    st.from_regex(r"[a-z0-9]{1,8}(/[a-z0-9._-]{1,8}){0,2}", fullmatch=True),
    st.sampled_from(STRINGS),
    st.text(max_size=20),
    st.sampled_from(["acme/../globex/db", "ACME/app", "acme//app", "acme/app\x00x", "a" * 300]),
)
scope_items = st.one_of(
    st.builds(
        "{}{}:{}:{}".format,
        st.sampled_from(["repository", "registry", "", "REPOSITORY", "repository(plugin)", "x"]),
        st.sampled_from(["", "(", "()", "(a b)"]),
        names,
        st.lists(
            st.sampled_from(["pull", "push", "delete", "*", "", "PULL", "admin", "pull "]),
            max_size=4,
        ).map(",".join),
    ),
    st.text(max_size=40),
    st.sampled_from(
        ["repository:acme/app", ":::", "repository::pull", "repository:acme/app:pull:x"]
    ),
)
scopes = st.lists(
    st.lists(scope_items, min_size=1, max_size=3).map(" ".join), max_size=4
) | st.lists(st.just("repository:acme/app:pull"), min_size=50, max_size=60)
queries = st.fixed_dictionaries(
    {"scope": scopes},
    optional={
        "service": st.sampled_from(["testserver", "", "other"]) | st.text(max_size=30),
        "account": st.sampled_from(["owner", "", "nobody"]) | st.text(max_size=30),
        "offline_token": st.sampled_from(["true", "TRUE", "false", "1", "\x00"]),
    },
)


@pytest.fixture
def accounts(db: Any) -> dict[str, Any]:
    owner = make_user("owner")
    make_org("acme", owner)
    make_org("globex", make_user("other"))
    return {"owner": owner}


def basic(login: str, secret: str) -> str:
    return (
        "Basic " + base64.b64encode(f"{login}:{secret}".encode("utf-8", "surrogatepass")).decode()
    )


def check(response: Any, *, member: str | None) -> None:
    assert response.status_code in STATUSES, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    if response.status_code != 200:
        return
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    for access in claims["access"]:
        actions = set(access["actions"])
        if member is None:
            assert not actions, access  # an anonymous caller is granted nothing
            continue
        if access["type"] == "registry":
            assert actions <= {"*"}
            continue
        assert actions <= ACTIONS, access
        if actions:
            assert validate_name(access["name"]) and access["name"].startswith("acme/"), access


@fuzz(60)
@given(queries, st.booleans())
def test_hostile_token_requests_get_a_json_answer(
    accounts: dict[str, Any], query: dict[str, Any], signed_in: bool
) -> None:
    client = Client()
    headers = {"HTTP_AUTHORIZATION": basic("owner", PASSWORD)} if signed_in else {}
    response = client.get("/auth/token", query, **headers)
    check(response, member="owner" if signed_in else None)


credentials = st.one_of(
    st.builds(
        basic, st.sampled_from(["owner", "OWNER", "owner@example.com"]), st.text(max_size=20)
    ),
    st.builds(basic, st.text(max_size=20).filter(lambda s: ":" not in s), st.text(max_size=20)),
    st.builds(basic, st.just("owner"), st.text(max_size=10).map("pat_{}".format)),
    st.builds(
        "{} {}".format,
        st.sampled_from(["Basic", "basic", "Bearer", "Digest", ""]),
        st.text(max_size=30),
    ),
)


@fuzz(50)
@given(credentials)
def test_hostile_basic_credentials_get_a_json_answer(
    accounts: dict[str, Any], authorization: str
) -> None:
    """Left out here: a header that is not ASCII and a login with a NUL, the subjects of
    the two tests that follow."""
    value = authorization.partition(" ")[2]
    if not value.isascii() or "\x00" in _login(authorization):
        return
    response = Client().get(
        "/auth/token", {"scope": "repository:acme/app:pull"}, HTTP_AUTHORIZATION=authorization
    )
    check(response, member=None if response.status_code != 200 else "owner")


def _login(authorization: str) -> str:
    try:
        decoded = base64.b64decode(authorization.partition(" ")[2], validate=True)
    except ValueError:
        return ""
    return decoded.decode("utf-8", "replace").partition(":")[0]


@settings(fuzz(10), phases=[Phase.explicit, Phase.generate])
@given(st.text(min_size=1, max_size=12).filter(lambda s: not s.isascii()))
@example(value="\xe9t\xe9")
def test_basic_credentials_that_are_not_ascii_are_refused_with_401(
    accounts: dict[str, Any], value: str
) -> None:
    response = Client(raise_request_exception=False).get(
        "/auth/token", {"scope": "repository:acme/app:pull"}, HTTP_AUTHORIZATION="Basic " + value
    )
    assert response.status_code == 401, response.status_code


@settings(fuzz(10), phases=[Phase.explicit, Phase.generate])
@given(st.sampled_from(["own\x00er", "\x00", "owner\x00", "\x00@example.com"]))
@example(login="own\x00er")
def test_logins_with_a_nul_are_refused_with_401(accounts: dict[str, Any], login: str) -> None:
    response = Client(raise_request_exception=False).get(
        "/auth/token",
        {"scope": "repository:acme/app:pull"},
        HTTP_AUTHORIZATION=basic(login, "wrong password"),
    )
    assert response.status_code == 401, response.status_code


def test_a_scope_for_a_name_that_is_not_a_repository_grants_nothing(accounts: Any) -> None:
    response = Client().get(
        "/auth/token",
        {"scope": ["repository:acme/../globex/db:pull", "repository:ACME/app:push"]},
        HTTP_AUTHORIZATION=basic("owner", PASSWORD),
    )
    check(response, member="owner")
    claims = jwt.decode(response.json()["token"], options={"verify_signature": False})
    assert claims["access"] == []
    for name in ("acme/../globex/db", "ACME/app"):
        with pytest.raises(NameInvalid):
            validate_name(name)

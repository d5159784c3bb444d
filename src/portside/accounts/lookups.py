"""The lookups every registry token request makes, as SQL written once.

The token endpoint resolves a personal access token with its user, the organisation that
owns a repository name and the caller's role in it for every token a client asks for.
Compiling the equivalent ORM queries cost more than running them (several times over on
a small machine), so each is one prepared statement whose rows are turned into model
instances with ``Model.from_db``, as the ORM itself would.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import connection
from django.db.models import Model

from portside.accounts.models import AccessToken, Membership, Organization, User


def _columns(model: type[Model], alias: str) -> tuple[list[str], str]:
    fields = list(model._meta.concrete_fields)
    names = [f.attname for f in fields]
    sql = ", ".join(f"{alias}.{connection.ops.quote_name(str(f.column))}" for f in fields)
    return names, sql


@functools.cache
def _converters(model: type[Model], vendor: str) -> list[list[tuple[Any, Any]]]:
    """Per column, the conversions the ORM applies to a value read from the database
    (SQLite's dates and times, JSON, booleans), with the expression each expects."""
    out = []
    for field in model._meta.concrete_fields:
        col = field.get_col(model._meta.db_table)
        found = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        out.append([(convert, col) for convert in found])
    return out


def _table(model: type[Model]) -> str:
    return str(connection.ops.quote_name(model._meta.db_table))


@functools.cache
def _token_sql() -> tuple[list[str], list[str], str]:
    token_names, token_cols = _columns(AccessToken, "t")
    user_names, user_cols = _columns(User, "u")
    sql = (
        f"SELECT {token_cols}, {user_cols} FROM {_table(AccessToken)} t "  # noqa: S608
        f"JOIN {_table(User)} u ON u.id = t.user_id WHERE t.secret_hash = %s"
    )
    return token_names, user_names, sql


def _load[M: Model](model: type[M], names: list[str], values: Any) -> M:
    values = list(values)
    for i, converters in enumerate(_converters(model, connection.vendor)):
        for convert, col in converters:
            values[i] = convert(values[i], col, connection)
    return model.from_db(connection.alias, names, values)


def token_with_user(secret_hash: str) -> AccessToken | None:
    """The token with this hash, its ``user`` loaded with it; None if there is none."""
    token_names, user_names, sql = _token_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [secret_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    token = _load(AccessToken, token_names, row[: len(token_names)])
    token.user = _load(User, user_names, row[len(token_names) :])
    return token


@functools.cache
def _organization_sql() -> tuple[list[str], str]:
    names, cols = _columns(Organization, "o")
    return names, f"SELECT {cols} FROM {_table(Organization)} o WHERE o.name = %s"  # noqa: S608


def organization_by_name(name: str) -> Organization | None:
    names, sql = _organization_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [name])
        row = cursor.fetchone()
    return None if row is None else _load(Organization, names, row)


@functools.cache
def _role_sql() -> str:
    return (
        f"SELECT role FROM {_table(Membership)} "  # noqa: S608
        "WHERE organization_id = %s AND user_id = %s"
    )


def membership_role(organization_id: int, user_id: int) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(_role_sql(), [organization_id, user_id])
        row = cursor.fetchone()
    return None if row is None else str(row[0])

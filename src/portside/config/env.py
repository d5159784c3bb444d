"""Reading configuration from the environment.

Every knob of Portside is an environment variable with an embedded default. A value that
cannot be parsed stops the process with a message naming the variable: a typo must never
silently fall back to a default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from portside.core.errors import ConfigurationError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def get_str(name: str, default: str = "", env: Mapping[str, str] | None = None) -> str:
    source = os.environ if env is None else env
    return source.get(name, default)


def get_bool(name: str, default: bool = False, env: Mapping[str, str] | None = None) -> bool:
    raw = get_str(name, "", env).strip().lower()
    if raw == "" and name not in (os.environ if env is None else env):
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be one of true/false/1/0/yes/no, not {raw!r}")


def get_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    raw = get_str(name, "", env).strip()
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, not {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, not {value}")
    if maximum is not None and value > maximum:
        raise ConfigurationError(f"{name} must be at most {maximum}, not {value}")
    return value


def get_list(name: str, default: list[str], env: Mapping[str, str] | None = None) -> list[str]:
    raw = get_str(name, "", env)
    if raw.strip() == "":
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]

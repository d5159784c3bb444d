"""Error types shared by every part of Portside.

Pure cores raise these (or subclasses); the edges map them to the protocol's error: form
errors on pages, problem+json in the API, OCI error codes on the registry, an exit status
on the command line.
"""


class PortsideError(Exception):
    """Base of every domain error. ``code`` is stable and machine-readable."""

    code = "error"

    def __init__(self, message: str = "", *, field: str | None = None, **details: object) -> None:
        self.message = message or (self.__class__.__doc__ or self.code).strip()
        super().__init__(self.message)
        self.field = field
        self.details = details


class ConfigurationError(PortsideError):
    """The configuration is invalid or unsafe."""

    code = "configuration"


class ValidationFailed(PortsideError):
    """Input was refused; ``field`` names the offending field when there is one."""

    code = "invalid"


class NotFound(PortsideError):
    """The object does not exist or the caller may not know that it exists."""

    code = "not_found"


class PermissionDenied(PortsideError):
    """The caller is known but may not do this."""

    code = "denied"


class Conflict(PortsideError):
    """The action clashes with the current state (a duplicate name, a used invitation)."""

    code = "conflict"


class AuthenticationFailed(PortsideError):
    """Credentials are missing, wrong, expired or revoked."""

    code = "unauthorized"

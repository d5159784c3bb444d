import pytest
from django.core.exceptions import ValidationError

from portside.accounts.names import validate_name


@pytest.mark.parametrize(
    "name", ["acme", "a1", "my-org", "my--org", "my.org", "my_org", "my__org", "0day"]
)
def test_valid_names(name):
    validate_name(name)


@pytest.mark.parametrize(
    "name, code",
    [
        ("Acme", "uppercase"),
        ("a", "length"),
        ("x" * 40, "length"),
        ("-acme", "grammar"),
        ("acme-", "grammar"),
        ("ac..me", "grammar"),
        ("ac___me", "grammar"),
        ("ac/me", "grammar"),
        ("../etc", "grammar"),
        ("ac me", "grammar"),
        ("acmé", "grammar"),
        ("acme\n", "grammar"),
        ("v2", "reserved"),
        ("library", "reserved"),
        ("admin", "reserved"),
    ],
)
def test_invalid_names_say_why(name, code):
    with pytest.raises(ValidationError) as info:
        validate_name(name)
    assert info.value.code == code

"""What the policy context listens to, and its periodic sweep."""


def connect() -> None:
    pass

"""Who may open which commerce page (filled in with the pages)."""

ROWS: list = []

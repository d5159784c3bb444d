"""Who may call which commerce API endpoint (filled in with the API)."""

ROWS: list = []

"""Security scanning in the store: a scan of every pushed image, results private to the
publisher's organisation and the store team, and re-matching when the vulnerability data
changes. Services over the pure ``portside.scanner`` and ``portside.vulndb`` libraries."""

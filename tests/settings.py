"""Settings for the test suite: the real settings, with speed-ups that change no behaviour
under test (a fast password hash), and the dummy task backend so that tests decide when
queued work runs."""

from portside.config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
TASKS = {
    "default": {
        "BACKEND": "django.tasks.backends.dummy.DummyBackend",
        "QUEUES": ["default", "events", "vulndb"],
    },
    "events": {"BACKEND": "tests.tasks.OnCommitBackend", "QUEUES": ["events"]},
}
EVENTS_TASK_BACKEND = "events"
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Serve static files straight from the package (no collectstatic in tests).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Pulls are recorded inside the request, so tests see them at once (the buffered path has
# its own tests).
REGISTRY_PULL_FLUSH_MS = 0

# Vulnerability feeds: never from the internet, never on a schedule (tests/conftest.py).
VULNDB_MIRROR = "http://127.0.0.1:9/"
VULNDB_SYNC_HOURS = 0

"""Credentials in files, the config and the history: found, located, and never repeated.

The fake credentials are assembled at run time so that the source holds nothing a
secret scanner would take for a real one.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from portside.scanner.catalogers.base import Context, Files
from portside.scanner.practices import SecretsCollector, Status, redact, review
from portside.scanner.practices.secrets import MAX_HITS_PER_FILE, scan_command, scan_file
from tests.scanner.practices.builders import ImageBuilder

TODAY = dt.date(2026, 1, 15)

AWS_ID = "AKIA" + "Q3EGRKZ7X2JH4M5P"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYq8s2LmT4vW9z"
GITHUB = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
GITHUB_PAT = "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"
SLACK = "xoxb-" + "1234567890-0987654321-AbCdEfGhIjKlMnOp"
NPM = "npm_" + "Zy9xW8vU7tS6rQ5pO4nM3lK2jI1hG0fE9dC8"
PYPI = "pypi-AgEIcHlwaS5vcmc" + "CJDE5ZjI2NzRkLTk0ZDQtNDg0Ni1iM2FkLTBiY2RlZjAxMjM0NQ"
AZURE_KEY = "Zm9vYmFy" * 11
PASSWORD = "correct-horse-battery-staple"
KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\n-----END RSA PRIVATE KEY-----\n"

CASES = [
    ("/root/.ssh/id_rsa", PEM, KEY_BODY, "private key"),
    ("/app/certs/server.key", PEM.replace("RSA ", ""), KEY_BODY, "private key"),
    (
        "/root/.aws/credentials",
        f"[default]\naws_access_key_id = {AWS_ID}\naws_secret_access_key = {AWS_SECRET}\n",
        AWS_SECRET,
        "AWS",
    ),
    (
        "/app/.env",
        f"AWS_ACCESS_KEY_ID={AWS_ID}\nAWS_SECRET_ACCESS_KEY={AWS_SECRET}\n",
        AWS_SECRET,
        "AWS_SECRET_ACCESS_KEY",
    ),
    (
        "/app/gcp-service-account.json",
        json.dumps(
            {
                "type": "service_account",
                "project_id": "acme",
                "private_key_id": "abc",
                "private_key": PEM,
                "client_email": "deploy@acme.iam.gserviceaccount.com",
            }
        ),
        KEY_BODY,
        "Google Cloud service-account key",
    ),
    (
        "/root/.config/gcloud/application_default_credentials.json",
        json.dumps(
            {"type": "authorized_user", "client_id": "x", "refresh_token": "1//" + PASSWORD}
        ),
        PASSWORD,
        "Google Cloud user credentials",
    ),
    (
        "/app/.env.production",
        f"AZURE_STORAGE=DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={AZURE_KEY};\n",
        AZURE_KEY,
        "Azure storage key",
    ),
    (
        "/root/.azure/msal_token_cache.json",
        json.dumps({"AccessToken": {"x": {"secret": PASSWORD}}, "RefreshToken": {}}),
        PASSWORD,
        "Azure CLI credentials",
    ),
    ("/app/.env", f"GITHUB_TOKEN={GITHUB}\n", GITHUB, "GITHUB_TOKEN"),
    ("/srv/deploy.env", f"export CI_TOKEN='{GITHUB_PAT}'\n", GITHUB_PAT, "CI_TOKEN"),
    ("/app/.envrc", f"export SLACK_BOT_TOKEN={SLACK}\n", SLACK, "SLACK_BOT_TOKEN"),
    ("/root/.npmrc", f"//registry.npmjs.org/:_authToken={NPM}\n", NPM, "npm registry credential"),
    (
        "/home/app/.npmrc",
        "//npm.acme.example/:_password=" + PASSWORD + "\n",
        PASSWORD,
        "npm registry credential",
    ),
    (
        "/root/.pypirc",
        f"[distutils]\nindex-servers = pypi\n\n[pypi]\nusername = __token__\npassword = {PYPI}\n",
        PYPI,
        "PyPI password",
    ),
    (
        "/root/.docker/config.json",
        json.dumps({"auths": {"registry.acme.example": {"auth": "ZGVwbG95OnNlY3JldA=="}}}),
        "ZGVwbG95OnNlY3JldA==",
        "container registry credentials",
    ),
    (
        "/root/.git-credentials",
        f"https://deploy:{PASSWORD}@git.acme.example\n",
        PASSWORD,
        "git credentials",
    ),
    (
        "/root/.netrc",
        f"machine api.acme.example login deploy password {PASSWORD}\n",
        PASSWORD,
        "netrc password",
    ),
    ("/root/.pgpass", f"db.acme.example:5432:*:app:{PASSWORD}\n", PASSWORD, "PostgreSQL password"),
    ("/root/.my.cnf", f"[client]\nuser=root\npassword={PASSWORD}\n", PASSWORD, "MySQL password"),
    (
        "/root/.kube/config",
        f"users:\n- name: admin\n  user:\n    token: {PASSWORD}\n",
        PASSWORD,
        "Kubernetes credentials",
    ),
]


@pytest.mark.parametrize(
    ("path", "content", "secret", "kind"), CASES, ids=[c[0] + ":" + c[3] for c in CASES]
)
def test_credentials_in_files_are_found_and_never_repeated(
    path: str, content: str, secret: str, kind: str
) -> None:
    image = ImageBuilder.clean()
    layer = image.layer("COPY secrets /")
    image.file(path, content.encode())
    results = review(image.build(), today=TODAY)
    (found,) = [r for r in results if r.id == "PS-003"]
    assert found.status is Status.FAIL
    (evidence,) = found.evidence
    assert evidence.paths == (path,)
    assert evidence.layer_index == layer
    assert kind in evidence.detail
    assert "value redacted" in evidence.detail
    everything = json.dumps([r.as_dict() for r in results])
    assert secret not in everything


@pytest.mark.parametrize(
    ("path", "content"),
    [
        (
            "/app/.env",
            "# AWS_SECRET_ACCESS_KEY=\nNODE_ENV=production\nTOKEN_URL=https://auth.example\n",
        ),
        ("/app/.env", "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n"),  # the documented sample key
        ("/app/.env", "DB_PASSWORD=<your password here>\nAPI_KEY=****\nSECRET=${SECRET}\n"),
        (
            "/etc/ssl/private/README.pem",
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
        ),
        (
            "/root/.docker/config.json",
            json.dumps({"auths": {"ghcr.io": {}}, "credsStore": "desktop"}),
        ),
        ("/root/.docker/config.json", "{not json"),
        ("/app/service-account.json", json.dumps(["a", "list"])),
        ("/app/service-account.json", "[" * 100_000),
        (
            "/root/.npmrc",
            "registry=https://registry.npmjs.org/\n//npm.example/:_authToken=${NPM_TOKEN}\n",
        ),
        ("/root/.git-credentials", "https://git.acme.example\n"),
        ("/app/keystore.key", "\x00\x01binary key store\xff".encode("latin-1").decode("latin-1")),
    ],
)
def test_files_without_credentials_pass(path: str, content: str) -> None:
    image = ImageBuilder.clean()
    image.file(path, content.encode("utf-8", "surrogateescape"))
    (found,) = [r for r in review(image.build(), today=TODAY) if r.id == "PS-003"]
    assert found.status is Status.PASS, found


def test_every_version_of_a_file_is_scanned() -> None:
    image = ImageBuilder.clean()
    first = image.layer("COPY .npmrc /root/")
    image.file("/root/.npmrc", f"//registry.npmjs.org/:_authToken={NPM}\n".encode())
    image.layer("RUN echo registry=https://registry.npmjs.org/ > /root/.npmrc")
    image.file("/root/.npmrc", b"registry=https://registry.npmjs.org/\n")
    (found,) = [r for r in review(image.build(), today=TODAY) if r.id == "PS-003"]
    (evidence,) = found.evidence
    assert evidence.layer_index == first
    assert "still readable" in evidence.detail


def test_many_credentials_in_one_file_are_capped() -> None:
    content = "".join(f"TOKEN_{n}_TOKEN=value-{n}-{PASSWORD}\n" for n in range(500))
    hits = scan_file("/app/.env", content.encode())
    assert len(hits) == MAX_HITS_PER_FILE
    assert [h.line for h in hits] == list(range(1, MAX_HITS_PER_FILE + 1))


KiB = 1024


@pytest.mark.parametrize(
    "content",
    [
        b"A" * (256 * KiB),
        b"a:" * (128 * KiB),
        b"https://" + b"u" * 100_000 + b":" + b"p" * 100_000,
        b"-----BEGIN " * 24_000,
        b"xoxb-" * 50_000,
        b"AKIA" * 64_000,
        b"X=" * 128_000,
        b"password " * 28_000,
        b"\n" * (256 * KiB),
        b" \n\t" * (86 * KiB),
        "é".encode() * 128_000,
        b"\xff\xfe" * 128_000,
    ],
    ids=[
        "letters",
        "colons",
        "long-url",
        "pem-headers",
        "slack",
        "akia",
        "assignments",
        "passwords",
        "newlines",
        "blank-lines",
        "utf8",
        "invalid-utf8",
    ],
)
def test_hostile_file_contents_are_scanned_in_linear_time(content: bytes) -> None:
    started = time.monotonic()
    for path in ("/app/.env", "/root/.npmrc", "/root/.netrc", "/root/.kube/config"):
        scan_file(path, content)
    # Quadratic work on 256 KiB takes hours (a ^\s* rule did); linear work, well under this.
    assert time.monotonic() - started < 10


def test_history_secrets_are_redacted_everywhere() -> None:
    image = ImageBuilder.clean()
    image.layer(f"RUN curl -H 'Authorization: Bearer {PASSWORD}' https://api.example/x")
    image.layer(f"|2 DB_PASSWORD={PASSWORD} GITHUB_TOKEN={GITHUB} /bin/sh -c ./configure")
    image.layer(f"RUN mysql --password={PASSWORD} -e 'select 1'")
    image.layer(f"RUN git clone https://deploy:{PASSWORD}@git.example/app.git")
    image.file("/usr/bin/git", b"", mode=0o755)  # PS-008 quotes this layer too
    image.file("/usr/bin/curl", b"", mode=0o755, layer=2)
    results = review(image.build(), today=TODAY)
    (found,) = [r for r in results if r.id == "PS-004"]
    assert len(found.evidence) == 4
    everything = json.dumps([r.as_dict() for r in results])
    assert PASSWORD not in everything and GITHUB not in everything
    assert everything.count("[REDACTED]") >= 5


def test_label_secrets_are_found() -> None:
    image = ImageBuilder.clean()
    image.container["Labels"]["com.acme.deploy-token"] = PASSWORD
    image.container["Labels"]["com.acme.note"] = f"pull with {GITHUB}"
    results = review(image.build(), today=TODAY)
    (found,) = [r for r in results if r.id == "PS-004"]
    assert len(found.evidence) == 2
    assert PASSWORD not in json.dumps([r.as_dict() for r in results])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"TOKEN={GITHUB} make", "TOKEN=[REDACTED] make"),
        (f"echo {AWS_ID}", "echo [REDACTED]"),
        (f"x {PEM} y", "x [REDACTED]-----END RSA PRIVATE KEY-----\n y"),
        ("-----BEGIN PRIVATE KEY-----\nMIIE", "[REDACTED]"),
        (f"https://u:{PASSWORD}@h/x", "https://u:[REDACTED]@h/x"),
        (
            "PASSWORD_MIN_LENGTH=12 TOKEN_URL=https://x",
            "PASSWORD_MIN_LENGTH=12 TOKEN_URL=https://x",
        ),
        ("nothing to see", "nothing to see"),
        ("", ""),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


BEGIN = "-----BEGIN PRIVATE KEY-----"


@pytest.mark.parametrize(
    ("text", "left"),
    [
        (BEGIN * 40_000, ""),
        ((BEGIN * 1000 + "-----END PRIVATE KEY-----") * 40, "-----END PRIVATE KEY-----" * 40),
        ("A=" * 500_000, "A=" * 500_000),
        ("--password " * 100_000, None),
        ("https://a:b@" * 80_000, None),
    ],
    ids=["pem-without-end", "pem-sharing-ends", "assignments", "options", "urls"],
)
def test_redact_hostile_text_in_linear_time(text: str, left: str | None) -> None:
    started = time.monotonic()
    redacted = redact(text)
    assert time.monotonic() - started < 10
    if left is not None:
        assert redacted.replace("[REDACTED]", "") == left


def test_scan_command_names_build_arguments_only() -> None:
    hits = scan_command(f"|3 HTTP_PROXY=http://proxy:3128 NPM_TOKEN={NPM} VERSION=1.2 /bin/sh -c x")
    assert {h.name for h in hits if h.name} == {"NPM_TOKEN"}
    assert all(NPM not in h.describe() for h in hits)


# The collector ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/root/.ssh/id_ed25519",
        "/app/.env",
        "/app/.env.local",
        "/srv/prod.env",
        "/etc/ssl/private/server.key",
        "/opt/app/cert.pem",
        "/root/.aws/credentials",
        "/home/app/.docker/config.json",
        "/home/app/.npmrc",
        "/root/.pypirc",
        "/root/.git-credentials",
        "/app/service-account.json",
        "/app/credentials.json",
        "/root/.config/gcloud/legacy_credentials/x/adc.json",
        "/root/.azure/accessTokens.json",
        "/root/.kube/config",
        "/etc/passwd",
    ],
)
def test_collector_claims_candidate_files(path: str) -> None:
    collector = SecretsCollector()
    assert collector.claims(path, 0o600, 100)
    assert not collector.claims(path, 0o600, 2 * 1024 * 1024)  # over the size bound


@pytest.mark.parametrize(
    "path",
    [
        "/usr/bin/python3",
        "/app/package.json",
        "/app/config.json",
        "/etc/environment",
        "/app/keys.txt",
        "/root/.aws/cli/cache/x.txt",
        "/usr/share/doc/x/credentials.txt",
        "/app/.envoy/config.yaml",
    ],
)
def test_collector_ignores_other_files(path: str) -> None:
    assert not SecretsCollector().claims(path, 0o644, 100)


def test_collector_finds_no_packages() -> None:
    collector = SecretsCollector(max_bytes=10)
    assert collector.name == "secrets"
    assert list(collector.catalog(Files(), Context(layers=(), distro=None, index={}))) == []
    assert not collector.claims("/app/.env", 0o644, 11)

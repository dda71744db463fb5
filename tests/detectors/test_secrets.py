from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrails.detectors import SECRET_KINDS, SecretScanner

GH = "ghp_" + "A1b2C3d4E5" * 3 + "f6G7h8"
AWS_KEY_ID = "AKIA4HNP2X7QW9LRZT3M"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYq8Zt3LmN2p"

POSITIVE = [
    # (text, entity, the exact value that must be the span)
    (f"key {AWS_KEY_ID} here", "AWS_ACCESS_KEY_ID", AWS_KEY_ID),
    ("ASIAY34FZKBOKMUTVV7A", "AWS_ACCESS_KEY_ID", "ASIAY34FZKBOKMUTVV7A"),
    (f'aws_secret_access_key = "{AWS_SECRET}"', "AWS_SECRET_ACCESS_KEY", AWS_SECRET),
    (f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}", "AWS_SECRET_ACCESS_KEY", AWS_SECRET),
    (f'{{"SecretAccessKey": "{AWS_SECRET}"}}', "AWS_SECRET_ACCESS_KEY", AWS_SECRET),
    (f"token {GH} end", "GITHUB_TOKEN", GH),
    ("gho_" + "aB3dE6gH9j" * 3 + "kL2mN5", "GITHUB_TOKEN", "gho_" + "aB3dE6gH9j" * 3 + "kL2mN5"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVW", "GITHUB_TOKEN",
     "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVW"),
    ("use glpat-abcdefghij0123456789 now", "GITLAB_TOKEN", "glpat-abcdefghij0123456789"),
    ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "SLACK_TOKEN", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
    ("post to https://hooks.slack.com/services/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 please", "SLACK_WEBHOOK",
     "https://hooks.slack.com/services/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"),
    ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "STRIPE_KEY", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("rk_live_4eC39HqLyjWDarjtT1zdp7dc", "STRIPE_KEY", "rk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("sk_test_4eC39HqLyjWDarjtT1zdp7dc", "STRIPE_KEY", "sk_test_4eC39HqLyjWDarjtT1zdp7dc"),
    ("AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe", "GOOGLE_API_KEY", "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe"),
    ("sk-" + "A1b2C3d4" * 6, "OPENAI_API_KEY", "sk-" + "A1b2C3d4" * 6),
    ("OPENAI_API_KEY=sk-proj-abc_DEF-ghi0123456789abcdefghij", "OPENAI_API_KEY", "sk-proj-abc_DEF-ghi0123456789abcdefghij"),
    ("sk-ant-api03-" + "q8Zt3LmN2p" * 9 + "AA", "ANTHROPIC_API_KEY", "sk-ant-api03-" + "q8Zt3LmN2p" * 9 + "AA"),
    ("hf_" + "AbCd" * 9, "HUGGINGFACE_TOKEN", "hf_" + "AbCd" * 9),
    ("//registry.npmjs.org/:_authToken=npm_" + "a1" * 18, "NPM_TOKEN", "npm_" + "a1" * 18),
    ("SG." + "q8Zt3LmN2p" * 2 + "Rs" + "." + "Vw4yKj6HdF" * 4 + "abc", "SENDGRID_API_KEY",
     "SG." + "q8Zt3LmN2p" * 2 + "Rs" + "." + "Vw4yKj6HdF" * 4 + "abc"),
    ("SK" + "0123456789abcdef" * 2, "TWILIO_API_KEY", "SK" + "0123456789abcdef" * 2),
    ("AccountName=x;AccountKey=" + "Ab+/" * 21 + "AB==;EndpointSuffix=core.windows.net", "AZURE_STORAGE_KEY", "Ab+/" * 21 + "AB=="),
    (
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U ok",
        "JWT",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ),
    (
        "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1234\nabcd\n-----END RSA PRIVATE KEY-----\nbye",
        "PRIVATE_KEY",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1234\nabcd\n-----END RSA PRIVATE KEY-----",
    ),
    (
        "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----",
        "PRIVATE_KEY",
        "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----",
    ),
    (
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----",
        "PRIVATE_KEY",
        "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBF\n-----END PGP PRIVATE KEY BLOCK-----",
    ),
    (
        "cut: -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\nAAAAAAAABAAABlwAAAAdzc2gtcn\nthanks, bob",
        "PRIVATE_KEY",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\nAAAAAAAABAAABlwAAAAdzc2gtcn",
    ),
    ('password = "hunter2hunter2"', "GENERIC_PASSWORD_ASSIGNMENT", "hunter2hunter2"),
    ("DB_PASSWORD=s3cr3t!pass", "GENERIC_PASSWORD_ASSIGNMENT", "s3cr3t!pass"),
    ("userPassword: 'Xy7#kLp0qq'", "GENERIC_PASSWORD_ASSIGNMENT", "Xy7#kLp0qq"),
    ('{"api_key": "0123456789abcdef"}', "GENERIC_PASSWORD_ASSIGNMENT", "0123456789abcdef"),
    ("client_secret => `zz9-yy8-xx7`", "GENERIC_PASSWORD_ASSIGNMENT", "zz9-yy8-xx7"),
    ("export AUTH_TOKEN=abc123def456", "GENERIC_PASSWORD_ASSIGNMENT", "abc123def456"),
    ("pwd := 'correct-horse-9'", "GENERIC_PASSWORD_ASSIGNMENT", "correct-horse-9"),
    # non-ASCII text whose lower-casing changes length takes the slow path
    ('\u0130stanbul password = "hunter2hunter2"', "GENERIC_PASSWORD_ASSIGNMENT", "hunter2hunter2"),
]


@pytest.mark.parametrize(("text", "entity", "value"), POSITIVE)
def test_detects(text: str, entity: str, value: str) -> None:
    found = SecretScanner().find(text)
    assert [(text[f.start : f.end], f.entity) for f in found] == [(value, entity)]
    assert found[0].score == (0.7 if entity == "GENERIC_PASSWORD_ASSIGNMENT" else 1.0)


NEGATIVE = [
    "The quick brown fox; the key to success is a token of appreciation.",
    "max_tokens = 123456789",
    "token_count: 12345678",
    "token = tokenizer.encode(text)",
    "password: Optional[str] = None",
    "secret = os.environ['SECRET']",
    'password = "********"',
    "password = '<your-password>'",
    'api_key = "${API_KEY}"',
    'password = "short"',
    "monkey = 'bananas123'",
    "AKIAIOSFODNN7EXAMPL",  # too short
    "XAKIAIOSFODNN7EXAMPLE",  # glued to a longer word
    "scikit-learn and sk-learn are libraries; task-0123456789abcdef0123456789abcdef",
    "ghp_tooShort",
    "https://hooks.slack.com/",
    "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----",
    "eyJ alone",
]


@pytest.mark.parametrize("text", NEGATIVE)
def test_ignores(text: str) -> None:
    assert SecretScanner().find(text) == []


def test_specific_kind_beats_generic_assignment() -> None:
    text = f'token = "{GH}"'
    found = SecretScanner().find(text)
    assert [(f.entity, text[f.start : f.end]) for f in found] == [("GITHUB_TOKEN", GH)]
    # with only the generic kind enabled, it reports the value itself
    generic = SecretScanner(["generic_password_assignment"]).find(text)
    assert [(f.entity, text[f.start : f.end]) for f in generic] == [("GENERIC_PASSWORD_ASSIGNMENT", GH)]


def test_multiple_findings_sorted() -> None:
    text = f"a {AWS_KEY_ID} b {GH} c AKIA4HNP2X7QW9LRZT3N"
    found = SecretScanner().find(text)
    assert [f.entity for f in found] == ["AWS_ACCESS_KEY_ID", "GITHUB_TOKEN", "AWS_ACCESS_KEY_ID"]
    assert [f.start for f in found] == sorted(f.start for f in found)


def test_kind_selection() -> None:
    text = f"{AWS_KEY_ID} {GH}"
    assert [f.entity for f in SecretScanner(["github_token"]).find(text)] == ["GITHUB_TOKEN"]
    assert SecretScanner([]).find(text) == []
    assert set(SecretScanner().kinds) == set(SECRET_KINDS)


def test_unknown_kind_lists_valid_kinds() -> None:
    with pytest.raises(ValueError) as info:
        SecretScanner(["github_token", "bitcoin_wallet"])
    msg = str(info.value)
    assert "'bitcoin_wallet'" in msg and "aws_access_key_id" in msg


def test_required_kinds_exist() -> None:
    required = {
        "aws_access_key_id", "aws_secret_access_key", "github_token", "gitlab_token", "slack_token",
        "slack_webhook", "stripe_key", "google_api_key", "openai_api_key", "anthropic_api_key", "jwt",
        "private_key", "generic_password_assignment", "npm_token",
    }
    assert required <= set(SECRET_KINDS)
    assert all(isinstance(v, str) and v for v in SECRET_KINDS.values())


def _prose(n: int) -> str:
    para = (
        "Our policy engine evaluates prompts, completions and retrieved chunks: each rule is "
        "compiled once, then run on every request. Well-known risks include prompt-injection "
        "and data leaks (see section 4.2); the key idea is to fail closed. Tokens, secrets and "
        "passwords are never logged - only their kinds. "
    )
    return (para * (n // len(para) + 1))[:n]


def test_secret_in_large_text() -> None:
    text = _prose(5_000) + f" {GH} " + _prose(5_000)
    found = SecretScanner().find(text)
    assert [text[f.start : f.end] for f in found] == [GH]


FRAGMENTS = st.sampled_from(
    ["password", "token", "key", "secret", "=", ":", '"', "'", " ", "\n", "AKIA", "ghp_", "sk-", "eyJ", "-----BEGIN",
     "PRIVATE KEY", "-----", "xox", "AIza", "SK", "_", "-", ".", "A" * 20, "0123456789abcdef", "\u0130", "\u00e9"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(FRAGMENTS, st.text(max_size=5)), max_size=25).map("".join))
def test_find_never_crashes_and_spans_are_valid(text: str) -> None:
    found = SecretScanner().find(text)
    assert found == sorted(found, key=lambda f: (f.start, f.end, f.entity))
    for f in found:
        assert 0 <= f.start < f.end <= len(text)
        assert f.entity.lower() in SECRET_KINDS


# --- issue 14: the formats that slipped through, and placeholders -------------

SAS_SIG = base64.b64encode(hmac.new(b"account-key", b"string-to-sign", hashlib.sha256).digest()).decode()
SAS_URL = urllib.parse.quote(SAS_SIG, safe="")
BASIC = base64.b64encode(b"svc-deploy:Tr0ub4dor&3").decode()
PYPI = "pypi-AgEIcHlwaS5vcmcCJDU1ZDk0ZmY0LWE3YjQtNGYyOS04NGE3LTBiNzQ3ZjM0NmY5OQACKlszLCJlM2I0ZTE5"

NEW_FORMATS = [
    ("DATABASE_URL=postgres://app:pw@db/prod", "URI_PASSWORD", "pw"),
    ("connect to mongodb+srv://admin:S3cr3tPass@cluster0.mongodb.net/test", "URI_PASSWORD", "S3cr3tPass"),
    ("REDIS_URL=redis://:hunter22@cache:6379/0", "URI_PASSWORD", "hunter22"),
    ("jdbc:mysql://root:rootpw1@10.0.0.5:3306/app", "URI_PASSWORD", "rootpw1"),
    (f"curl -H 'Authorization: Basic {BASIC}' https://api.internal", "BASIC_AUTH", BASIC),
    (f'headers = {{"Authorization": "Basic {BASIC}"}}', "BASIC_AUTH", BASIC),
    (f"Proxy-Authorization: basic {BASIC}", "BASIC_AUTH", BASIC),
    (f"https://acct.blob.core.windows.net/c/b.txt?sv=2022-11-02&sp=r&se=2030-01-01&sig={SAS_URL}",
     "AZURE_SAS_SIGNATURE", SAS_URL),
    (f"SharedAccessSignature=sv=2022-11-02&sr=c&sig={SAS_SIG}&se=2030", "AZURE_SAS_SIGNATURE", SAS_SIG),
    ("DB_PASSWORD=correcthorsebatterystaple", "GENERIC_PASSWORD_ASSIGNMENT", "correcthorsebatterystaple"),
    ("export ADMIN_PASSWORD=tangerinewhistle", "GENERIC_PASSWORD_ASSIGNMENT", "tangerinewhistle"),
    ("shpat_" + "4f3a9c1e7b2d6f80" * 2, "SHOPIFY_TOKEN", "shpat_" + "4f3a9c1e7b2d6f80" * 2),
    ("shpss_" + "0a1b2c3d4e5f6789" * 2, "SHOPIFY_TOKEN", "shpss_" + "0a1b2c3d4e5f6789" * 2),
    ("dop_v1_" + "4f3a9c1e7b2d6f80" * 4, "DIGITALOCEAN_TOKEN", "dop_v1_" + "4f3a9c1e7b2d6f80" * 4),
    ("host=adb-1.azuredatabricks.net token=dapi" + "4f3a9c1e7b2d6f80" * 2, "DATABRICKS_TOKEN",
     "dapi" + "4f3a9c1e7b2d6f80" * 2),
    ("Bearer ya29.a0AfH6SMBx-k3yQz7pLmN0qRsTuVwXyZ_12ab", "GOOGLE_OAUTH_TOKEN", "ya29.a0AfH6SMBx-k3yQz7pLmN0qRsTuVwXyZ_12ab"),
    ("mailgun: key-" + "4f3a9c1e7b2d6f80" * 2, "MAILGUN_API_KEY", "key-" + "4f3a9c1e7b2d6f80" * 2),
    ("my app token is xapp-1-A0123456789-1234567890123-" + "4f3a9c1e7b2d6f80" * 4 + " ok", "SLACK_TOKEN",
     "xapp-1-A0123456789-1234567890123-" + "4f3a9c1e7b2d6f80" * 4),
    ("the endpoint secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw was rotated", "WEBHOOK_SIGNING_SECRET",
     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    (f"upload with {PYPI} please", "PYPI_TOKEN", PYPI),
]


@pytest.mark.parametrize(("text", "entity", "value"), NEW_FORMATS)
def test_issue_14_formats(text: str, entity: str, value: str) -> None:
    found = SecretScanner().find(text)
    assert [(text[f.start : f.end], f.entity) for f in found] == [(value, entity)]


def test_aws_credentials_csv_secret_column() -> None:
    for header in ("Access key ID,Secret access key", "User name,Password,Access key ID,Secret access key,Console login link"):
        row = f"{AWS_KEY_ID},{AWS_SECRET}" if header.startswith("Access") else (
            f"deploy,,{AWS_KEY_ID},{AWS_SECRET},https://console.aws.amazon.com/")
        text = f"{header}\n{row}\n"
        found = SecretScanner().find(text)
        assert [(text[f.start : f.end], f.entity) for f in found] == [
            (AWS_KEY_ID, "AWS_ACCESS_KEY_ID"), (AWS_SECRET, "AWS_SECRET_ACCESS_KEY")]
    # only this kind selected, the row still gives up its secret
    found = SecretScanner(["aws_secret_access_key"]).find(f"{AWS_KEY_ID},{AWS_SECRET}")
    assert [f.entity for f in found] == ["AWS_SECRET_ACCESS_KEY"]


PLACEHOLDERS = [
    # AWS's documented example pair, in the layouts above
    "key AKIAIOSFODNN7EXAMPLE here",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "Access key ID,Secret access key\nAKIAIOSFODNN7EXAMPLE,wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    # runs of x, templates, documentation words
    "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "export OPENAI_API_KEY=sk-proj-xxxxxxxxxxxxxxxxxxxxxxxx",
    "sk-YOUR-KEY-HERE-aaaaaaaaaaaaaaaaaaaaaaaaaa",
    "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
    "shpat_00000000000000000000000000000000",
    "api_key = '<your-key>'",
    "password = 'xxxxxxxx'",
    "DB_PASSWORD=changeme",
    "DB_PASSWORD=DEFAULT_PASSWORD",
    "postgres://user:password@localhost:5432/db",
    "postgresql://USER:PASSWORD@HOST:PORT/DATABASE",
    "mysql://app:${DB_PASSWORD}@db/app",
    "Authorization: Basic <base64-credentials>",
    "Authorization: Basic aGVsbG8gd29ybGQ=",  # base64 of "hello world": no user:password
    "sig=tooShort&sv=2022",
    "see https://example.com/path?a=1&b=2 and ssh://git@github.com/org/repo",
]


@pytest.mark.parametrize("text", PLACEHOLDERS)
def test_placeholders_are_not_flagged(text: str) -> None:
    assert SecretScanner().find(text) == []


def test_new_kinds_are_policy_vocabulary() -> None:
    from guardrails import Engine

    engine = Engine.from_source(
        'policy "p" version "1.0.0"\n'
        "input {\n"
        '  rule uri: deny "uri" when secrets(uri_password, basic_auth)\n'
        '  rule vendors: deny "vendor" when secrets(shopify_token, pypi_token, azure_sas_signature)\n'
        "}\n"
    )
    assert engine.check_input("DATABASE_URL=postgres://app:pw@db/prod").outcome.value == "deny"
    assert engine.check_input("shpat_" + "4f3a9c1e7b2d6f80" * 2).outcome.value == "deny"
    assert engine.check_input("postgres://user:password@localhost/db").outcome.value == "allow"


# --- what the red-team harness found: a password column, a password in prose, an
# AWS secret named in prose ------------------------------------------------------

HARNESS_FORMATS = [
    ("username,password\nsvc_billing,DovbLAOlGNQO!78", "DovbLAOlGNQO!78"),
    ("username,password\nsvc_billing,marblecandlefalconwalnut", "marblecandlefalconwalnut"),  # the header says so
    ('id,name,"Password",email\n7,ann,"hunter2345",a@b.c\n', "hunter2345"),  # third column, quoted
    ("service,token\r\nbilling,q8Zr2LmN4pXw\r\n", "q8Zr2LmN4pXw"),
    ("The database password is X6bGc8BZUYiX!72, same as last quarter.", "X6bGc8BZUYiX!72"),
    ("My password is Tr0ub4dor3.", "Tr0ub4dor3"),
    # a passphrase (sixteen or more lower-case letters) assigned anywhere
    ("deploy:\n  region: eu-west-1\n  db_password: quartzlemontunnelfalcon", "quartzlemontunnelfalcon"),
    ("X-Auth-Token: zephyrbramblegingerpylon", "zephyrbramblegingerpylon"),
    ("https://x.example.net/login?user=ops&password=pepperquartzjigsawzephyr&format=csv",
     "pepperquartzjigsawzephyr"),  # a query value ends at "&"
]


@pytest.mark.parametrize(("text", "value"), HARNESS_FORMATS)
def test_a_password_column_or_sentence_is_found(text: str, value: str) -> None:
    assert [(text[f.start : f.end], f.entity) for f in SecretScanner().find(text)] == [
        (value, "GENERIC_PASSWORD_ASSIGNMENT")]


def test_an_aws_secret_named_in_prose_is_found() -> None:
    text = f"My AWS secret access key: {AWS_SECRET} (do not share)."
    assert [(text[f.start : f.end], f.entity) for f in SecretScanner().find(text)] == [
        (AWS_SECRET, "AWS_SECRET_ACCESS_KEY")]


@pytest.mark.parametrize("text", [
    "The password is incorrect.",
    "the password is 12 characters long",
    "Your password is stored hashed, never in plain text.",
    "user,password\nann,********",
    "username,password_hash\nann,abcdefgh12",  # another column's name
    "name,password\n",  # a header and no row
    "The AWS secret access key is shown only once, when you create it.",
    "token: Tokenizer",  # a type, not a passphrase
    "secret = settings.secret_key",
    "https://x.example.net/a?pwd=abc&x=1",  # seven characters before the "&"
])
def test_password_words_without_a_secret_stay_clean(text: str) -> None:
    assert SecretScanner().find(text) == []

from __future__ import annotations


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guardrails.detectors import SECRET_KINDS, SecretScanner

GH = "ghp_" + "A1b2C3d4E5" * 3 + "f6G7h8"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

POSITIVE = [
    # (text, entity, the exact value that must be the span)
    ("key AKIAIOSFODNN7EXAMPLE here", "AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
    ("ASIAY34FZKBOKMUTVV7A", "AWS_ACCESS_KEY_ID", "ASIAY34FZKBOKMUTVV7A"),
    (f'aws_secret_access_key = "{AWS_SECRET}"', "AWS_SECRET_ACCESS_KEY", AWS_SECRET),
    (f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}", "AWS_SECRET_ACCESS_KEY", AWS_SECRET),
    (f'{{"SecretAccessKey": "{AWS_SECRET}"}}', "AWS_SECRET_ACCESS_KEY", AWS_SECRET),
    (f"token {GH} end", "GITHUB_TOKEN", GH),
    ("gho_" + "x" * 36, "GITHUB_TOKEN", "gho_" + "x" * 36),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVW", "GITHUB_TOKEN",
     "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVW"),
    ("use glpat-abcdefghij0123456789 now", "GITLAB_TOKEN", "glpat-abcdefghij0123456789"),
    ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "SLACK_TOKEN", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
    ("post to https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX please", "SLACK_WEBHOOK",
     "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"),
    ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "STRIPE_KEY", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("rk_live_4eC39HqLyjWDarjtT1zdp7dc", "STRIPE_KEY", "rk_live_4eC39HqLyjWDarjtT1zdp7dc"),
    ("sk_test_4eC39HqLyjWDarjtT1zdp7dc", "STRIPE_KEY", "sk_test_4eC39HqLyjWDarjtT1zdp7dc"),
    ("AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe", "GOOGLE_API_KEY", "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe"),
    ("sk-" + "A1b2C3d4" * 6, "OPENAI_API_KEY", "sk-" + "A1b2C3d4" * 6),
    ("OPENAI_API_KEY=sk-proj-abc_DEF-ghi0123456789abcdefghij", "OPENAI_API_KEY", "sk-proj-abc_DEF-ghi0123456789abcdefghij"),
    ("sk-ant-api03-" + "x" * 90 + "AA", "ANTHROPIC_API_KEY", "sk-ant-api03-" + "x" * 90 + "AA"),
    ("hf_" + "AbCd" * 9, "HUGGINGFACE_TOKEN", "hf_" + "AbCd" * 9),
    ("//registry.npmjs.org/:_authToken=npm_" + "a1" * 18, "NPM_TOKEN", "npm_" + "a1" * 18),
    ("SG." + "a" * 22 + "." + "b" * 43, "SENDGRID_API_KEY", "SG." + "a" * 22 + "." + "b" * 43),
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
    text = f"a AKIAIOSFODNN7EXAMPLE b {GH} c AKIAIOSFODNN7EXAMPLF"
    found = SecretScanner().find(text)
    assert [f.entity for f in found] == ["AWS_ACCESS_KEY_ID", "GITHUB_TOKEN", "AWS_ACCESS_KEY_ID"]
    assert [f.start for f in found] == sorted(f.start for f in found)


def test_kind_selection() -> None:
    text = f"AKIAIOSFODNN7EXAMPLE {GH}"
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

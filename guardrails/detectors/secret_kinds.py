"""The secret kinds: the registry, each format's pattern and where its shape
is documented, and what counts as a placeholder.

:mod:`.secrets` decides where to try these patterns; this module only says
what they are. A kind may have several patterns, one per layout (an AWS secret
key after its name, or in the column after its key id).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache

import regex

__all__ = ["GENERIC", "KINDS", "NEAR", "SCORES", "SECRET_KINDS", "Kind", "compiled", "generic_value", "plausible"]

SECRET_KINDS: dict[str, str] = {
    "aws_access_key_id": "AWS access key id (AKIA/ASIA followed by 16 characters)",
    "aws_secret_access_key": "AWS secret access key assigned to an AWS secret key name, or next to its key id "
    "(a credentials.csv row)",
    "github_token": "GitHub token (ghp_, gho_, ghu_, ghs_, ghr_ or github_pat_)",
    "gitlab_token": "GitLab personal access token (glpat-)",
    "slack_token": "Slack token (xoxa-, xoxb-, xoxp-, xoxr-, xoxs-, app-level xapp-)",
    "slack_webhook": "Slack incoming webhook URL",
    "stripe_key": "Stripe secret or restricted key (sk_live_, rk_live_, sk_test_, rk_test_)",
    "google_api_key": "Google API key (AIza followed by 35 characters)",
    "openai_api_key": "OpenAI API key (sk-..., sk-proj-...)",
    "anthropic_api_key": "Anthropic API key (sk-ant-...)",
    "huggingface_token": "Hugging Face access token (hf_)",
    "npm_token": "npm access token (npm_ followed by 36 characters)",
    "sendgrid_api_key": "SendGrid API key (SG.)",
    "twilio_api_key": "Twilio API key (SK followed by 32 hex digits)",
    "azure_storage_key": "Azure storage account key in a connection string (AccountKey=)",
    "jwt": "JSON Web Token (three base64url segments starting eyJ)",
    "private_key": "PEM or PGP private key block",
    "shopify_token": "Shopify access token or shared secret (shpat_, shpca_, shppa_, shpss_ + 32 hex digits)",
    "digitalocean_token": "DigitalOcean token (dop_v1_, doo_v1_, dor_v1_ + 64 hex digits)",
    "databricks_token": "Databricks personal access token (dapi + 32 hex digits)",
    "google_oauth_token": "Google OAuth 2.0 access token (ya29.)",
    "mailgun_api_key": "Mailgun API key (key- + 32 hex digits)",
    "webhook_signing_secret": "webhook signing secret (whsec_, as Stripe and Svix issue them)",
    "pypi_token": "PyPI API token (pypi-AgE...)",
    "uri_password": "password in a URI's user information (postgres://app:pw@db/prod)",
    "basic_auth": "credentials in an Authorization: Basic header",
    "azure_sas_signature": "signature of an Azure shared access signature (sig= in a SAS URL)",
    "generic_password_assignment": "password, secret, token or API key assigned a literal value",
}

# Keyword heuristics are less certain than provider formats.
GENERIC = "generic_password_assignment"
SCORES = {GENERIC: 0.7}

_B64 = r"[A-Za-z0-9+/]"
# Separator between a key name and its value: `=`, `:`, `:=`, `=>`, optionally
# with the key quoted (`"key": "value"`).
_ASSIGN = r"""["'`]?\s{0,4}(?::=|=>|[:=])\s{0,4}"""


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    # The pattern's source; :func:`compiled` gives the kind with ``pattern``
    # set. The 32 patterns are compiled when a scanner first needs them, not
    # at import: a policy without secrets() does not pay ~30 ms at start-up.
    source: str
    # Every match of ``pattern`` starts with one of these literals.
    triggers: tuple[str, ...]
    # Skip the kind when none of these occurs in the text (cheap pre-gate).
    gates: tuple[str, ...] = ()
    # Triggers are lower-case keywords, looked up in the lower-cased text.
    lower: bool = False
    # Try the regex only where one of these occurs within NEAR characters of
    # the trigger: most "key" or "token" words in prose are no assignment.
    near: tuple[str, ...] = ()
    # Or only where this says so, given the haystack and the trigger's
    # position: cheaper than a regex that would fail.
    precheck: Callable[[str, int], bool] | None = None
    pattern: regex.Pattern[str] | None = None


@cache
def compiled(kind: Kind) -> Kind:
    """``kind`` with its pattern compiled (once per kind per process)."""
    return replace(kind, pattern=regex.compile(kind.source))


def _kind(
    name: str,
    pattern: str,
    triggers: tuple[str, ...],
    *,
    gates: tuple[str, ...] = (),
    lower: bool = False,
    near: tuple[str, ...] = (),
    precheck: Callable[[str, int], bool] | None = None,
) -> Kind:
    return Kind(name, pattern, triggers, gates, lower, near, precheck)


def _userinfo_ahead(text: str, at: int) -> bool:
    """After "://" at ``at``: an "@" comes before any "/", "?", "#" or space."""
    end = text.find("@", at + 3, at + 400)
    if end < 0:
        return False
    between = text[at + 3 : end]
    return ":" in between and not any(c in between for c in "/?# \t\n")


_ASSIGN_GATES = ("=", ":")
# Longest possible distance from a keyword trigger to its `=`/`:` in the
# keyword patterns below ("secret" + 20 name characters + quote + spaces).
NEAR = 48

# The shapes. Each provider format's comment names where its shape is
# documented; a kind may have several patterns (one per layout).
_PATTERNS: tuple[Kind, ...] = (
    # AWS IAM User Guide, "Unique identifiers": key ids are 20 characters,
    # AKIA (long-term) or ASIA (temporary); secret keys are 40 base64 characters.
    _kind(
        "aws_access_key_id",
        r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])",
        ("AKIA", "ASIA"),
    ),
    _kind(
        "aws_secret_access_key",
        # Anchored on "secret": either an AWS-prefixed name
        # ("aws_secret_access_key", "AWS_SECRET") or "secret_access_key".
        r"(?i:(?<=aws[A-Za-z0-9_.-]{0,20})secret[A-Za-z0-9_.-]{0,20}?"
        r"|secret[_.-]?access[A-Za-z0-9_.-]{0,20}?)"
        + _ASSIGN
        + r"""["'`]?(?P<value>"""
        + _B64
        + r"{40})(?![A-Za-z0-9+/=])",
        ("secret",),
        gates=_ASSIGN_GATES,
        lower=True,
        near=_ASSIGN_GATES,
    ),
    _kind(
        "aws_secret_access_key",
        # Named in prose: "my AWS secret access key: ...". Anchored on
        # "secret", whose positions the other keyword patterns find anyway.
        r"(?i:(?<=aws[ \t]+)secret(?:[ \t]+access)?[ \t]+key)[ \t]*[:=][ \t]*[\"'`]?"
        r"(?P<value>" + _B64 + r"{40})(?![A-Za-z0-9+/=])",
        ("secret",),
        gates=_ASSIGN_GATES,
        lower=True,
        near=_ASSIGN_GATES,
    ),
    _kind(
        "aws_secret_access_key",
        # The IAM console's credentials.csv ("Access key ID,Secret access
        # key", or with User name and Password columns first): the secret is
        # the column after the key id, so it is found from the key id.
        r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}[\"']?[ \t]*[,;\t|][ \t]*[\"']?"
        r"(?P<value>" + _B64 + r"{40})(?![A-Za-z0-9+/=])",
        ("AKIA", "ASIA"),
    ),
    # GitHub Docs, "About authentication to GitHub": ghp_, gho_, ghu_, ghs_,
    # ghr_ and fine-grained github_pat_ tokens.
    _kind(
        "github_token",
        r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,251})(?![A-Za-z0-9_])",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        gates=("_",),
    ),
    # GitLab docs, "Personal access tokens": the glpat- prefix.
    _kind(
        "gitlab_token",
        r"(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,}",
        ("glpat-",),
        gates=("-",),
    ),
    # Slack API docs, "Token types": xoxb- (bot), xoxp- (user), ... and
    # app-level tokens xapp-<version>-<app id>-<number>-<hex>.
    _kind(
        "slack_token",
        r"(?<![A-Za-z0-9_-])(?:xox[abprs]-[0-9A-Za-z][0-9A-Za-z-]{8,}[0-9A-Za-z]"
        r"|xapp-[0-9]+-[A-Za-z0-9]+-[0-9]+-[A-Za-z0-9]{16,})",
        ("xox", "xapp-"),
        gates=("-",),
    ),
    _kind(
        "slack_webhook",
        r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{20,}",
        ("https://hooks.slack.com", "http://hooks.slack.com"),
        gates=("hooks.slack.com",),
    ),
    # Stripe docs, "API keys": secret sk_ and restricted rk_ keys.
    _kind(
        "stripe_key",
        r"(?<![A-Za-z0-9_])[sr]k_(?:live|test)_[0-9A-Za-z]{10,99}(?![0-9A-Za-z])",
        ("sk_live_", "rk_live_", "sk_test_", "rk_test_"),
        gates=("_",),
    ),
    # Stripe docs, "Webhooks" (endpoint secrets whsec_ + base62) and Svix,
    # "Verifying webhooks" (whsec_ + base64).
    _kind(
        "webhook_signing_secret",
        r"(?<![A-Za-z0-9_])whsec_[A-Za-z0-9+/]{24,}={0,2}(?![A-Za-z0-9+/=])",
        ("whsec_",),
        gates=("_",),
    ),
    # Google Cloud docs, "API keys": AIza + 35 characters.
    _kind(
        "google_api_key",
        r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])",
        ("AIza",),
    ),
    # Google Identity docs, OAuth 2.0: access tokens begin "ya29.".
    _kind(
        "google_oauth_token",
        r"(?<![A-Za-z0-9_.-])ya29\.[0-9A-Za-z_-]{20,}",
        ("ya29.",),
    ),
    _kind(
        "openai_api_key",
        # sk-ant- is Anthropic's; classic keys have no '-' or '_' after sk-.
        r"(?<![A-Za-z0-9_-])sk-(?!ant-)"
        r"(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{32,})(?![A-Za-z0-9_-])",
        ("sk-",),
        gates=("-",),
    ),
    _kind(
        "anthropic_api_key",
        r"(?<![A-Za-z0-9_-])sk-ant-[A-Za-z0-9_-]{20,}",
        ("sk-ant-",),
        gates=("-",),
    ),
    _kind(
        "huggingface_token",
        r"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{34,}(?![A-Za-z0-9_])",
        ("hf_",),
        gates=("_",),
    ),
    # npm docs, "About access tokens": npm_ + 36 characters.
    _kind(
        "npm_token",
        r"(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])",
        ("npm_",),
        gates=("_",),
    ),
    # PyPI help, "API tokens": pypi- and a base64 macaroon whose first bytes
    # name the index (AgEIcHlwaS5vcmc for pypi.org, AgENdGVzdC5weXBpLm9yZw
    # for test.pypi.org).
    _kind(
        "pypi_token",
        r"(?<![A-Za-z0-9_-])pypi-AgE[A-Za-z0-9_-]{50,}",
        ("pypi-",),
        gates=("-",),
    ),
    # Shopify changelog, "New access token prefixes" (2021): shpat_ (Admin
    # API), shpca_ (custom app), shppa_ (private app), shpss_ (shared secret),
    # each followed by 32 hex digits.
    _kind(
        "shopify_token",
        r"(?<![A-Za-z0-9_])shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}(?![A-Za-z0-9])",
        ("shp",),
        gates=("_",),
    ),
    # DigitalOcean docs, "How to Create a Personal Access Token": dop_v1_
    # (personal), doo_v1_ (OAuth), dor_v1_ (refresh) + 64 hex digits.
    _kind(
        "digitalocean_token",
        r"(?<![A-Za-z0-9_])do[opr]_v1_[a-f0-9]{64}(?![A-Za-z0-9])",
        ("dop_v1_", "doo_v1_", "dor_v1_"),
        gates=("_",),
    ),
    # Databricks docs, "Databricks personal access tokens": dapi + 32 hex
    # digits, sometimes with a "-2" style suffix.
    _kind(
        "databricks_token",
        r"(?<![A-Za-z0-9_])dapi[a-f0-9]{32}(?:-[0-9]+)?(?![A-Za-z0-9])",
        ("dapi",),
    ),
    # Mailgun docs, "API keys": the private key is key- + 32 hex digits.
    _kind(
        "mailgun_api_key",
        r"(?<![A-Za-z0-9_-])key-[a-f0-9]{32}(?![A-Za-z0-9])",
        ("key-",),
        gates=("-",),
    ),
    # Twilio docs, "API keys": SK + 32 hex digits.
    _kind(
        "twilio_api_key",
        r"(?<![A-Za-z0-9])SK[0-9a-fA-F]{32}(?![A-Za-z0-9])",
        ("SK",),
    ),
    _kind(
        "sendgrid_api_key",
        r"(?<![A-Za-z0-9_])SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])",
        ("SG.",),
    ),
    # Azure Storage docs, "Configure a connection string": AccountKey= and the
    # 512-bit key in base64 (88 characters).
    _kind(
        "azure_storage_key",
        r"AccountKey=(?P<value>" + _B64 + r"{86}==)",
        ("AccountKey=",),
    ),
    # Azure Storage docs, "Create a service SAS": sig= is the base64 of an
    # HMAC-SHA256 (43 characters and one "="), URL-encoded in a SAS URL.
    _kind(
        "azure_sas_signature",
        r"(?<=[?&;])sig=(?P<value>(?:[A-Za-z0-9+/]|%2[BbFf]){43}(?:=|%3[Dd]))(?![A-Za-z0-9%])",
        ("sig=",),
        gates=("=",),
    ),
    # RFC 3986, section 3.2.1: user information "user:password@" before the
    # host (deprecated, yet how database URLs carry passwords: PostgreSQL
    # "Connection URIs", MongoDB "Connection String", Redis, AMQP, ...).
    _kind(
        "uri_password",
        r"(?<=[A-Za-z][A-Za-z0-9+.-]{0,30})://[^\s:/@?#]{0,128}:(?P<value>[^\s/@?#]{1,256})@(?=[A-Za-z0-9\[])",
        ("://",),
        gates=("@",),
        precheck=_userinfo_ahead,
    ),
    # RFC 7617: Basic credentials are the base64 of "user-id:password".
    _kind(
        "basic_auth",
        r"(?i:authorization)[\"'`]?\s{0,4}[:=]\s{0,4}[\"'`]?(?i:basic)\s+"
        r"(?P<value>[A-Za-z0-9+/]{4,}={0,2})(?![A-Za-z0-9+/=])",
        ("authorization",),
        gates=_ASSIGN_GATES,
        lower=True,
    ),
    # RFC 7519: a JWT is three base64url segments, the header a JSON object.
    _kind(
        "jwt",
        r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*",
        ("eyJ",),
    ),
    _kind(
        "private_key",
        # A block cut short (no END line) is still a leaked key: then take
        # the header and the base64 lines that follow it (prose after them
        # has no 16-character base64 runs, so it is left alone).
        r"-----BEGIN[ A-Z0-9]{0,20}PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]*?-----END[ A-Z0-9]{0,20}PRIVATE KEY(?: BLOCK)?-----"
        r"|(?:\s*[A-Za-z0-9+/=]{16,})*)",
        ("-----BEGIN",),
        gates=("-",),
    ),
    _kind(
        GENERIC,
        # Anchored on the keyword that ends the key name; whatever prefix
        # the name has ("db_password", "userPassword") is irrelevant since
        # only the value is reported. "max_tokens" or "token_count" fail
        # because the assignment must follow the keyword directly.
        r"(?i:pass(?:word|wd|phrase)?|pwd|secret|token"
        r"|(?<=(?:api|secret|access|private|auth|encryption|signing)[_-]?)key)"
        + _ASSIGN
        + r"""(?:"(?P<value>[^"\s]{8,})"|'(?P<value>[^'\s]{8,})'|`(?P<value>[^`\s]{8,})`"""
        + r"""|(?P<bare>[^\s"'`,;]{8,}))""",
        ("pass", "pwd", "secret", "token", "key"),
        gates=_ASSIGN_GATES,
        lower=True,
        near=_ASSIGN_GATES,
    ),
)

# A password, secret or token column of a CSV table: the header names it, and
# the first row's cell in the same column is the value (whatever it looks
# like: the header says what it is). A branch per column position, up to 8.
_CSV_KEY = r"(?i:pass(?:word|wd|phrase)?|pwd|secret|token|api[ _-]?key)"
_CSV_COLUMN = "|".join(
    rf"(?<=(?:^|\n)(?:[^,\n]*,){{{k}}}[ \t\"']*){_CSV_KEY}[\"' \t]*(?:,[^\n]*)?\r?\n"
    rf"(?:[^,\n]*,){{{k}}}[ \t\"']*(?P<csv>[^,\n\"']{{6,}}?)[ \t\"']*(?=,|\r?\n|$)"
    for k in range(8)
)
_PATTERNS = (
    *_PATTERNS,
    _kind(GENERIC, _CSV_COLUMN, ("pass", "pwd", "secret", "token", "api"), gates=("\n",), lower=True,
          near=("\n",)),
    # Said in prose: "the database password is X6bGc8BZUYiX!72". Only a value
    # with both letters and digits: "the password is incorrect" is no secret.
    _kind(
        GENERIC,
        r"(?i:pass(?:word|phrase))[ \t]+is[ \t]+[\"'`]?"
        r"(?P<prose>(?=[^\s\"'`]*[A-Za-z])(?=[^\s\"'`]*[0-9])[^\s\"'`]{8,}?)[\"'`]?(?=[\s,;)]|[.!?](?:\s|$)|$)",
        ("pass",),
        gates=tuple("0123456789"),  # the value has a digit (one memchr per digit)
        lower=True,
        near=(" is ",),
    ),
)

KINDS: dict[str, tuple[Kind, ...]] = {
    name: tuple(k for k in _PATTERNS if k.name == name) for name in dict.fromkeys(k.name for k in _PATTERNS)
}

assert set(KINDS) == set(SECRET_KINDS)

# An unquoted value that reads like code or a type rather than a literal:
# `token = tokenizer.encode(x)`, `password: Optional[str]`, `secret=$SECRET`.
_CODE_LIKE = regex.compile(r"[A-Za-z_][A-Za-z_.]*|.*[()\[\]{}<>].*|[$%].*")
# A shell or .env assignment (`DB_PASSWORD=value`: upper-case name, `=` with
# no space): its unquoted value is a literal even when it is letters only,
# though a value with "_" or "." still reads as a name (`=DEFAULT_PASSWORD`).
_ENV_ASSIGNMENT = regex.compile(r"[A-Z_]+=")
_ENV_CODE_LIKE = regex.compile(r"[A-Za-z]*[_.][A-Za-z_.]*|.*[()\[\]{}<>].*|[$%].*")
# A passphrase: sixteen or more lower-case letters, four words or so run
# together. Code names that long are snake_case or camelCase, so such a value
# is a literal wherever it is assigned (YAML, a header, a URL query).
_PASSPHRASE = regex.compile(r"[a-z]{16,}")
# A URL query parameter's value (`?user=ops&password=...`) ends at "&" or "#".
_QUERY_END = regex.compile(r"[&#]")
# Obvious placeholders, in any kind's value: one character repeated
# ("********"), a template ("<your-key>", "${API_KEY}", "{{token}}"), a run
# of x ("sk-xxxxxxxx"), documentation words ("your", "example": AWS's own
# example keys are AKIAIOSFODNN7EXAMPLE and wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY),
# or a value that only names what it stands for ("password").
_PLACEHOLDER = regex.compile(
    r"(.)\1*|[<{$%].*|.*(?:xxxx|\*\*\*\*|your|example|changeme|placeholder|redacted|dummy).*"
    r"|(?:pass(?:word)?|passwd|pwd|secret|token|api[_-]?key|key|user(?:name)?)",
    regex.I,
)


def _in_query(text: str, at: int) -> bool:
    """Whether the key name around ``at`` (where its keyword starts) is a URL
    query parameter: the name's first character follows a "?" or "&"."""
    start = at
    while start > 0 and at - start < 32 and (text[start - 1].isalnum() or text[start - 1] in "_.-"):
        start -= 1
    return start > 0 and text[start - 1] in "?&"


def generic_value(m: regex.Match[str]) -> tuple[int, int] | None:
    """Span of the assigned value, or None when it is not plausibly a secret."""
    for group in ("csv", "prose"):  # a CSV column or a sentence: the name says it is a secret
        if group in m.re.groupindex:
            span = m.span(group)
            return None if _PLACEHOLDER.fullmatch(m.string, *span) else span
    if m.start("bare") >= 0:
        start, end = m.span("bare")
        if _in_query(m.string, m.start()):
            end = start + len(_QUERY_END.split(m.string[start:end], maxsplit=1)[0])
            if end - start < 8:
                return None
        value = m.string[start:end]
        env = _ENV_ASSIGNMENT.fullmatch(m.string, m.start(), start)
        if (_ENV_CODE_LIKE if env else _CODE_LIKE).fullmatch(value) and not _PASSPHRASE.fullmatch(value):
            return None
        span = (start, end)
    else:
        span = m.span("value")
    if _PLACEHOLDER.fullmatch(m.string, *span):
        return None
    return span


# Placeholders in a provider format's value, matched case by case so that a
# random token rarely trips them: "sk-xxxxxxxx", "ghp_YOUR_TOKEN", a run of
# eight equal characters, and the example keys of providers' docs (AWS's are
# AKIAIOSFODNN7EXAMPLE and wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY).
_FORMAT_PLACEHOLDER = regex.compile(
    r".*(?:xxxx|XXXX|\*\*\*\*|EXAMPLE|[Ee]xample|(.)\1{7}"
    r"|(?<![A-Za-z0-9])(?:your|YOUR|Your|placeholder|PLACEHOLDER|changeme|CHANGEME|redacted|REDACTED)).*"
)


def plausible(kind: str, value: str) -> bool:
    """Whether a provider format's ``value`` may be a real secret."""
    if kind == "private_key":
        return True  # a key block is a key, whatever its body says
    if kind == "basic_auth":
        return _basic_credentials(value)
    if kind == "uri_password":
        return not _PLACEHOLDER.fullmatch(value)
    return not _FORMAT_PLACEHOLDER.fullmatch(value)


def _basic_credentials(value: str) -> bool:
    """Whether ``value`` is base64 of ``user:password`` (RFC 7617)."""
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return False
    _user, sep, password = decoded.partition(":")
    return bool(sep and password) and not _PLACEHOLDER.fullmatch(password)

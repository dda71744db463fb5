"""Credentials and keys in text: provider token formats plus key=value heuristics.

Speed on clean text is the design constraint (the scanner runs on every
prompt and completion). Python's regex engines manage only a few hundred
ns per character for an alternation of many prefixes, but ``str.find`` scans
at memchr speed. So every kind's regex *starts* with one of a few literal
triggers (``AKIA``, ``ghp_``, ``-----BEGIN``, a keyword such as ``password``),
``find`` locates the trigger occurrences with ``str.find``, and the regex is
only tried, anchored, at those positions. Kinds whose triggers all contain a
common character (``_``, ``-``, ``=``/``:``) are skipped outright when the text
lacks it. About 10 KB of clean prose costs roughly 100 µs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import regex

from guardrails.detectors.base import Finding

__all__ = ["SECRET_KINDS", "SecretScanner"]

SECRET_KINDS: dict[str, str] = {
    "aws_access_key_id": "AWS access key id (AKIA/ASIA followed by 16 characters)",
    "aws_secret_access_key": "AWS secret access key assigned to an AWS secret key name",
    "github_token": "GitHub token (ghp_, gho_, ghu_, ghs_, ghr_ or github_pat_)",
    "gitlab_token": "GitLab personal access token (glpat-)",
    "slack_token": "Slack token (xoxa-, xoxb-, xoxp-, xoxr-, xoxs-)",
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
    "generic_password_assignment": "password, secret, token or API key assigned a literal value",
}

# Keyword heuristics are less certain than provider formats.
_GENERIC = "generic_password_assignment"
_SCORES = {_GENERIC: 0.7}

_B64 = r"[A-Za-z0-9+/]"
# Separator between a key name and its value: `=`, `:`, `:=`, `=>`, optionally
# with the key quoted (`"key": "value"`).
_ASSIGN = r"""["'`]?\s{0,4}(?::=|=>|[:=])\s{0,4}"""


@dataclass(frozen=True, slots=True)
class _Kind:
    name: str
    pattern: regex.Pattern[str]
    # Every match of ``pattern`` starts with one of these literals.
    triggers: tuple[str, ...]
    # Skip the kind when none of these occurs in the text (cheap pre-gate).
    gates: tuple[str, ...] = ()
    # Triggers are lower-case keywords, looked up in the lower-cased text.
    lower: bool = False
    # Try the regex only where one of these occurs within _NEAR characters of
    # the trigger: most "key" or "token" words in prose are no assignment.
    near: tuple[str, ...] = ()


def _kind(
    name: str,
    pattern: str,
    triggers: tuple[str, ...],
    *,
    gates: tuple[str, ...] = (),
    lower: bool = False,
    near: tuple[str, ...] = (),
) -> _Kind:
    return _Kind(name, regex.compile(pattern), triggers, gates, lower, near)


_ASSIGN_GATES = ("=", ":")
# Longest possible distance from a keyword trigger to its `=`/`:` in the
# keyword patterns below ("secret" + 20 name characters + quote + spaces).
_NEAR = 48

_KINDS: dict[str, _Kind] = {
    k.name: k
    for k in (
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
            "github_token",
            r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,251})(?![A-Za-z0-9_])",
            ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
            gates=("_",),
        ),
        _kind(
            "gitlab_token",
            r"(?<![A-Za-z0-9_-])glpat-[A-Za-z0-9_-]{20,}",
            ("glpat-",),
            gates=("-",),
        ),
        _kind(
            "slack_token",
            r"(?<![A-Za-z0-9_-])xox[abprs]-[0-9A-Za-z][0-9A-Za-z-]{8,}[0-9A-Za-z]",
            ("xox",),
            gates=("-",),
        ),
        _kind(
            "slack_webhook",
            r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{20,}",
            ("https://hooks.slack.com", "http://hooks.slack.com"),
            gates=("hooks.slack.com",),
        ),
        _kind(
            "stripe_key",
            r"(?<![A-Za-z0-9_])[sr]k_(?:live|test)_[0-9A-Za-z]{10,99}(?![0-9A-Za-z])",
            ("sk_live_", "rk_live_", "sk_test_", "rk_test_"),
            gates=("_",),
        ),
        _kind(
            "google_api_key",
            r"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])",
            ("AIza",),
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
        _kind(
            "npm_token",
            r"(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])",
            ("npm_",),
            gates=("_",),
        ),
        _kind(
            "sendgrid_api_key",
            r"(?<![A-Za-z0-9_])SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])",
            ("SG.",),
        ),
        _kind(
            "twilio_api_key",
            r"(?<![A-Za-z0-9])SK[0-9a-fA-F]{32}(?![A-Za-z0-9])",
            ("SK",),
        ),
        _kind(
            "azure_storage_key",
            r"AccountKey=(?P<value>" + _B64 + r"{86}==)",
            ("AccountKey=",),
        ),
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
            _GENERIC,
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
}

assert set(_KINDS) == set(SECRET_KINDS)

# An unquoted value that reads like code or a type rather than a literal:
# `token = tokenizer.encode(x)`, `password: Optional[str]`, `secret=$SECRET`.
_CODE_LIKE = regex.compile(r"[A-Za-z_][A-Za-z_.]*|.*[()\[\]{}<>].*|[$%].*")
# Obvious placeholders, quoted or not: "********", "xxxxxxxx", "<your-key>".
_PLACEHOLDER = regex.compile(r"(.)\1*|[<{$%].*|.*(?:your|example|changeme|placeholder).*", regex.I)


def _generic_value(m: regex.Match[str]) -> tuple[int, int] | None:
    """Span of the assigned value, or None when it is not plausibly a secret."""
    if m.start("bare") >= 0:
        value = m.group("bare")
        if _CODE_LIKE.fullmatch(value):
            return None
        span = m.span("bare")
    else:
        value = m.group("value")
        span = m.span("value")
    if _PLACEHOLDER.fullmatch(value):
        return None
    return span


class SecretScanner:
    """Finds credentials of the configured kinds (all of :data:`SECRET_KINDS` by default).

    Findings carry the kind upper-cased as entity (``"AWS_ACCESS_KEY_ID"``)
    and span only the secret itself; for key=value kinds that is the value,
    not the key name. Scores are 1.0 for provider formats and 0.7 for the
    generic assignment heuristic, which is dropped where it overlaps a more
    specific finding.
    """

    def __init__(self, kinds: Iterable[str] | None = None) -> None:
        if kinds is None:
            selected = list(_KINDS)
        else:
            selected = list(dict.fromkeys(kinds))
            unknown = sorted(set(selected) - set(_KINDS))
            if unknown:
                raise ValueError(
                    f"unknown secret kind(s) {', '.join(map(repr, unknown))}; "
                    f"valid kinds: {', '.join(sorted(_KINDS))}"
                )
        self.kinds: tuple[str, ...] = tuple(selected)
        self._kinds = tuple(_KINDS[k] for k in selected)

    def find(self, text: str) -> list[Finding]:
        """Secrets in ``text``, sorted by ``(start, end, entity)``."""
        gate_memo: dict[str, bool] = {}
        lowered: str | None = None
        specific: list[Finding] = []
        generic: list[Finding] = []
        for kind in self._kinds:
            if kind.gates and not any(_gate(text, g, gate_memo) for g in kind.gates):
                continue
            if kind.lower:
                if lowered is None:
                    lowered = text.lower()
                matches = _matches(kind, text, lowered)
            else:
                matches = _matches(kind, text, text)
            entity = kind.name.upper()
            if kind.name == _GENERIC:
                for m in matches:
                    span = _generic_value(m)
                    if span is not None:
                        generic.append(Finding(span[0], span[1], entity, _SCORES[_GENERIC]))
                continue
            has_value = "value" in kind.pattern.groupindex
            for m in matches:
                start, end = m.span("value") if has_value else m.span()
                specific.append(Finding(start, end, entity, 1.0))
        # A provider format beats the heuristic: `token = "ghp_..."` is a
        # GitHub token, not a generic password.
        findings = specific + [
            g for g in generic if not any(g.start < s.end and s.start < g.end for s in specific)
        ]
        findings.sort(key=lambda f: (f.start, f.end, f.entity))
        return findings


def _gate(text: str, gate: str, memo: dict[str, bool]) -> bool:
    hit = memo.get(gate)
    if hit is None:
        hit = memo[gate] = gate in text
    return hit


def _matches(kind: _Kind, text: str, haystack: str) -> Iterator[regex.Match[str]]:
    """Non-overlapping matches of ``kind``, tried only where a trigger occurs."""
    if len(haystack) != len(text):
        # Lower-casing changed the length (e.g. "İ"), so offsets in the
        # lowered text are not offsets in ``text``: scan the plain way.
        yield from kind.pattern.finditer(text)
        return
    positions: list[int] = []
    for trigger in kind.triggers:
        at = haystack.find(trigger)
        while at >= 0:
            positions.append(at)
            at = haystack.find(trigger, at + 1)
    if not positions:
        return
    positions.sort()
    covered = 0
    near = kind.near
    for at in positions:
        if at < covered:
            continue  # inside the previous match, as finditer would skip it
        if near:
            window = haystack[at : at + _NEAR]
            if not any(n in window for n in near):
                continue
        m = kind.pattern.match(text, at)
        if m is not None:
            covered = m.end()
            yield m

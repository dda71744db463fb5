"""A policy's PII options: its allow-lists and its mode.

An allow-list names values of one entity type that are not personal data
for this policy (a company's own support address, its switchboard number):
a finding whose text is allowed is dropped before any rule sees it, so
``pii()`` does not fire on it and ``redact`` leaves it in place. Entries are
literal values, domains (``EMAIL_ADDRESS`` and ``URL`` only) and regexes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from guardrails.detectors.base import DetectorError, Finding
from guardrails.detectors.regexes import SafeRegex

__all__ = ["DEFAULT_OPTIONS", "DOMAIN_ENTITIES", "MODES", "AllowEntry", "AllowList", "PiiOptions", "valid_domain"]

#: Entity types whose values have a domain an allow-list can name.
DOMAIN_ENTITIES = frozenset({"EMAIL_ADDRESS", "URL"})
#: The values of the ``pii_mode`` setting; the first is the default.
MODES = ("default", "strict")

_SEPARATORS = re.compile(r"[\s\-.()/]+")
_DOMAIN = re.compile(r"(?i)^(?!-)[a-z0-9\-]{1,63}(?<!-)(?:\.(?!-)[a-z0-9\-]{1,63}(?<!-))+$")


def valid_domain(domain: str) -> bool:
    """Whether ``domain`` is a host name of two labels or more (``acme.test``)."""
    return len(domain) <= 253 and _DOMAIN.match(domain) is not None


@dataclass(frozen=True, slots=True)
class AllowEntry:
    """One allowed value: ``kind`` is ``"value"``, ``"domain"`` or ``"regex"``;
    ``flags`` are a regex's flag letters."""

    kind: str
    value: str
    flags: str = ""


def _loose(entity: str, text: str) -> str:
    # Numbers are written with and without separators (`+1 555 0100`,
    # `+1-555-0100`); addresses are not, where a dot is part of the value.
    text = text.strip().casefold()
    return text if entity in DOMAIN_ENTITIES else _SEPARATORS.sub("", text)


def _host(entity: str, text: str) -> str:
    text = text.strip().casefold()
    if entity == "EMAIL_ADDRESS":
        return text.rpartition("@")[2]
    host = text.split("://", 1)[-1]
    return re.split(r"[/?#:]", host, maxsplit=1)[0].rstrip(".")


@dataclass(frozen=True, slots=True)
class _Compiled:
    values: frozenset[str]
    domains: tuple[str, ...]
    regexes: tuple[SafeRegex, ...]


@dataclass(frozen=True, slots=True)
class AllowList:
    """Allowed values per entity type, compiled once when built."""

    entries: tuple[tuple[str, tuple[AllowEntry, ...]], ...] = ()
    _compiled: dict[str, _Compiled] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, pairs: Iterable[tuple[str, AllowEntry]], timeout_s: float | None = None) -> AllowList:
        """From ``(entity, entry)`` pairs, in any order. Regexes must have been
        checked (the policy checker reports bad ones as ``E401``); each search
        is bounded by ``timeout_s`` (the regexes' default when None)."""
        bound = {} if timeout_s is None else {"timeout_s": timeout_s}
        by_entity: dict[str, list[AllowEntry]] = {}
        for entity, entry in pairs:
            if entry not in by_entity.setdefault(entity, []):
                by_entity[entity].append(entry)
        entries = tuple((e, tuple(by_entity[e])) for e in sorted(by_entity))
        compiled = {
            e: _Compiled(
                frozenset(_loose(e, x.value) for x in xs if x.kind == "value"),
                tuple(x.value.casefold().strip(".") for x in xs if x.kind == "domain"),
                tuple(SafeRegex.compile(x.value, x.flags, **bound) for x in xs if x.kind == "regex"),
            )
            for e, xs in entries
        }
        return cls(entries, compiled)

    def __bool__(self) -> bool:
        return bool(self.entries)

    def allows(self, entity: str, value: str) -> bool:
        """Whether a finding of ``entity`` whose text is ``value`` is allowed.

        A literal matches the whole value, ignoring case (and, except for
        emails and URLs, spaces, dashes, dots, slashes and parentheses); a
        domain matches itself and its subdomains; a regex is searched in the
        value. A regex that runs out of time allows nothing.
        """
        c = self._compiled.get(entity)
        if c is None:
            return False
        if c.values and _loose(entity, value) in c.values:
            return True
        if c.domains and entity in DOMAIN_ENTITIES:
            host = _host(entity, value)
            if any(host == d or host.endswith("." + d) for d in c.domains):
                return True
        for rx in c.regexes:
            try:
                if rx.search(value):
                    return True
            except DetectorError:  # timed out: the finding stays, as if not allowed
                continue
        return False

    def keep(self, text: str, findings: list[Finding]) -> list[Finding]:
        """``findings`` without the allowed ones, nor any finding inside an
        allowed one (the URL Presidio finds in an allowed address's domain):
        an allowed value is left alone whole."""
        if not self._compiled:
            return findings
        allowed = [(f.start, f.end) for f in findings if self.allows(f.entity, text[f.start:f.end])]
        if not allowed:
            return findings
        return [f for f in findings if not any(a <= f.start and f.end <= b for a, b in allowed)]


@dataclass(frozen=True, slots=True)
class PiiOptions:
    """What one policy asks of the PII detector beyond the entity types."""

    mode: str = "default"
    allow: AllowList = AllowList()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"pii_mode must be one of {', '.join(MODES)}, not {self.mode!r}")

    @property
    def strict(self) -> bool:
        return self.mode == "strict"

    @property
    def key(self) -> str:
        """A short text naming these options, for caches keyed by text."""
        if not self.allow and not self.strict:
            return ""
        h = hashlib.sha256(repr((self.mode, self.allow.entries)).encode())
        return f"{self.mode}:{h.hexdigest()[:16]}"


DEFAULT_OPTIONS = PiiOptions()

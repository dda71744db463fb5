"""The harness's own corpora: versioned data files under ``corpus/redteam/``.

``carriers.yaml`` (sentences a payload is set in), ``injection.yaml``
(attack phrasings, frames, encodings, hiding places), ``secrets.yaml``
(secret formats and layouts), ``pii.yaml`` (PII formats) and ``benign.txt``
(hard negatives), plus ``corpus/benign/terms.txt`` beside them when present.
``corpus/redteam/README.md`` describes each file. Loading checks every field
the generators read, so a broken file fails here with its name and the
entry, not as a traceback in the middle of a run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Corpus", "CorpusError", "PiiFormat", "SecretFormat", "default_corpus_dir", "load_corpus"]

FILES = ("carriers.yaml", "injection.yaml", "secrets.yaml", "pii.yaml", "benign.txt")
LAYOUTS = ("env", "json", "yaml", "csv", "uri", "header", "prose")


class CorpusError(ValueError):
    """A corpus file is missing or malformed; the message names it."""


@dataclass(frozen=True, slots=True)
class SecretFormat:
    kind: str
    label: str  # the layout, or the name for a listed format
    template: str  # with {value}, {name}, {NAME} already filled in: only generators remain
    listed: bool = False


@dataclass(frozen=True, slots=True)
class PiiFormat:
    entity: str
    label: str
    value: str
    group: tuple[int, ...] = ()
    sep: str = ""
    text: str = "{}"
    upper: bool = False
    lower: bool = False


@dataclass(frozen=True, slots=True)
class Corpus:
    path: str
    digest: str  # sha256 of every file read, so a report names the data it ran on
    carriers: tuple[str, ...]
    injection: dict[str, Any]
    secrets: tuple[SecretFormat, ...]
    pii_carriers: tuple[str, ...]
    pii_names: dict[str, tuple[str, ...]]
    pii_areas: tuple[str, ...]
    pii: tuple[PiiFormat, ...]
    benign: tuple[tuple[str, str], ...]  # (section, text)


def default_corpus_dir() -> Path | None:
    """Where the corpus is: inside an installed package (``guardrails/_corpus``),
    else in the source checkout beside the package."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "_corpus" / "redteam", here.parent.parent / "corpus" / "redteam"):
        if (candidate / "carriers.yaml").is_file():
            return candidate
    return None


def _strings(value: Any, where: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise CorpusError(f"{where}: expected a non-empty list of strings")
    if not allow_empty and any(not v.strip() for v in value):
        raise CorpusError(f"{where}: holds an empty string")
    return tuple(value)


def _placeholder(items: tuple[str, ...], where: str) -> tuple[str, ...]:
    for i, item in enumerate(items):
        if "{}" not in item:
            raise CorpusError(f"{where}[{i}]: has no {{}} for the payload: {item[:60]!r}")
    return items


def _yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise CorpusError(f"{path}: expected a mapping at the top")
    return data


def _injection(data: dict[str, Any], where: str) -> dict[str, Any]:
    slots = data.get("slots")
    if not isinstance(slots, dict):
        raise CorpusError(f"{where}: slots: expected a mapping of slot name to values")
    enc = data.get("encodings")
    if not isinstance(enc, dict) or not isinstance(enc.get("hints"), dict):
        raise CorpusError(f"{where}: encodings: expected payloads and hints")
    hints = {k: _placeholder(_strings(enc["hints"].get(k), f"{where}: encodings.hints.{k}"),
                             f"{where}: encodings.hints.{k}") for k in ("base64", "rot13")}
    return {
        "core": _strings(data.get("core"), f"{where}: core"),
        "phrasings": _strings(data.get("phrasings"), f"{where}: phrasings"),
        "frames": _strings(data.get("frames"), f"{where}: frames"),
        "slots": {k: _strings([str(x) for x in v] if isinstance(v, list) else v, f"{where}: slots.{k}",
                              allow_empty=True) for k, v in slots.items()},
        "payloads": _strings(enc.get("payloads"), f"{where}: encodings.payloads"),
        "hints": hints,
        "carriers": _placeholder(_strings(data.get("carriers"), f"{where}: carriers"), f"{where}: carriers"),
    }


def _fill(template: str, layout: str, value: str, name: str) -> str:
    """A layout's text with the format's value and name in it; the value is
    marked as what must not survive unless the format marks a part of it."""
    if "[[" not in value and "[[" not in template:
        value = f"[[{value}]]"
    if layout == "json":
        value = json.dumps(value)[1:-1]  # a PEM block's line breaks become \n, as in a real file
    elif layout == "yaml" and "\n" in value:
        value = "|\n" + "\n".join("    " + line for line in value.split("\n"))
    return template.replace("{value}", value).replace("{NAME}", name.upper()).replace("{name}", name)


def _secrets(data: dict[str, Any], where: str, kinds: frozenset[str]) -> tuple[SecretFormat, ...]:
    layouts = data.get("layouts")
    if not isinstance(layouts, dict) or set(layouts) != set(LAYOUTS):
        raise CorpusError(f"{where}: layouts: expected exactly {', '.join(LAYOUTS)}")
    out: list[SecretFormat] = []
    for i, f in enumerate(data.get("formats") or ()):
        here = f"{where}: formats[{i}]"
        if not isinstance(f, dict) or not all(isinstance(f.get(k), str) for k in ("kind", "name", "value")):
            raise CorpusError(f"{here}: needs kind, name and value")
        if f["kind"] not in kinds:
            raise CorpusError(f"{here}: unknown secret kind {f['kind']!r}")
        own = f.get("layouts") or {}
        if not isinstance(own, dict) or set(own) - set(LAYOUTS):
            raise CorpusError(f"{here}: layouts: only {', '.join(LAYOUTS)}")
        suffix = f" ({f['label']})" if f.get("label") else ""
        for layout in LAYOUTS:
            template = own.get(layout, layouts[layout])
            if template is None:
                continue  # the layout does not fit this format
            out.append(SecretFormat(f["kind"], f"{layout}{suffix}", _fill(template, layout, f["value"], f["name"])))
    for i, f in enumerate(data.get("listed") or ()):
        here = f"{where}: listed[{i}]"
        if not isinstance(f, dict) or not all(isinstance(f.get(k), str) for k in ("kind", "label", "text")):
            raise CorpusError(f"{here}: needs kind, label and text")
        if f["kind"] not in kinds:
            raise CorpusError(f"{here}: unknown secret kind {f['kind']!r}")
        out.append(SecretFormat(f["kind"], f["label"], f["text"], listed=True))
    if not out:
        raise CorpusError(f"{where}: no formats")
    return tuple(out)


def _pii(data: dict[str, Any], where: str) -> tuple[PiiFormat, ...]:
    formats = data.get("formats")
    if not isinstance(formats, dict) or not formats:
        raise CorpusError(f"{where}: formats: expected a mapping of entity type to formats")
    out = []
    for entity, rows in formats.items():
        for i, row in enumerate(rows or ()):
            here = f"{where}: formats.{entity}[{i}]"
            if not isinstance(row, dict) or not isinstance(row.get("format"), str) or not isinstance(
                    row.get("value"), str):
                raise CorpusError(f"{here}: needs format and value")
            group = row.get("group") or []
            if not isinstance(group, list) or not all(isinstance(g, int) and g > 0 for g in group):
                raise CorpusError(f"{here}: group: expected a list of positive integers")
            text = row.get("text", "{}")
            if "{}" not in text:
                raise CorpusError(f"{here}: text has no {{}} for the value")
            out.append(PiiFormat(entity, row["format"], row["value"], tuple(group), str(row.get("sep", "")), text,
                                 bool(row.get("upper")), bool(row.get("lower"))))
    return tuple(out)


def _benign(path: Path) -> list[tuple[str, str]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: cannot read it: {exc}") from None
    section = "terms" if path.name == "terms.txt" else "general"
    out = []
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("[") and line.rstrip().endswith("]"):
            section = line.strip()[1:-1]
            continue
        out.append((section, line))
    return out


def load_corpus(directory: str | Path | None = None) -> Corpus:
    """Read and check the corpus in ``directory`` (default: :func:`default_corpus_dir`)."""
    from guardrails.detectors import SECRET_KINDS

    if directory is None:
        directory = default_corpus_dir()
        if directory is None:
            raise CorpusError("the red-team corpus is not installed with this package; "
                              "pass --corpus DIR (corpus/redteam in the source tree)")
    root = Path(directory)
    if not root.is_dir():
        raise CorpusError(f"{root}: no such directory")
    missing = [f for f in FILES if not (root / f).is_file()]
    if missing:
        raise CorpusError(f"{root}: missing {', '.join(missing)}")
    terms = root.parent / "benign" / "terms.txt"
    read = [root / f for f in FILES] + ([terms] if terms.is_file() else [])
    h = hashlib.sha256()
    for p in read:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    carriers = _yaml(root / "carriers.yaml")
    pii = _yaml(root / "pii.yaml")
    names = pii.get("names")
    if not isinstance(names, dict) or set(names) != {"first", "last", "word", "domain"}:
        raise CorpusError(f"{root / 'pii.yaml'}: names: expected first, last, word and domain lists")
    benign = _benign(root / "benign.txt") + (_benign(terms) if terms.is_file() else [])
    return Corpus(
        path=str(root),
        digest=h.hexdigest(),
        carriers=_placeholder(_strings(carriers.get("text"), f"{root / 'carriers.yaml'}: text"),
                              f"{root / 'carriers.yaml'}: text"),
        injection=_injection(_yaml(root / "injection.yaml"), str(root / "injection.yaml")),
        secrets=_secrets(_yaml(root / "secrets.yaml"), str(root / "secrets.yaml"), frozenset(SECRET_KINDS)),
        pii_carriers=_placeholder(_strings(pii.get("carriers"), f"{root / 'pii.yaml'}: carriers"),
                                  f"{root / 'pii.yaml'}: carriers"),
        pii_names={k: _strings(v, f"{root / 'pii.yaml'}: names.{k}") for k, v in names.items()},
        pii_areas=tuple(str(a) for a in pii.get("areas") or ("212",)),
        pii=_pii(pii, str(root / "pii.yaml")),
        benign=tuple(benign),
    )

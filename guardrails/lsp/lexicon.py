"""The words of a policy's text, for an editor: tokens and keywords.

The editor asks about text that is often broken mid-edit, so this reads
tokens with a scanner of its own (the grammar's terminals, written again as
one regex) instead of the parser, which needs a whole statement. The
keywords are read from the grammar file itself, so a new keyword reaches
completion and the TextMate test without a second list to keep.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from guardrails.parser import grammar_path

#: The token kinds, in the order the scanner tries them: a comment or a
#: string swallows what looks like a name inside it.
_TOKEN = re.compile(
    r"""
    (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"?)
  | (?P<regex>/(?:[^/\\\n]|\\.)+/[A-Za-z]*)
  | (?P<number>-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_\-]*)
  | (?P<op>==|!=|<=|>=|[<>=.,:()\[\]{}])
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

#: What a name may be made of (the grammar's NAME terminal).
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # comment | string | regex | number | name | op | other
    text: str
    start: int  # offsets into the text
    end: int


def tokens(text: str) -> list[Token]:
    """Every token but white space, in order."""
    out = []
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "other"
        if kind != "space":
            out.append(Token(kind, m.group(), m.start(), m.end()))
    return out


def token_at(toks: list[Token], offset: int) -> Token | None:
    """The token under the cursor: one that holds `offset`, or ends at it
    (the cursor just after a word still points at the word)."""
    for t in toks:
        if t.start <= offset < t.end:
            return t
        if t.end == offset and t.kind == "name":
            return t
        if t.start > offset:
            break
    return None


def before(toks: list[Token], offset: int) -> list[Token]:
    """The tokens that end at or before `offset`, comments left out."""
    return [t for t in toks if t.end <= offset and t.kind != "comment"]


def dotted_before(toks: list[Token], index: int) -> list[str] | None:
    """The names of ``a.b.c`` ending at ``toks[index]`` (a name), or None
    when the token there is not one."""
    parts: list[str] = []
    i = index
    while i >= 0 and toks[i].kind == "name":
        parts.append(toks[i].text)
        if i >= 1 and toks[i - 1].text == ".":
            i -= 2
            continue
        break
    return list(reversed(parts)) or None


@lru_cache(maxsize=1)
def keywords() -> tuple[str, ...]:
    """Every word the grammar spells out (``"policy"``, ``"rule"``, ...), sorted."""
    grammar = grammar_path().read_text(encoding="utf-8")
    # Only the rules' bodies: the lines of comments would add English words.
    body = "\n".join(line for line in grammar.splitlines() if not line.lstrip().startswith("//"))
    return tuple(sorted(set(re.findall(r'"([A-Za-z_]+)"', body))))


__all__ = ["NAME", "Token", "before", "dotted_before", "keywords", "token_at", "tokens"]

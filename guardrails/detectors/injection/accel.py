"""An optional compiled matcher: where each phrase pattern can start, in one pass.

When the ``hyperscan`` package is installed (``pip install guardlang[fast]``;
x86-64 only), :func:`starts` answers, for a registered pattern and a text, a
sorted list of the positions where a match of the pattern may start: every
pattern of :mod:`.phrases` that :func:`.triggers.finditer` runs, compiled
together into one Hyperscan database and run over the text once. Without the
package (or for a pattern Hyperscan cannot compile) it answers None and the
pure-Python path, the reference, does all the work.

The answer is a superset of the true starts, never a subset, so it can only
skip ``pattern.match`` calls that would have failed; the decisions are the
same bit for bit with or without it (``tests/detectors/test_injection_accel.py``
runs both ways over the corpora and generated text). Three steps keep it so:

* Hyperscan reports where matches END, every end of every match. A pattern is
  compiled REVERSED and run over the reversed text, so its ends there are the
  starts here.
* What Hyperscan lacks or reads otherwise is widened, never narrowed: look-
  arounds, ``\\b``, ``^`` and ``$`` are dropped (each only removes matches);
  ``\\w``, ``\\s``, ``\\d`` become their ASCII set plus every non-ASCII
  character (Python's are Unicode, Hyperscan's outside UCP mode ASCII, and
  UCP mode has no ``\\b``); inside a negated set they become their ASCII set
  alone, whose complement is then the wider one.
* The database reads one byte per character, a non-ASCII one folded to 0x80
  plus its low seven bits, in text and patterns alike (``_byte``); a negated
  set keeps only its ASCII members, so a fold never removes a match.

``pattern.match(t, p)`` reads the whole string, not ``t[p:]``, which is what
the reversed scan of the whole text sees too; a search bounded by ``endpos``
sees a shorter string and is not accelerated (:mod:`.triggers` keeps those).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable

__all__ = ["available", "prepare", "register", "set_enabled", "starts", "translate"]

try:  # the stdlib's regex parser, as in .triggers
    from re import _constants as _sre
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover - Python < 3.11
    try:
        import sre_constants as _sre  # type: ignore[no-redef]
        import sre_parse as _sre_parse  # type: ignore[no-redef]
    except ImportError:
        _sre = _sre_parse = None  # type: ignore[assignment]

try:
    import hyperscan as _hs
except Exception:  # noqa: BLE001 - absent, or a wheel that does not load here: the reference path
    _hs = None


class _Unsupported(Exception):
    """A construct the translation does not widen safely (a back-reference, a flag)."""


# The database reads one byte per character: an ASCII character as itself, any
# other as 0x80 plus its low seven bits (``_bytes_of``). Folding many characters
# into one byte only adds matches; it also keeps Hyperscan out of its UTF-8
# mode, where a pattern of this module once missed a match it should report.
_NON_ASCII = r"\x80-\xff"
# (wider: the ASCII set plus every non-ASCII character; narrower: the ASCII set alone)
_CATEGORY_SETS = {
    "CATEGORY_WORD": ("0-9A-Za-z_" + _NON_ASCII, "0-9A-Za-z_"),
    "CATEGORY_SPACE": (r"\x09-\x0d\x1c-\x20" + _NON_ASCII, r"\x09-\x0d\x1c-\x20"),
    "CATEGORY_DIGIT": ("0-9" + _NON_ASCII, "0-9"),
}
_NEGATED = {"CATEGORY_NOT_WORD": "CATEGORY_WORD", "CATEGORY_NOT_SPACE": "CATEGORY_SPACE",
            "CATEGORY_NOT_DIGIT": "CATEGORY_DIGIT"}


def _byte(code: int) -> int:
    return code if code < 0x80 else 0x80 | (code & 0x7F)


def _char(code: int) -> str:
    """One character of a pattern, as the byte it is folded to."""
    b = _byte(code)
    return chr(b) if chr(b).isascii() and chr(b).isalnum() else f"\\x{b:02x}"


def _category(av: object, negated_set: bool) -> tuple[str, bool]:
    """A category as set items, and whether they are to be complemented."""
    name = str(av)
    if name in _CATEGORY_SETS:
        wide, narrow = _CATEGORY_SETS[name]
        return (narrow if negated_set else wide), False
    if name in _NEGATED:
        # \W is not-\w: the complement of \w's narrow set is the wider one
        wide, narrow = _CATEGORY_SETS[_NEGATED[name]]
        return (wide if negated_set else narrow), True
    raise _Unsupported(name)


def _range(lo: int, hi: int, negated_set: bool) -> str:
    """A range of characters as set items. In a negated set only its ASCII part
    is kept (the complement grows); elsewhere its non-ASCII part is folded."""
    out = ""
    if lo < 0x80:
        out += _char(lo) + "-" + _char(min(hi, 0x7F))
    if hi >= 0x80 and not negated_set:
        lo = max(lo, 0x80)
        if hi - lo >= 0x7F:
            out += _NON_ASCII
        else:
            out += "".join(_char(c) for c in range(lo, hi + 1))
    return out


def _set(items: list) -> str:
    negate = bool(items) and items[0][0] is _sre.NEGATE
    if negate:
        items = items[1:]
    plain: list[str] = []
    complemented: list[str] = []
    for op, av in items:
        if op is _sre.LITERAL:
            if not (negate and av >= 0x80):  # a folded byte stands for other characters too
                plain.append(_char(av))
        elif op is _sre.RANGE:
            plain.append(_range(av[0], av[1], negate))
        elif op is _sre.CATEGORY:
            body, comp = _category(av, negate)
            (complemented if comp else plain).append(body)
        else:
            raise _Unsupported(str(op))
    if complemented:
        if negate or plain or len(complemented) > 1:
            raise _Unsupported("a negated category inside a set")
        return "[^" + complemented[0] + "]"
    body = "".join(plain)
    if negate:
        return "[^" + body + "]" if body else r"[\x00-\xff]"
    return "[" + body + "]" if body else "(?!)"


def _emit(items: Iterable, reverse: bool) -> str:
    """Hyperscan syntax for a parsed sequence, widened (see the module docstring)."""
    parts: list[str] = []
    for op, av in items:
        if op is _sre.LITERAL:
            parts.append(_char(av))
        elif op is _sre.NOT_LITERAL:
            parts.append(("[^" + _char(av) + "]") if av < 0x80 else r"[\x00-\xff]")
        elif op is _sre.IN:
            parts.append(_set(list(av)))
        elif op is _sre.ANY:
            parts.append(".")  # neither side has DOTALL: any character but a newline
        elif op is _sre.CATEGORY:
            body, comp = _category(av, False)
            parts.append(("[^" if comp else "[") + body + "]")
        elif op in (_sre.AT, _sre.ASSERT, _sre.ASSERT_NOT):
            continue  # zero width: dropping it only adds matches
        elif op is _sre.SUBPATTERN:
            if av[1] or av[2]:  # (?i:...) and the like
                raise _Unsupported("inline flags")
            parts.append("(?:" + _emit(av[-1], reverse) + ")")
        elif op is _sre.BRANCH:
            parts.append("(?:" + "|".join(_emit(alt, reverse) for alt in av[1]) + ")")
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT) or op is getattr(_sre, "POSSESSIVE_REPEAT", None):
            low, high, sub = av
            body = "(?:" + _emit(sub, reverse) + ")"
            top = "" if high is _sre.MAXREPEAT or high == _sre.MAXREPEAT else str(high)
            parts.append(f"{body}{{{low},{top}}}")
        else:  # a back-reference, a conditional, an atomic group
            raise _Unsupported(str(op))
    if reverse:
        parts.reverse()
    return "".join(parts)


def translate(pattern: re.Pattern[str], reverse: bool = True) -> str:
    """``pattern`` in Hyperscan's syntax, widened, reversed unless told otherwise.
    Raises ``ValueError`` for what cannot be translated safely."""
    if _sre_parse is None:
        raise ValueError("no regex parser")
    if not isinstance(pattern.pattern, str) or pattern.flags & (re.IGNORECASE | re.MULTILINE | re.DOTALL
                                                               | re.VERBOSE | re.ASCII):
        raise ValueError("only str patterns without flags are translated")
    parsed = _sre_parse.parse(pattern.pattern, pattern.flags)
    if parsed.getwidth()[0] == 0:  # (the callers count on a match never being empty)
        raise ValueError("a pattern that can match the empty string")
    try:
        return _emit(parsed, reverse)
    except _Unsupported as exc:
        raise ValueError(f"unsupported: {exc}") from None


class _Registry:
    """The registered patterns and, once compiled, their database."""

    def __init__(self) -> None:
        self.patterns: list[re.Pattern[str]] = []
        self.ids: dict[int, int] = {}  # id(pattern) -> index in the database
        self.db = None
        self.scratch = None
        self.compiled = False
        self.enabled = _hs is not None
        self.lock = threading.Lock()  # guards thread
        self.compile_lock = threading.Lock()  # guards compiling
        self.thread: threading.Thread | None = None

    def forked(self) -> None:
        """In a child process: a compile under way in the parent did not come along."""
        self.lock, self.compile_lock = threading.Lock(), threading.Lock()
        if not self.compiled:
            self.thread = None

    def compile(self) -> None:
        with self.compile_lock:
            if self.compiled:
                return
            kept: list[tuple[re.Pattern[str], bytes]] = []
            for pattern in self.patterns:
                try:
                    kept.append((pattern, translate(pattern).encode()))
                except ValueError:
                    continue  # this pattern stays on the reference path
            try:
                self.db = _database([e for _, e in kept])
            except Exception:  # noqa: BLE001 - find the patterns Hyperscan refuses, keep the rest
                kept = [(p, e) for p, e in kept if _compiles(e)]
                self.db = _database([e for _, e in kept]) if kept else None
            self.ids = {id(p): k for k, (p, _) in enumerate(kept)}
            self.compiled = True


def _database(expressions: list[bytes]):
    db = _hs.Database()
    db.compile(expressions=expressions, ids=list(range(len(expressions))), elements=len(expressions),
               flags=[_FLAGS] * len(expressions))
    return db


def _compiles(expression: bytes) -> bool:
    try:
        _database([expression])
    except Exception:  # noqa: BLE001 - hyperscan.error, whatever its message
        return False
    return True


_FLAGS = _hs.HS_FLAG_ALLOWEMPTY if _hs is not None else 0
_REG = _Registry()
if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_REG.forked)


def available() -> bool:
    """Whether the compiled matcher is installed and switched on."""
    return _hs is not None and _REG.enabled


def prepare(wait: bool = False) -> None:
    """Start compiling the database (about a second of CPU, once per process)
    in a background thread; ``wait`` blocks until it is ready. The detector
    calls it when a policy is loaded: a CLI run or a request meanwhile takes
    the pure-Python path, with the same results (Hyperscan's compiler
    releases the GIL, so the thread does not stall the interpreter)."""
    reg = _REG
    if not reg.enabled or reg.compiled:
        return
    with reg.lock:
        if reg.thread is None:
            reg.thread = threading.Thread(target=reg.compile, name="guardrails-injection-accel", daemon=True)
            reg.thread.start()
        thread = reg.thread
    if wait:
        thread.join()


def set_enabled(on: bool) -> None:
    """Switch the compiled matcher on or off (tests compare both paths)."""
    _REG.enabled = bool(on) and _hs is not None
    _FOUND.texts = []


def register(patterns: Iterable[re.Pattern[str]]) -> None:
    """Patterns :func:`starts` is to answer for; call before :func:`prepare`
    (the database is compiled once, with what is registered then)."""
    for p in patterns:
        if p not in _REG.patterns:
            if _REG.compiled:
                raise RuntimeError("patterns are registered before the first scan")
            _REG.patterns.append(p)


class _Found(threading.local):
    """The starts found in the last few texts (per thread), by text identity."""

    def __init__(self) -> None:
        self.texts: list[tuple[str, dict[int, list[int]] | None]] = []


_FOUND = _Found()
_FOUND_TEXTS = 4


def _scan(t: str) -> dict[int, list[int]] | None:
    reg = _REG
    if reg.db is None:
        return None
    data = _bytes_of(t[::-1])
    ends: dict[int, list[int]] = {}

    def on_match(k: int, _from: int, to: int, _flags: int, _ctx: object) -> None:
        found = ends.get(k)
        if found is None:
            ends[k] = [to]
        else:
            found.append(to)

    if reg.scratch is None:
        reg.scratch = _hs.Scratch(reg.db)
    scratch = getattr(_FOUND, "scratch", None)
    if scratch is None:  # one scratch space per thread
        scratch = _FOUND.scratch = reg.scratch.clone()
    reg.db.scan(data, match_event_handler=on_match, scratch=scratch)
    n = len(t)
    return {k: sorted(n - e for e in es) for k, es in ends.items()}


def _bytes_of(t: str) -> bytes:
    """``t`` one byte per character, folded as the patterns are (see ``_byte``)."""
    if t.isascii():
        return t.encode("ascii")
    import numpy as np

    codes = np.frombuffer(t.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    return np.where(codes < 0x80, codes, 0x80 | (codes & 0x7F)).astype(np.uint8).tobytes()


_EMPTY: list[int] = []


def starts(pattern: re.Pattern[str], t: str) -> list[int] | None:
    """Sorted positions in ``t`` where a match of ``pattern`` may start (a
    superset of those where ``pattern.match(t, p)`` succeeds), or None when the
    compiled matcher cannot answer for this pattern or text."""
    reg = _REG
    if not reg.enabled or not reg.compiled:  # (not yet: see prepare)
        return None
    k = reg.ids.get(id(pattern))
    if k is None:
        return None
    texts = _FOUND.texts
    for known, found in texts:
        if known is t:
            break
    else:
        found = _scan(t)
        texts.insert(0, (t, found))
        del texts[_FOUND_TEXTS:]
    if found is None:
        return None
    return found.get(k, _EMPTY)

"""A hand-written parser for clean policy text: the fast path of :func:`guardrails.parser.parse`.

Lark's LALR parser with ``propagate_positions`` and the tree-to-AST pass cost
about 0.6 ms a rule, so a 10,000-rule policy took seconds to read. This
module tokenises with one regex and builds the AST directly by recursive
descent, in one pass. It gives up (returns ``None``) on anything it is not
sure to read exactly as Lark would: a syntax error, any text that would
raise a diagnostic (a bad escape, an invalid header, a float index), deep
nesting, a keyword used as a name where Lark's contextual lexer would take
it as a name, and the constructs it does not cover (topics, schemas,
allow-lists). Lark then parses the text as before, so every diagnostic and
recovery stays Lark's.

Spans follow Lark's ``propagate_positions`` rule: a node runs from the first
to the last token of its subtree, counting keywords and punctuation, and a
parenthesised expression keeps its own span while its parent's span reaches
out to the parentheses. tests/test_fastparse.py compares every node's span
with Lark's on the repository's policies and on generated ones.

Why one module: it is one recursive-descent parser, a method per grammar
rule calling the others; split, the grammar it mirrors would be in pieces.
"""

from __future__ import annotations

import dataclasses
import json
import re

from guardrails import ast
from guardrails.diagnostics import Span

# Each match is the blanks before a token, and the token: a comment, a name,
# a string, a number, a regex, an operator, a newline, or a character that
# starts no token. Every character but blanks at the very end is in some
# match, so offsets are the running sum of the matches' lengths (findall,
# one C call, gives them as pairs of strings). No token spans a line
# (strings, regexes and comments stop at a newline), so a position is
# (line, column) from the start of the current line. The alternatives are
# tried in this order; _kind then reads which one matched from the token.
_TOKEN = re.compile(
    r"([ \t\f\r]*)(#[^\n]*"
    r"|[A-Za-z_][A-Za-z0-9_\-]*"
    r'|"(?:[^"\\\n]|\\.)*"'
    r"|-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?"
    r"|/(?:[^/\\\n]|\\.)+/[A-Za-z]*"
    r"|==|!=|<=|>=|\.\.\.|[<>=\[\](){},:.|?]"
    r"|\n|[^ \t\f\r\n])"
)
_OPS = frozenset(("==", "!=", "<=", ">=", "...", *"<>=[](){},:.|?"))
#: A token's kind by its first character, where that alone decides it.
_FIRST: dict[str, str] = {
    **{c: "name" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"},
    **{c: "number" for c in "0123456789"},
    **{c: "op" for c in "<>=[](){},:|?"},
    "\n": "newline", "#": "comment",
}


def _kind(tok: str) -> str:
    """The kind of a token whose first character does not decide it: a
    string or a regex is longer than its opening quote or slash, and a
    number starting with '-' or '.' longer than that character (and not
    '...'); what is left starts no token."""
    c = tok[0]
    if len(tok) > 1:
        if c == '"':
            return "string"
        if c == "/":
            return "regex"
        if c == "-" or (c == "." and tok != "..."):
            return "number"
    return "op" if tok in _OPS else "bad"


_EMITTED = frozenset(("name", "op", "string", "number", "regex"))  # the kinds a token list holds
_BLANKS = re.compile(r"[ \t\f\r]*")
_SURROGATE = re.compile("[\ud800-\udfff]")
_PLAIN_STRING = re.compile(r'"[^"\\\x00-\x1f\ud800-\udfff]*"')  # needs no json.loads
_SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?")
_POLICY_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
_CMP = frozenset({"==", "!=", "<", "<=", ">", ">="})
_CONSTANTS = {"true": True, "false": False, "null": None}
_STR_TESTS = frozenset({"contains", "starts_with", "ends_with"})
# Words that are keywords in some parser state next to an operand: where one
# of them stands as a name, Lark's contextual lexer decides by its state,
# which this parser does not model, so it hands the text back.
_RESERVED = frozenset({
    "and", "or", "not", "in", "matches", "contains", "starts_with", "ends_with", "has", "when", "unless",
    "rule", "true", "false", "null",
})
_STAGES = frozenset({"input", "output", "retrieval", "tool_call", "tool_result"})
#: Deeper expressions go to Lark, whose driver reports E004 past MAX_NESTING
#: (64). The count here is an upper bound of Lark's tree depth below a rule:
#: three levels for each `or`/`and`/test, one for each `not`, call, attribute,
#: index and leaf, leaving room for the rule's own trees.
_MAX_DEPTH = 48


class _GiveUp(Exception):
    """The text is not one this parser reads with certainty."""


#: A token: (kind, text, start offset, end offset, line, column, end column).
#: Kinds are name, string, number, regex, op and end; a plain tuple is
#: cheapest to build.
Tok = tuple


def tokenize(text: str) -> tuple[list[Tok], list[tuple[int, int, str, int]]]:
    """Tokens and comments (line, col, text, offset); raises _GiveUp on a character no token starts with."""
    toks: list[Tok] = []
    comments: list[tuple[int, int, str, int]] = []
    append = toks.append
    first, kind_of, emitted = _FIRST.get, _kind, _EMITTED
    lineno, bol, end = 1, 0, 0  # bol: the offset where the current line begins
    for blanks, tok in _TOKEN.findall(text):
        start = end + len(blanks)
        end = start + len(tok)
        kind = first(tok[0]) or kind_of(tok)
        if kind in emitted:
            append((kind, tok, start, end, lineno, start - bol + 1, end - bol + 1))
        elif kind == "newline":
            lineno, bol = lineno + 1, end
        elif kind == "comment":
            comments.append((lineno, start - bol + 1, tok, start))
        else:
            raise _GiveUp  # a character that starts no token
    if end != len(text) and _BLANKS.fullmatch(text, end) is None:
        raise _GiveUp
    col = len(text) - bol + 1
    append(("end", "", len(text), len(text), lineno, col, col))
    return toks, comments


_SPAN_FIELDS = ("file", "line", "col", "end_line", "end_col", "start", "end")


def _draft(cls, names: tuple[str, ...]):
    """A subclass of `cls` whose instances take plain attribute stores, or
    None when `cls` is not a slots class whose fields are exactly `names`
    (or has a __post_init__).

    A frozen dataclass's ``__init__`` sets each field through
    ``object.__setattr__`` (ast.py's nodes write theirs out the same way); a
    10,000-rule policy has some 110,000 spans and as many syntax nodes. A
    draft is built with plain attribute stores instead, then becomes a
    `cls` by ``__class__`` assignment, which Python allows between a class
    and a subclass that adds no slots: about half the cost of the
    constructor. The draft restores both ``__setattr__`` and
    ``__delattr__`` to ``object``'s, so its stores are the interpreter's
    specialised slot stores (with either left as the frozen class's, every
    store goes through a Python-level slot call and a draft costs more than
    the constructor). The result is an ordinary `cls` (equality, hashing,
    repr and pickling are its own), checked on a probe here, every field
    compared with the constructor's; a class for which any of this fails
    keeps its constructor."""
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__"):
        return None
    if tuple(f.name for f in dataclasses.fields(cls)) != names:
        return None
    if getattr(cls, "__slots__", None) != names:
        return None
    draft = type(f"_{cls.__name__}Draft", (cls,), {
        "__slots__": (), "__setattr__": object.__setattr__, "__delattr__": object.__delattr__})
    try:
        probe = object.__new__(draft)
        for i, name in enumerate(names):
            setattr(probe, name, i)
        probe.__class__ = cls
        ref = cls(*range(len(names)))
    except TypeError:
        return None
    if type(probe) is not cls or probe != ref or any(getattr(probe, n) != getattr(ref, n) for n in names):
        return None
    return draft


def _maker(cls, names: tuple[str, ...], params: tuple[str, ...], values: tuple[str, ...]):
    """A function of `params` that returns `cls` with fields `names` set to
    the expressions `values` (over the params), through _draft; `cls`'s
    constructor when there is no draft. (The compiler builds its RuleNodes
    so too: frozen_builder.)"""
    draft = _draft(cls, names)
    args = ", ".join(params)
    if draft is None:
        source = f"def make({args}):\n    return CLS({', '.join(values)})\n"
    else:
        stores = "".join(f"    _new.{n} = {v}\n" for n, v in zip(names, values))
        source = f"def make({args}):\n    _new = NEW(DRAFT)\n{stores}    _new.__class__ = CLS\n    return _new\n"
    scope = {"CLS": cls, "DRAFT": draft, "NEW": object.__new__}
    exec(compile(source, f"<guardrails.fastparse:{cls.__name__}>", "exec"), scope)  # noqa: S102 - our own source
    return scope["make"]


#: Span(file, first's line and column, last's end, offsets).
_span = _maker(Span, _SPAN_FIELDS, ("file", "first", "last"),
               ("file", "first[4]", "first[5]", "last[4]", "last[6]", "first[2]", "last[3]"))


def frozen_builder(cls, *names: str):
    """`cls(*values)` for a frozen slots dataclass whose fields are exactly
    `names`, built through its _draft (its constructor when it has none)."""
    return _maker(cls, names, names, names)


def _builder(cls, *names: str):
    """`cls(*values)` for a node whose fields are exactly `names`, built as
    _span is (through its _draft): the syntax nodes are frozen slots
    classes too (ast.node), about eleven of them a rule."""
    return _maker(cls, names, names, names)


_Var = _builder(ast.Var, "name", "span")
_Attr = _builder(ast.Attr, "obj", "name", "span")
_Index = _builder(ast.Index, "obj", "key", "span")
_Literal = _builder(ast.Literal, "value", "span")
_ListLit = _builder(ast.ListLit, "items", "span")
_Call = _builder(ast.Call, "func", "args", "kwargs", "span")
_Compare = _builder(ast.Compare, "op", "left", "right", "span")
_In = _builder(ast.In, "item", "container", "negated", "span")
_Has = _builder(ast.Has, "obj", "key", "span")
_StrTest = _builder(ast.StrTest, "op", "left", "right", "span")
_And = _builder(ast.And, "operands", "span")
_Or = _builder(ast.Or, "operands", "span")
_Not = _builder(ast.Not, "operand", "span")
_Deny = _builder(ast.Deny, "message", "span")
_Warn = _builder(ast.Warn, "message", "span")
_Allow = _builder(ast.Allow, "span")
_Rule = _builder(ast.Rule, "id", "effect", "condition", "span", "id_span", "unless")


def _joined(a: Span, b: Span) -> Span:
    return Span(a.file, a.line, a.col, b.end_line, b.end_col, a.start, b.end)


def _string(tok: Tok) -> str:
    text = tok[1]
    if _PLAIN_STRING.fullmatch(text):
        return text[1:-1]  # no escape, control character or surrogate: json.loads would return the inside
    try:
        value = json.loads(tok[1])
    except ValueError:
        raise _GiveUp from None
    if _SURROGATE.search(value):
        raise _GiveUp
    return value


def _number(tok: Tok) -> int | float:
    text = tok[1]
    if "." in text or "e" in text or "E" in text:
        return float(text)
    if len(text.lstrip("-")) > 30:
        raise _GiveUp
    return int(text)


class _Parser:
    __slots__ = ("depth", "file", "i", "toks")

    def __init__(self, toks: list[Tok], file: str):
        self.toks = toks
        self.i = 0
        self.file = file
        self.depth = 0

    # -- token helpers
    def peek(self) -> Tok:
        return self.toks[self.i]

    def take(self) -> Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def op(self, text: str) -> Tok:
        tok = self.toks[self.i]
        if tok[0] != "op" or tok[1] != text:
            raise _GiveUp
        self.i += 1
        return tok

    def word(self, text: str) -> Tok:
        tok = self.toks[self.i]
        if tok[0] != "name" or tok[1] != text:
            raise _GiveUp
        self.i += 1
        return tok

    def expect(self, kind: str) -> Tok:
        tok = self.toks[self.i]
        if tok[0] != kind:
            raise _GiveUp
        self.i += 1
        return tok

    def at_op(self, text: str) -> bool:
        return self.toks[self.i][1] == text and self.toks[self.i][0] == "op"

    def at_word(self, text: str) -> bool:
        return self.toks[self.i][1] == text and self.toks[self.i][0] == "name"

    def sp(self, first: Tok, last: Tok) -> Span:
        return _span(self.file, first, last)

    # -- literals
    def literal(self) -> ast.Literal:
        tok = self.toks[self.i]
        self.i += 1
        kind = tok[0]
        if kind == "string":
            value = _string(tok)
        elif kind == "number":
            value = _number(tok)
        elif kind == "name" and tok[1] in _CONSTANTS:
            value = _CONSTANTS[tok[1]]
        else:
            raise _GiveUp
        return _Literal(value, _span(self.file, tok, tok))

    def literal_list(self) -> tuple[tuple[ast.Literal, ...], Tok, Tok]:
        """`[` [literal (`,` literal)*] `]`, no trailing comma."""
        first = self.op("[")
        items = []
        if not self.at_op("]"):
            items.append(self.literal())
            while self.at_op(","):
                self.i += 1
                items.append(self.literal())
        return tuple(items), first, self.op("]")

    def regex(self, tok: Tok) -> ast.RegexLit:
        text = tok[1]
        close = text.rfind("/")
        return ast.RegexLit(text[1:close].replace("\\/", "/"), text[close + 1:], self.sp(tok, tok))

    # -- expressions: each returns (node, first token, last token) of its container
    def expr(self):
        self.depth += 3
        if self.depth > _MAX_DEPTH:
            raise _GiveUp
        node, first, last = self.and_expr()
        if self.at_word("or"):
            operands = [node]
            while self.at_word("or"):
                self.i += 1
                node, _, last = self.and_expr()
                operands.append(node)
            node = _Or(tuple(operands), self.sp(first, last))
        self.depth -= 3
        return node, first, last

    def and_expr(self):
        node, first, last = self.not_expr()
        toks = self.toks
        tok = toks[self.i]
        if tok[1] == "and" and tok[0] == "name":
            operands = [node]
            while tok[1] == "and" and tok[0] == "name":
                self.i += 1
                node, _, last = self.not_expr()
                operands.append(node)
                tok = toks[self.i]
            node = _And(tuple(operands), _span(self.file, first, last))
        return node, first, last

    def not_expr(self):
        first = self.toks[self.i]
        if first[1] == "not" and first[0] == "name":
            self.i += 1
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise _GiveUp
            inner, _, last = self.not_expr()
            self.depth -= 1
            return _Not(inner, self.sp(first, last)), first, last
        return self.test()

    def test(self):
        left, first, last = self.operand()
        tok = self.toks[self.i]
        if tok[0] == "op":
            if tok[1] not in _CMP:
                return left, first, last
            self.i += 1
            right, _, last = self.operand()
            return _Compare(tok[1], left, right, _span(self.file, first, last)), first, last
        if tok[0] != "name":
            return left, first, last
        word = tok[1]
        if word == "in" or word == "not":
            self.i += 1
            if word == "not":
                self.word("in")
            right, _, last = self.operand()
            return _In(left, right, word == "not", self.sp(first, last)), first, last
        if word == "matches":
            self.i += 1
            tok = self.take()
            if tok[0] == "regex":
                node = ast.Matches(left, self.regex(tok), None, self.sp(first, tok))
            elif tok[0] == "name":
                node = ast.Matches(left, None, tok[1], self.sp(first, tok))
            else:
                raise _GiveUp
            return node, first, tok
        if word in _STR_TESTS:
            self.i += 1
            right, _, last = self.operand()
            return _StrTest(word, left, right, self.sp(first, last)), first, last
        if word == "has":
            self.i += 1
            tok = self.take()
            if tok[0] == "string":
                key = _string(tok)
            elif tok[0] == "name":
                key = tok[1]
            else:
                raise _GiveUp
            return _Has(left, key, self.sp(first, tok)), first, tok
        return left, first, last

    def operand(self):
        node, first, last = self.atom()
        chain = self.depth + 1
        toks = self.toks
        while True:
            tok = toks[self.i]
            if tok[0] != "op":
                return node, first, last
            chain += 1
            if chain > _MAX_DEPTH:
                raise _GiveUp
            if tok[1] == ".":
                last = toks[self.i + 1]
                if last[0] != "name":
                    raise _GiveUp
                self.i += 2
                node = _Attr(node, last[1], _span(self.file, first, last))
            elif tok[1] == "[":
                self.i += 1
                key = self.take()
                if key[0] == "string":
                    value = _string(key)
                elif key[0] == "number":
                    value = _number(key)
                    if isinstance(value, float):
                        raise _GiveUp  # E301: Lark's pass reports it
                else:
                    raise _GiveUp
                last = self.op("]")
                node = _Index(node, value, self.sp(first, last))
            else:
                return node, first, last

    def atom(self):
        tok = self.toks[self.i]
        kind = tok[0]
        if kind == "name":
            word = tok[1]
            if word in _RESERVED:
                if word in ("true", "false", "null"):
                    lit = self.literal()
                    return lit, tok, tok
                raise _GiveUp
            self.i += 1
            nxt = self.toks[self.i]
            if nxt[1] == "(" and nxt[0] == "op":
                return self.call(tok)
            return _Var(word, _span(self.file, tok, tok)), tok, tok
        if kind == "string" or kind == "number":
            lit = self.literal()
            return lit, tok, tok
        if kind == "op":
            if tok[1] == "(":
                self.i += 1
                node, _, _ = self.expr()
                return node, tok, self.op(")")
            if tok[1] == "[":
                items, first, last = self.literal_list()
                return _ListLit(items, self.sp(first, last)), first, last
        raise _GiveUp

    def call(self, name: Tok):
        self.op("(")
        self.depth += 1
        args, kwargs = [], []
        if not self.at_op(")"):
            while True:
                tok = self.peek()
                nxt = self.toks[self.i + 1]
                if tok[0] == "name" and nxt[0] == "op" and nxt[1] == "=":
                    if tok[1] in _RESERVED:
                        raise _GiveUp
                    self.i += 2
                    value = self.literal()
                    kwargs.append(ast.KwArg(tok[1], value, _span(self.file, tok, self.toks[self.i - 1])))
                else:
                    args.append(self.expr()[0])
                if not self.at_op(","):
                    break
                self.i += 1
        last = self.op(")")
        self.depth -= 1
        return _Call(name[1], tuple(args), tuple(kwargs), self.sp(name, last)), name, last

    # -- effects
    def effect(self):
        tok = self.take()
        word = tok[1] if tok[0] == "name" else ""
        if word in ("deny", "warn"):
            msg = self.expect("string")
            cls = _Deny if word == "deny" else _Warn
            return cls(_string(msg), self.sp(tok, msg))
        if word == "allow":
            return _Allow(_span(self.file, tok, tok))
        if word == "escalate":
            self.word("to")
            route = self.take()
            if route[0] == "string":
                route_text = _string(route)
            elif route[0] == "name":
                route_text = route[1]
            else:
                raise _GiveUp
            last, message = route, None
            if self.peek()[0] == "string":
                last = self.take()
                message = _string(last)
            return ast.Escalate(route_text, message, self.sp(tok, last))
        if word == "redact":
            return self.redact(tok)
        if word == "label":
            names = [self.expect("name")]
            while self.at_op(","):
                self.i += 1
                names.append(self.expect("name"))
            return ast.Label(tuple(n[1] for n in names), tuple(self.sp(n, n) for n in names),
                             self.sp(tok, names[-1]))
        raise _GiveUp

    def redact(self, first: Tok) -> ast.Redact:
        tok = self.take()
        if tok[0] == "op" and tok[1] == "[":
            names, _ = self.name_list()
            last = self.op("]")
            target = ast.Target("entities", tuple(n.value for n in names), self.sp(tok, last),
                                tuple(n.span for n in names))
        elif tok[0] != "name":
            raise _GiveUp
        elif tok[1] == "secrets":
            last = tok
            target = ast.Target("secrets", (), self.sp(tok, tok))
        elif tok[1] in ("pattern", "terms"):
            last = self.expect("name")
            target = ast.Target(tok[1], (last[1],), self.sp(tok, last), (self.sp(last, last),))
        else:
            last = tok
            target = ast.Target("entities", (tok[1],), self.sp(tok, tok), (self.sp(tok, tok),))
        score = None
        if self.at_word("above"):
            self.i += 1
            last = self.expect("number")
            score = float(_number(last))
        if self.at_word("using"):
            head = self.take()
            name = last = self.expect("name")
            args: tuple[ast.Literal, ...] = ()
            if self.at_op("("):
                self.i += 1
                items = []
                if not self.at_op(")"):
                    items.append(self.literal())
                    while self.at_op(","):
                        self.i += 1
                        items.append(self.literal())
                last = self.op(")")
                args = tuple(items)
            operator = ast.Operator(name[1], args, self.sp(head, last))
        else:
            operator = ast.Operator("replace", (_Literal("<{entity}>", target.span),), target.span)
        return ast.Redact(target, score, operator, self.sp(first, last))

    # -- declarations
    def rule(self) -> ast.Rule:
        first = self.word("rule")
        rid = self.expect("name")
        self.op(":")
        effect = self.effect()
        last = self.toks[self.i - 1]
        when = unless = None
        if self.at_word("when"):
            self.i += 1
            when, _, last = self.expr()
        if self.at_word("unless"):
            self.i += 1
            unless, _, last = self.expr()
        span = _span(self.file, first, last)
        if unless is None:
            return _Rule(rid[1], effect, when, span, _span(self.file, rid, rid), None)
        negated = _Not(unless, unless.span)
        if when is None:
            condition = negated
        else:
            operands = when.operands if isinstance(when, ast.And) else (when,)
            a, b = when.span, unless.span
            condition = _And((*operands, negated), _joined(a, b))
        return ast.Rule(rid[1], effect, condition, span, self.sp(rid, rid), unless)

    def name_list(self) -> tuple[tuple[ast.Name, ...], Tok]:
        """NAME (`,` NAME)* `,`? — the names and the last token read."""
        tok = self.expect("name")
        names = [ast.Name(tok[1], self.sp(tok, tok))]
        last = tok
        while self.at_op(","):
            last = self.take()
            if self.peek()[0] != "name":
                break
            tok = last = self.take()
            names.append(ast.Name(tok[1], self.sp(tok, tok)))
        return tuple(names), last

    def setting(self) -> ast.Setting:
        key = self.expect("name")
        self.op("=")
        if self.at_op("["):
            items, first, last = self.literal_list()
            value = _ListLit(items, self.sp(first, last))
        else:
            value = self.literal()
            last = self.toks[self.i - 1]
        return ast.Setting(key[1], value, self.sp(key, last))

    def item(self):
        head = self.take()
        if head[0] != "name":
            raise _GiveUp
        word = head[1]
        if word in _STAGES:
            self.op("{")
            rules = []
            while self.at_word("rule"):
                rules.append(self.rule())
            last = self.op("}")
            return ast.StageBlock(word, tuple(rules), self.sp(head, last))
        if word == "import":
            tok = self.expect("string")
            return ast.Import(_string(tok), self.sp(head, tok))
        if word == "config":
            self.op("{")
            settings = []
            while self.peek()[0] == "name":
                settings.append(self.setting())
            self.op("}")
            return ("config", tuple(settings))
        if word == "label":
            name = self.expect("name")
            last, doc = name, None
            if self.peek()[0] == "string":
                last = self.take()
                doc = _string(last)
            return ast.LabelDef(name[1], doc, self.sp(head, last))
        if word not in ("entities", "pattern", "tools", "terms", "limit"):
            raise _GiveUp  # topics, schemas, allow-lists: Lark reads them
        name = self.expect("name")
        self.op("=")
        if word == "pattern":
            tok = self.expect("regex")
            return ast.PatternDef(name[1], self.regex(tok), self.sp(head, tok))
        if word == "limit":
            count = _number(self.expect("number"))
            self.word("per")
            window = self.expect("string")
            window_lit = _Literal(_string(window), self.sp(window, window))
            self.word("by")
            self.depth = 0
            keys = [self.operand()]
            while self.at_op(","):
                self.i += 1
                keys.append(self.operand())
            return ast.LimitDef(name[1], count, window_lit, tuple(k[0] for k in keys), self.sp(head, keys[-1][2]))
        self.op("[")
        if word == "entities":
            names, _ = self.name_list()
            last = self.op("]")
            return ast.EntitiesDef(name[1], names, self.sp(head, last))
        items = []
        while True:
            tok = self.take()
            if tok[0] == "string":
                items.append(_Literal(_string(tok), self.sp(tok, tok)))
            elif tok[0] == "name" and word == "tools":
                items.append(_Var(tok[1], self.sp(tok, tok)))
            else:
                raise _GiveUp
            if not self.at_op(","):
                break
            self.i += 1
            if self.at_op("]"):
                break
        last = self.op("]")
        if word == "tools":
            return ast.ToolsDef(name[1], tuple(items), self.sp(head, last))
        return ast.TermsDef(name[1], tuple(items), self.sp(head, last))

    def policy(self) -> ast.Policy:
        first = self.take()
        if first[0] != "name" or first[1] not in ("policy", "module"):
            raise _GiveUp
        name_tok = self.expect("string")
        self.word("version")
        version_tok = self.expect("string")
        name, version = _string(name_tok), _string(version_tok)
        if not _POLICY_NAME.fullmatch(name) or not _SEMVER.fullmatch(version):
            raise _GiveUp  # E003: Lark's pass reports it
        imports, settings, defs, stages = [], [], [], []
        while self.peek()[0] != "end":
            self.depth = 0
            item = self.item()
            if isinstance(item, ast.Import):
                imports.append(item)
            elif isinstance(item, tuple):
                settings.extend(item[1])
            elif isinstance(item, ast.StageBlock):
                stages.append(item)
            else:
                defs.append(item)
        last = self.toks[self.i - 1]
        return ast.Policy(first[1], name, version, tuple(imports), tuple(settings), tuple(defs), tuple(stages),
                          self.sp(first, last), self.sp(name_tok, name_tok), self.sp(version_tok, version_tok))


def fast_parse(text: str, file: str) -> tuple[ast.Policy, list[tuple[int, int, str, int]]] | None:
    """The policy and its comments (line, col, text, offset), or None when Lark must read the text."""
    try:
        toks, comments = tokenize(text)
        return _Parser(toks, file).policy(), comments
    except (_GiveUp, IndexError, RecursionError):
        return None


__all__ = ["fast_parse", "frozen_builder", "tokenize"]

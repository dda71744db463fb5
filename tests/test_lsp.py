"""`guardrails lsp` driven as an editor drives it: the real server in a
child process, JSON-RPC over its stdin and stdout, a client written here.

Every wait is bounded (a queue read with a timeout); nothing sleeps.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("pygls", reason="the lsp extra (pygls) is not installed")

from guardrails.authoring.format import format_text
from guardrails.sources import load_paths

#: How long one answer may take. The first load builds Presidio's entity
#: registry, which takes seconds on a busy machine.
WAIT = 90.0

BASE = '''module "base" version "1.0.0"

entities contact = [EMAIL_ADDRESS, PHONE_NUMBER]
tools refunds = ["issue_refund", "void_charge"]
topic legal { "lawsuit" 0.8, "attorney" 0.6 }
'''

APP_OK = '''policy "app" version "1.0.0"
import "base"

input {
  rule redact-contact: redact contact using mask("#")
  rule no-legal: deny "no legal advice" when topic(legal) >= 0.7
}

tool_call {
  rule small: allow when tool in refunds and args.amount <= 100
}
'''

# `legl` is no topic: E102 on the name inside topic(...).
APP_BROKEN = APP_OK.replace("topic(legal)", "topic(legl)")


class Client:
    """A minimal LSP client: Content-Length framing, ids, a reader thread."""

    def __init__(self, cwd: Path):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "guardrails.cli", "lsp", "--stdio"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
        )
        self.messages: queue.Queue = queue.Queue()
        self.next_id = 0
        self.notifications: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    self.messages.put(None)
                    return
                line = line.decode("ascii").strip()
                if not line:
                    break
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
            body = out.read(int(headers["content-length"]))
            self.messages.put(json.loads(body))

    def send(self, message: dict) -> None:
        data = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        self.proc.stdin.flush()

    def notify(self, method: str, params: dict) -> None:
        self.send({"method": method, "params": params})

    def _next(self) -> dict:
        try:
            msg = self.messages.get(timeout=WAIT)
        except queue.Empty:
            raise AssertionError(f"no message from the server in {WAIT:g} s") from None
        if msg is None:
            err = self.proc.stderr.read().decode("utf-8", "replace") if self.proc.poll() is not None else ""
            raise AssertionError(f"the server closed its output: {err[-2000:]}")
        if "method" in msg and "id" in msg:  # a request from the server: answer it plainly
            self.send({"id": msg["id"], "result": None})
        return msg

    def request(self, method: str, params: dict):
        self.next_id += 1
        rid = self.next_id
        self.send({"id": rid, "method": method, "params": params})
        while True:
            msg = self._next()
            if msg.get("id") == rid and "method" not in msg:
                assert "error" not in msg, msg["error"]
                return msg.get("result")
            self.notifications.append(msg)

    def diagnostics(self, uri: str) -> list[dict]:
        """The next diagnostics published for `uri` (earlier ones included)."""
        for i, msg in enumerate(self.notifications):
            if msg.get("method") == "textDocument/publishDiagnostics" and msg["params"]["uri"] == uri:
                del self.notifications[i]
                return msg["params"]["diagnostics"]
        while True:
            msg = self._next()
            if msg.get("method") == "textDocument/publishDiagnostics" and msg["params"]["uri"] == uri:
                return msg["params"]["diagnostics"]
            self.notifications.append(msg)

    def close(self) -> int:
        try:
            self.request("shutdown", None)
            self.notify("exit", None)
            return self.proc.wait(timeout=WAIT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(timeout=WAIT)
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                stream.close()


def _uri(path: Path) -> str:
    return path.resolve().as_uri()


def _pos(text: str, needle: str, into: int = 0) -> dict:
    """The LSP position `into` characters past the start of `needle` (ASCII text)."""
    offset = text.index(needle) + into
    line = text.count("\n", 0, offset)
    return {"line": line, "character": offset - (text.rfind("\n", 0, offset) + 1)}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    root = tmp_path_factory.mktemp("policies")
    (root / "base.policy").write_text(BASE, encoding="utf-8")
    (root / "app.policy").write_text(APP_OK, encoding="utf-8")
    client = Client(root)
    result = client.request("initialize", {"processId": None, "rootUri": _uri(root), "capabilities": {}})
    client.notify("initialized", {})
    yield client, root, result
    assert client.close() == 0


def _open(client: Client, path: Path, text: str, version: int = 1) -> str:
    uri = _uri(path)
    client.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "guardrails-policy",
                                                            "version": version, "text": text}})
    return uri


def _change(client: Client, uri: str, text: str, version: int) -> None:
    client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
                                             "contentChanges": [{"text": text}]})


def test_capabilities(session):
    _, _, result = session
    caps = result["capabilities"]
    for name in ("hoverProvider", "definitionProvider", "documentFormattingProvider", "documentSymbolProvider"):
        assert caps.get(name), name
    assert "." in caps["completionProvider"]["triggerCharacters"]
    assert result["serverInfo"]["name"] == "guardrails"


def test_diagnostics_on_open_and_change_are_checks(session, tmp_path):
    client, root, _ = session
    path = root / "app.policy"
    uri = _open(client, path, APP_BROKEN)
    diags = client.diagnostics(uri)
    assert [d["code"] for d in diags] == ["E102"]
    d = diags[0]
    start = _pos(APP_BROKEN, "legl)")
    assert d["range"] == {"start": start, "end": {**start, "character": start["character"] + 4}}
    assert d["severity"] == 1 and d["source"] == "guardrails"
    assert d["message"].startswith("unknown topic 'legl'")
    assert "did you mean 'legal'?" in d["message"]  # check's hint, on a line of its own

    # The same text through `guardrails check`'s loader gives the same diagnostic.
    (tmp_path / "base.policy").write_text(BASE, encoding="utf-8")
    (tmp_path / "app.policy").write_text(APP_BROKEN, encoding="utf-8")
    checked = [x for x in load_paths([tmp_path]).diagnostics if x.span.file.endswith("app.policy")]
    assert [(x.code, x.span.line - 1, x.span.col - 1, x.message) for x in checked] == \
        [(d["code"], d["range"]["start"]["line"], d["range"]["start"]["character"], d["message"].split("\n")[0])]

    _change(client, uri, APP_OK, 2)
    assert client.diagnostics(uri) == []

    _change(client, uri, APP_OK.replace("rule small", "rule small small"), 3)
    assert [d["code"] for d in client.diagnostics(uri)] == ["E001"]
    _change(client, uri, APP_OK, 4)
    assert client.diagnostics(uri) == []


def test_unsaved_module_buffer_wins_over_disk(session):
    client, root, _ = session
    app = _uri(root / "app.policy")
    uses_new = APP_OK.replace("redact contact", "redact postal")
    _change(client, app, uses_new, 10)
    assert [d["code"] for d in client.diagnostics(app)] == ["E102"]  # `postal` is nowhere on disk
    base = _open(client, root / "base.policy", BASE + "entities postal = [EMAIL_ADDRESS]\n")
    assert client.diagnostics(app) == []  # the module's buffer, not its file, is imported
    assert client.diagnostics(base) == []
    client.notify("textDocument/didClose", {"textDocument": {"uri": base}})
    assert client.diagnostics(base) == []  # cleared
    assert [d["code"] for d in client.diagnostics(app)] == ["E102"]  # back to the file on disk
    _change(client, app, APP_OK, 11)
    assert client.diagnostics(app) == []


def _hover(client: Client, uri: str, pos: dict) -> str | None:
    result = client.request("textDocument/hover", {"textDocument": {"uri": uri}, "position": pos})
    return None if result is None else result["contents"]["value"]


def test_hover(session):
    client, root, _ = session
    uri = _uri(root / "app.policy")
    _change(client, uri, APP_OK, 20)
    client.diagnostics(uri)
    group = _hover(client, uri, _pos(APP_OK, "contact using", 2))
    assert group.startswith("**entity group** `contact`, from `base`")
    assert "entities contact = [EMAIL_ADDRESS, PHONE_NUMBER]" in group
    topic = _hover(client, uri, _pos(APP_OK, "legal) >=", 1))
    assert topic.startswith("**topic** `legal`") and '"lawsuit" 0.8' in topic
    tools = _hover(client, uri, _pos(APP_OK, "refunds and", 0))
    assert tools.startswith("**tool group** `refunds`")
    func = _hover(client, uri, _pos(APP_OK, "topic(legal)", 2))
    assert "topic(NAME)" in func and "The topic's score for the text." in func
    root_attr = _hover(client, uri, _pos(APP_OK, "tool in", 1))
    assert root_attr.startswith("**request attribute** `tool`")
    base_text = BASE
    base_uri = _uri(root / "base.policy")
    entity = _hover(client, base_uri, _pos(base_text, "EMAIL_ADDRESS", 3))
    assert entity == "**entity type** `EMAIL_ADDRESS`: found by Presidio's pattern recognizers"
    assert _hover(client, uri, _pos(APP_OK, '"no legal advice"', 3)) is None  # inside a string


def test_definition_across_an_import(session):
    client, root, _ = session
    uri = _uri(root / "app.policy")
    loc = client.request("textDocument/definition",
                         {"textDocument": {"uri": uri}, "position": _pos(APP_OK, "contact using", 1)})
    assert loc["uri"] == _uri(root / "base.policy")
    assert loc["range"]["start"] == _pos(BASE, "entities contact")
    imp = client.request("textDocument/definition",
                         {"textDocument": {"uri": uri}, "position": _pos(APP_OK, '"base"', 2)})
    assert imp["uri"] == _uri(root / "base.policy")
    assert imp["range"]["start"] == _pos(BASE, '"base"')
    assert client.request("textDocument/definition",
                          {"textDocument": {"uri": uri}, "position": _pos(APP_OK, "mask(", 1)}) is None


def _labels(client: Client, uri: str, text: str) -> list[str]:
    _change(client, uri, text, 30)
    client.diagnostics(uri)
    end = {"line": text.count("\n"), "character": len(text.rsplit("\n", 1)[-1])}
    result = client.request("textDocument/completion", {"textDocument": {"uri": uri}, "position": end})
    return [i["label"] for i in result["items"]]


def test_completion(session):
    client, root, _ = session
    uri = _uri(root / "app.policy")
    body = APP_OK + "\ntool_call {\n  rule r: "
    assert _labels(client, uri, body) == ["allow", "deny", "escalate", "label", "redact", "warn"]
    assert _labels(client, uri, APP_OK + "\ninput {\n  rule r: ") == ["deny", "escalate", "label", "redact", "warn"]
    assert _labels(client, uri, body + "deny \"x\" when topic(") == ["legal"]  # imported
    assert _labels(client, uri, body + "deny \"x\" when args.") == ["amount"]  # read by the policies
    redact = _labels(client, uri, APP_OK + "\ninput {\n  rule r: redact ")
    assert redact[0] == "contact" and "EMAIL_ADDRESS" in redact and "secrets" in redact
    anywhere = _labels(client, uri, body + "deny \"x\" when ")
    for expected in ("not", "matches", "pii", "injection", "refunds", "legal", "args", "CREDIT_CARD"):
        assert expected in anywhere, expected
    assert _labels(client, uri, body + "deny \"x\" when tool in ")[:1] == ["refunds"]
    _change(client, uri, APP_OK, 31)
    client.diagnostics(uri)


def test_formatting(session):
    client, root, _ = session
    uri = _uri(root / "app.policy")
    messy = APP_OK.replace("  rule small:", "rule   small :").replace("tool_call {", "tool_call{")
    _change(client, uri, messy, 40)
    client.diagnostics(uri)
    edits = client.request("textDocument/formatting",
                           {"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": True}})
    assert len(edits) == 1
    assert edits[0]["range"]["start"] == {"line": 0, "character": 0}
    assert edits[0]["newText"] == format_text(messy)
    _change(client, uri, APP_BROKEN.replace("rule small", "rule small small"), 41)
    client.diagnostics(uri)
    assert client.request("textDocument/formatting",
                          {"textDocument": {"uri": uri}, "options": {"tabSize": 2, "insertSpaces": True}}) is None
    _change(client, uri, APP_OK, 42)
    client.diagnostics(uri)


def test_document_symbols(session):
    client, root, _ = session
    uri = _uri(root / "app.policy")
    symbols = client.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    [policy] = symbols
    assert policy["name"] == "app" and policy["detail"] == "policy version 1.0.0"
    children = [(c["name"], c["detail"]) for c in policy["children"]]
    assert children == [('import "base"', "import"), ("input", "stage"), ("tool_call", "stage")]
    rules = [(r["name"], r["detail"]) for r in policy["children"][1]["children"]]
    assert rules == [("redact-contact", "redact"), ("no-legal", "deny")]
    small = policy["children"][2]["children"][0]
    assert small["selectionRange"]["start"] == _pos(APP_OK, "small:")
    base = client.request("textDocument/documentSymbol", {"textDocument": {"uri": _uri(root / "base.policy")}})
    assert [(c["name"], c["detail"]) for c in base[0]["children"]] == [
        ("contact", "entity group"), ("refunds", "tool group"), ("legal", "topic")]


def test_without_pygls_the_command_names_the_extra():
    code = ("import sys; sys.modules['pygls'] = None; from guardrails.cli import main; "
            "sys.exit(main(['lsp']))")
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=WAIT)
    assert proc.returncode == 2
    assert "guardlang[lsp]" in proc.stderr and "pygls" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_module_changed_on_disk_is_read_again(tmp_path):
    (tmp_path / "base.policy").write_text(BASE, encoding="utf-8")
    client = Client(tmp_path)
    try:
        client.request("initialize", {"processId": None, "rootUri": _uri(tmp_path), "capabilities": {}})
        client.notify("initialized", {})
        app = _open(client, tmp_path / "app.policy", APP_OK.replace("redact contact", "redact postal"))
        assert [d["code"] for d in client.diagnostics(app)] == ["E102"]
        (tmp_path / "base.policy").write_text(BASE + "entities postal = [EMAIL_ADDRESS]\n", encoding="utf-8")
        client.notify("workspace/didChangeWatchedFiles",
                      {"changes": [{"uri": _uri(tmp_path / "base.policy"), "type": 2}]})
        assert client.diagnostics(app) == []
    finally:
        assert client.close() == 0


SCHEMA_BASE = '''module "shapes" version "1.0.0"

tool issue_refund(order_id: string, amount: number, note?: string) with owner = "finance"
tool lookup_order(order_id: string, fields: {status: boolean, ...})
principal { id: string, role: "employee" | "admin" }
'''

SCHEMA_APP = '''policy "shop" version "1.0.0"
import "shapes"

tool_call {
  rule managers: allow when tool == "issue_refund" and principal.role == "admin"
}
'''


def test_attribute_paths_come_from_the_schema(tmp_path):
    (tmp_path / "shapes.policy").write_text(SCHEMA_BASE, encoding="utf-8")
    (tmp_path / "shop.policy").write_text(SCHEMA_APP, encoding="utf-8")
    client = Client(tmp_path)
    try:
        client.request("initialize", {"processId": None, "rootUri": _uri(tmp_path), "capabilities": {}})
        client.notify("initialized", {})
        uri = _open(client, tmp_path / "shop.policy", SCHEMA_APP)
        assert client.diagnostics(uri) == []

        def items(text: str) -> dict[str, str]:
            _change(client, uri, text, 2)
            client.diagnostics(uri)
            end = {"line": text.count("\n"), "character": len(text.rsplit("\n", 1)[-1])}
            result = client.request("textDocument/completion", {"textDocument": {"uri": uri}, "position": end})
            return {i["label"]: i.get("detail") for i in result["items"]}

        body = SCHEMA_APP.rstrip("}\n") + "\n  rule r: deny \"x\" when "
        args = items(body + "args.")
        assert args == {"amount": "number (issue_refund())", "fields": "{status: boolean, ...} (lookup_order())",
                        "note": "string, optional (issue_refund())", "order_id": "string (issue_refund())"}
        assert items(body + "args.fields.") == {"status": "boolean (lookup_order())"}
        assert items(body + "principal.") == {"id": "string", "role": '"employee" | "admin"'}
        assert items(body + "tool.") == {"owner": 'tool attribute (issue_refund: "finance")'}

        _change(client, uri, SCHEMA_APP, 3)
        client.diagnostics(uri)
        role = _hover(client, uri, _pos(SCHEMA_APP, "role ==", 1))
        assert role == '**attribute** `principal.role`: "employee" | "admin"'
        tool = _hover(client, uri, _pos(SCHEMA_APP, '"issue_refund"', 3))
        assert tool.startswith('```guardrails\ntool issue_refund(order_id: string, amount: number, note?: string) '
                               'with owner = "finance"\n```')
        loc = client.request("textDocument/definition",
                             {"textDocument": {"uri": uri}, "position": _pos(SCHEMA_APP, '"issue_refund"', 3)})
        assert loc["uri"] == _uri(tmp_path / "shapes.policy")
        assert loc["range"]["start"] == _pos(SCHEMA_BASE, "issue_refund")
        symbols = client.request("textDocument/documentSymbol",
                                 {"textDocument": {"uri": _uri(tmp_path / "shapes.policy")}})
        assert [(c["name"], c["detail"]) for c in symbols[0]["children"]] == [
            ("issue_refund", "tool schema"), ("lookup_order", "tool schema"), ("principal", "schema")]
    finally:
        assert client.close() == 0


def test_every_file_gets_what_check_prints(tmp_path):
    """A directory with errors and warnings in a module and a policy: each
    open document's diagnostics are `guardrails check --format json`'s for
    that file (code, severity, message and hint, line and column)."""
    for p in Path(__file__).resolve().parent.parent.glob("policies/*.policy"):
        (tmp_path / p.name).write_text(p.read_text(encoding="utf-8"), encoding="utf-8")
    base = tmp_path / "org-baseline.policy"
    base.write_text(base.read_text(encoding="utf-8").replace("[EMAIL_ADDRESS,", "[EMAIL_ADRESS,")
                    + "terms unused = [\"x\"]\n", encoding="utf-8")
    bot = tmp_path / "support-bot.policy"
    # An emoji (two UTF-16 units) before the error on its line: LSP columns count UTF-16 units.
    bot.write_text(bot.read_text(encoding="utf-8").replace(
        'deny "Prompt injection attempt"\n      when', 'deny "Prompt injection \U0001F642" when topic(legl) > 0.5 or', 1)
        .replace("rule cap:", "rule lookup:"), encoding="utf-8")  # E201: a duplicate rule id
    proc = subprocess.run([sys.executable, "-m", "guardrails.cli", "check", "--format", "json", str(tmp_path)],
                          check=False, capture_output=True, text=True, timeout=WAIT)
    assert proc.returncode == 1, proc.stderr
    expected: dict[str, list] = {}
    for d in json.loads(proc.stdout)["diagnostics"]:
        expected.setdefault(Path(d["file"]).resolve().as_uri(), []).append(d)
    assert len(expected) >= 2 and sum(map(len, expected.values())) >= 3

    client = Client(tmp_path)
    try:
        client.request("initialize", {"processId": None, "rootUri": _uri(tmp_path), "capabilities": {}})
        client.notify("initialized", {})
        uris = [_open(client, p, p.read_text(encoding="utf-8")) for p in sorted(tmp_path.glob("*.policy"))]
        got = {}
        for uri in uris:
            got[uri] = client.diagnostics(uri)
        for uri in uris:  # opening later files publishes again for the earlier ones: take the last
            while any(m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri
                      for m in client.notifications):
                got[uri] = client.diagnostics(uri)
    finally:
        assert client.close() == 0
    for uri in uris:
        text = Path(uri.removeprefix("file://")).read_text(encoding="utf-8").split("\n")
        want = []
        for d in expected.get(uri, []):
            line = text[d["line"] - 1]
            utf16_col = len(line[: d["col"] - 1].encode("utf-16-le")) // 2
            message = d["message"] + (f"\nhint: {d['hint']}" if d["hint"] else "")
            want.append((d["code"], 1 if d["severity"] == "error" else 2, message, d["line"] - 1, utf16_col))
        have = [(d["code"], d["severity"], d["message"], d["range"]["start"]["line"],
                 d["range"]["start"]["character"]) for d in got[uri]]
        assert have == want, uri
    [unknown] = [d for d in got[_uri(bot)] if d["code"] == "E102"]
    line = bot.read_text(encoding="utf-8").split("\n")[unknown["range"]["start"]["line"]]
    assert unknown["range"]["start"]["character"] == line.index("legl") + 1  # the emoji is two UTF-16 units


def test_every_position_of_every_example_answers(tmp_path):
    """Hover, definition, completion and the outline never raise: at points
    all through the example policies, and on their prefixes as if typed."""
    from guardrails.lsp.complete import complete
    from guardrails.lsp.names import definition, hover
    from guardrails.lsp.outline import outline
    from guardrails.lsp.workspace import load

    root = Path(__file__).resolve().parent.parent / "policies"
    for p in sorted(root.glob("*.policy")):
        text = p.read_text(encoding="utf-8")
        snap = load(str(root), {str(p): text})
        assert outline(snap.source(str(p)))
        answered = 0
        for offset in range(0, len(text) + 1, 17):
            answered += hover(snap, str(p), text, offset) is not None
            definition(snap, str(p), text, offset)
            complete(snap, str(p), text, offset)
        assert answered > 10, p.name
        for cut in range(0, len(text) + 1, len(text) // 6 + 1):
            typed = text[:cut]
            partial = load(str(root), {str(p): typed}, previous=snap)
            complete(partial, str(p), typed, len(typed))
            hover(partial, str(p), typed, max(0, len(typed) - 1))
            outline(partial.source(str(p)))

"""`guardrails init NAME`: scaffold a policy and its tests, ready to run.

Writes ``NAME.policy`` (importing the org baseline when one sits beside it),
with a schema stub declaring its tools, principal and context, and
``NAME.tests.yaml`` with one passing case per stage and one refused by the
schema, so that ``guardrails check --strict`` and ``guardrails test`` pass
before the first edit.
Existing files are never overwritten.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from guardrails.cli.common import UsageError

NAME = "init"
HELP = "scaffold a policy and its tests file"

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")

POLICY = """\
# {name}: what this assistant may see, say and do.
# The language: docs/language.md. Check it with `guardrails check {dir}`,
# test it with `guardrails test {dir}`.
policy "{name}" version "0.1.0"
{imports}
# The schema (docs/schema.md): what each tool takes, who calls, from where.
# A request that does not match is refused before any rule runs, and
# `guardrails check --strict` asks for a declaration of every tool a rule names.
tool search_docs(q: string)
tool lookup_order(order_id: string)
principal {{ role?: string }}
context {{ user_id?: string, ... }}

entities contact_details = [EMAIL_ADDRESS, PHONE_NUMBER]
tools read_only = ["search_docs", "lookup_order"]

input {{
  rule redact-contact: redact contact_details using replace("<{{entity}}>")
}}

output {{
  rule no-contact-out: redact contact_details using mask("*")
}}

tool_call {{
  rule read-only: allow when tool in read_only
}}
"""

TESTS = """\
# Tests for {name}: each case is a request and the decision it must get.
# Run them with `guardrails test {dir} --coverage`.
# The full schema is documented in guardrails/testing/__init__.py.
policy: {name}
version: "0.1.0"
cases:
  - name: contact details in a prompt are replaced by their type
    stage: input
    text: "Mail me at jane.doe@example.com"
    expect:
      outcome: redact
      text: "Mail me at <EMAIL_ADDRESS>"

  - name: an ordinary prompt passes
    stage: input
    text: "Where is my parcel?"
    expect: {{outcome: allow, rules: []}}

  - name: an address in an answer is masked
    stage: output
    text: "Write to jane.doe@example.com"
    expect:
      outcome: redact
      text: "Write to ********************"

  - name: reading tools are allowed
    stage: tool_call
    tool: search_docs
    args: {{q: "returns"}}
    expect: {{outcome: allow, rules: [read-only]}}

  - name: a call that does not match its tool's declaration is refused
    stage: tool_call
    tool: lookup_order
    args: {{orderid: "A-1"}}
    expect: {{outcome: deny, rules: [request], errors: [schema-violation]}}

  - name: any other tool is denied by default
    stage: tool_call
    tool: delete_account
    args: {{}}
    expect: {{outcome: deny, rules: [default-deny]}}
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        NAME, help=HELP,
        description="Write NAME.policy and NAME.tests.yaml into a directory, ready for `guardrails check` "
                    "and `guardrails test`. When the directory holds org-baseline.policy, the new policy "
                    "imports it. Existing files are never overwritten.",
        epilog="example: guardrails init billing-bot --dir policies/")
    p.add_argument("name", metavar="NAME", help="the policy's name: lower-case letters, digits, '.', '_' and '-'")
    p.add_argument("--dir", default=".", metavar="DIR", help="where to write the files (default: here)")


def run(args: argparse.Namespace) -> int:
    name = args.name
    if not _NAME.fullmatch(name):
        raise UsageError(f"invalid policy name {name!r}: use lower-case letters, digits, '.', '_' and '-', "
                         "starting with a letter or digit")
    folder = Path(args.dir)
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is not a directory")
    policy, tests = folder / f"{name}.policy", folder / f"{name}.tests.yaml"
    existing = [str(p) for p in (policy, tests) if p.exists()]
    if existing:
        raise UsageError(f"{', '.join(existing)} already exist(s); nothing was written")
    baseline = (folder / "org-baseline.policy").is_file()
    shown = str(folder) if str(folder) != "." else "."
    folder.mkdir(parents=True, exist_ok=True)
    policy.write_text(POLICY.format(name=name, dir=shown, imports='import "org-baseline"\n' if baseline else ""),
                      encoding="utf-8")
    tests.write_text(TESTS.format(name=name, dir=shown), encoding="utf-8")
    print(f"wrote {policy} and {tests}")
    print(f"next: guardrails check {shown} && guardrails test {shown} --coverage")
    return 0

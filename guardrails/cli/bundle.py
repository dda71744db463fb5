"""`guardrails bundle build|verify|inspect|keygen`: policy bundles (see guardrails.bundle)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from guardrails.diagnostics import render_all
from guardrails.cli.common import plural, UsageError, add_ner_option

NAME = "bundle"
HELP = "build, sign, verify and inspect policy bundles"

SUFFIXES = (".bundle", ".tar.gz", ".tgz")


def register(sub) -> None:
    b = sub.add_parser(
        NAME,
        help=HELP,
        description="A bundle is one deterministic .tar.gz archive of checked policies, their *.tests.yaml "
        "files and a manifest (name, version, sha256 of every file, revision, build time), optionally "
        "signed with HMAC-SHA256 or Ed25519. Load it like a directory: guardrails eval x.bundle ...",
    )
    s = b.add_subparsers(dest="bundle_command", metavar="SUBCOMMAND")

    build = s.add_parser("build", help="check DIR and write its policies to one archive",
                         description="Check the policies under DIR, then write them with their *.tests.yaml "
                         "files to FILE. Nothing is written when a policy has errors (exit 1). "
                         "Set SOURCE_DATE_EPOCH to fix the build time for byte-identical rebuilds.")
    build.add_argument("directory", metavar="DIR", help="a directory of *.policy files")
    build.add_argument("-o", "--output", required=True, metavar="FILE",
                       help="the bundle to write (ending in .bundle, .tar.gz or .tgz)")
    build.add_argument("--key", metavar="KEYFILE", help="sign with this HMAC secret or Ed25519 private key")
    build.add_argument("--revision", metavar="R",
                       help="the bundle's revision (default: a hash of the bundled files' contents)")
    add_ner_option(build)

    verify = s.add_parser("verify", help="check that a bundle is intact (and its signature)",
                          description="Exit 0 when every file matches the manifest and the signature verifies; "
                          "exit 1 naming every changed, missing or extra file otherwise. A signed bundle needs "
                          "--key; an unsigned one is refused when --key is given.")
    verify.add_argument("file", metavar="FILE")
    verify.add_argument("--key", metavar="KEYFILE", help="HMAC secret, or Ed25519 public (or private) key")

    inspect = s.add_parser("inspect", help="print a bundle's manifest",
                           description="Print the manifest and whether the files match it. The signature is "
                           "checked only when --key is given.")
    inspect.add_argument("file", metavar="FILE")
    inspect.add_argument("--key", metavar="KEYFILE", help="also verify the signature with this key")
    inspect.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")

    keygen = s.add_parser("keygen", help="create a signing key",
                          description="hmac: PREFIX.key, a 32-byte secret shared by builder and verifier. "
                          "ed25519: PREFIX.key (private, for build) and PREFIX.pub (public, for verify). "
                          "Private key files are created with mode 0600.")
    keygen.add_argument("--type", choices=("hmac", "ed25519"), required=True, help="key type")
    keygen.add_argument("-o", "--output", required=True, metavar="PREFIX", help="path prefix of the key files")
    keygen.add_argument("--force", action="store_true", help="overwrite existing key files")


def _load_key(path: str | None):
    from guardrails.bundle import KeyFileError, load_key

    if path is None:
        return None
    try:
        return load_key(path)
    except KeyFileError as exc:
        raise UsageError(str(exc)) from None


def _signing_text(b) -> str:
    if b.signing is None:
        return "unsigned"
    state = "verified" if b.signature_verified else "not verified: pass --key"
    return f"signed with {b.signing['alg']}, key id {b.signing['key_id']} ({state})"


def _build(args: argparse.Namespace) -> int:
    from guardrails.bundle import KeyFileError, build_bundle

    if not Path(args.directory).is_dir():
        raise UsageError(f"{args.directory} is not a directory")
    out = Path(args.output)
    if not out.name.endswith(SUFFIXES):
        raise UsageError(f"{out}: a bundle's name must end in .bundle, .tar.gz or .tgz so loaders recognise it")
    if not out.parent.is_dir():
        raise UsageError(f"{out.parent} is not a directory")
    key = _load_key(args.key)
    try:
        result = build_bundle(args.directory, out, key=key, revision=args.revision, ner_model=args.ner_model)
    except (KeyFileError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        print(f"cannot write {out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    if not result.ok:
        errors = sum(d.is_error for d in result.diagnostics)
        print(render_all(result.diagnostics, result.sources), file=sys.stderr)
        print(f"cannot build {out}: {errors} error(s) in {args.directory}", file=sys.stderr)
        return 1
    if result.diagnostics:
        print(render_all(result.diagnostics, result.sources))
    m = result.manifest
    kinds = [p["kind"] for p in m["policies"]]
    tests = sum(f["path"].endswith(".tests.yaml") for f in m["files"])
    signed = f"signed with {m['signing']['alg']}, key id {m['signing']['key_id']}" if m["signing"] else "unsigned"
    print(f"built {out}: revision {m['revision']}, {plural(kinds.count('policy'), 'policy', 'policies')}, "
          f"{plural(kinds.count('module'), 'module')}, {plural(tests, 'test file')}; {signed}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from guardrails.bundle import verify_bundle

    b = verify_bundle(args.file, key=_load_key(args.key))
    if not b.ok:
        errors = [d for d in b.diagnostics if d.is_error]
        print(render_all(b.diagnostics, {}), file=sys.stderr)
        print(f"{args.file}: does not verify: {len(errors)} problem(s)", file=sys.stderr)
        return 1
    print(f"ok: {args.file}: revision {b.revision}, {len(b.files)} files intact; {_signing_text(b)}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from guardrails.bundle import verify_bundle

    b = verify_bundle(args.file, key=_load_key(args.key), require_signature=False)
    m = b.manifest
    if m is None:
        print(render_all(b.diagnostics, {}), file=sys.stderr)
        print(f"{args.file}: cannot show the manifest", file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps(m, indent=2, sort_keys=True))
    else:
        print(f"bundle     {args.file}")
        print(f"format     {m['format']} {m['format_version']}")
        print(f"revision   {m['revision']}")
        print(f"built      {m['built_at']} by {m['builder']}")
        print(f"signature  {_signing_text(b)}")
        print("policies")
        width = max((len(p["name"]) for p in m["policies"]), default=0)
        for p in m["policies"]:
            digest = f"  digest {p['digest'][:12]}" if p.get("digest") else ""
            print(f"  {p['name']:<{width}}  {p['version']:<8} {p['kind']:<6}  {p['file']}{digest}")
        print("files")
        for f in m["files"]:
            print(f"  {f['size']:>8}  {f['sha256'][:16]}  {f['path']}")
    status = sys.stdout if args.format == "text" else sys.stderr
    if b.ok:
        print("integrity  ok: every file matches the manifest", file=status)
    else:
        print(render_all(b.diagnostics, {}), file=sys.stderr)
        print(f"integrity  FAILED: {sum(d.is_error for d in b.diagnostics)} problem(s), listed above", file=status)
    return 0


def _keygen(args: argparse.Namespace) -> int:
    from guardrails.bundle import KeyFileError, generate_key

    try:
        key, paths = generate_key(args.type, args.output, force=args.force)
    except KeyFileError as exc:
        print(f"guardrails bundle keygen: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        raise UsageError(f"cannot write key file: {exc.strerror or exc}") from None
    for p in paths:
        role = "private, keep secret" if p.suffix == ".key" else "public, for verify"
        print(f"wrote {p} ({role})")
    print(f"{key.alg} key id {key.key_id}")
    return 0


def run(args: argparse.Namespace) -> int:
    commands = {"build": _build, "verify": _verify, "inspect": _inspect, "keygen": _keygen}
    if args.bundle_command is None:
        raise UsageError("missing subcommand: build, verify, inspect or keygen")
    return commands[args.bundle_command](args)

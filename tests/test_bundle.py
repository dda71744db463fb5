"""Policy bundles: build, verify, inspect and keygen as real CLI subprocesses;
HMAC and Ed25519 signing; tamper detection as properties (any changed byte of
any member, any added or removed member, any changed byte or truncation of the
archive file); loading bundles into the engine, side by side with other
versions; and `guardrails check --against`."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardrails import Engine, GuardrailsError, Outcome, PolicyError
from guardrails.bundle import (
    MANIFEST,
    SIGNATURE,
    BundleError,
    KeyFileError,
    _canonical_json,
    _pack,
    build_bundle,
    generate_key,
    load_key,
    read_bundle_sources,
    verify_bundle,
    verify_bytes,
)
from guardrails.bundle.archive import unpack
from guardrails.cli import main
from guardrails.diagnostics import Diagnostics

ROOT = Path(__file__).resolve().parent.parent
PROPS = settings(max_examples=150, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow])

BASE = 'module "base" version "1.0.0"\ninput {\n  rule no-secret: deny "secret" when text contains "s3cret"\n}\n'
GREETER = 'policy "greeter" version "{version}"\nimport "base"\ninput {{\n  rule no-x: deny "{banned} is banned" ' \
          'when text contains "{banned}"\n}}\n'
TESTS = "cases:\n  - stage: input\n    request: {text: hello}\n    want: {outcome: allow}\n"


def write_policies(d: Path, *, version: str = "1.0.0", banned: str = "xyzzy", base: bool = True,
                   imports: bool = True) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    if base:
        (d / "base.policy").write_text(BASE)
    (d / "teams").mkdir(exist_ok=True)
    text = GREETER.format(version=version, banned=banned)
    (d / "teams" / "greeter.policy").write_text(text if imports else text.replace('import "base"\n', ""))
    (d / "teams" / "greeter.tests.yaml").write_text(TESTS)
    (d / "notes.txt").write_text("not bundled\n")
    return d


def cli(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    proc = subprocess.run([sys.executable, "-m", "guardrails.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, stdin=subprocess.DEVNULL,
                          env={**os.environ, **(env or {})})
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def members_of(data: bytes) -> list[tuple[str, bytes]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar]


def named(bundle, text: str) -> bool:
    """Whether some diagnostic names `text` in its location or message."""
    return any(text in d.span.file or text in d.message for d in bundle.diagnostics)


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    return write_policies(tmp_path_factory.mktemp("src") / "policies")


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("keys")
    generate_key("hmac", d / "hmac")
    generate_key("hmac", d / "other-hmac")
    generate_key("ed25519", d / "ed")
    generate_key("ed25519", d / "other-ed")
    return {"hmac": d / "hmac.key", "other-hmac": d / "other-hmac.key", "ed": d / "ed.key",
            "ed.pub": d / "ed.pub", "other-ed.pub": d / "other-ed.pub"}


@pytest.fixture(scope="module")
def built(src, keys, tmp_path_factory) -> dict[str, Path]:
    """One bundle per signing mode, built through the API."""
    d = tmp_path_factory.mktemp("built")
    out = {}
    for mode, key in (("none", None), ("hmac", keys["hmac"]), ("ed25519", keys["ed"])):
        out[mode] = d / f"{mode}.bundle"
        assert build_bundle(src, out[mode], key=key).ok
    return out


# ---- the CLI: build, verify, inspect, keygen ---------------------------------------


def test_build_verify_inspect_round_trip(src, tmp_path):
    out = tmp_path / "p.bundle"
    built = cli("bundle", "build", src, "-o", out)
    assert built.returncode == 0, built.stderr
    assert re.fullmatch(r"built .*p\.bundle: revision [0-9a-f]{12}, 1 policy, 1 module, 1 test file; "
                        r"unsigned\n", built.stdout)

    ok = cli("bundle", "verify", out)
    assert ok.returncode == 0, ok.stderr
    assert "3 files intact; unsigned" in ok.stdout

    shown = cli("bundle", "inspect", out)
    assert shown.returncode == 0
    for text in ("format     guardlang-bundle 1", "greeter", "1.0.0", "policies/teams/greeter.policy",
                 "policies/teams/greeter.tests.yaml", "policies/base.policy", "integrity  ok"):
        assert text in shown.stdout
    assert "notes.txt" not in shown.stdout

    manifest = json.loads(cli("bundle", "inspect", out, "--format", "json").stdout)
    assert manifest["format"] == "guardlang-bundle" and manifest["format_version"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", manifest["built_at"])
    assert manifest["signing"] is None
    assert [(p["name"], p["kind"], p["version"]) for p in manifest["policies"]] == [
        ("base", "module", "1.0.0"), ("greeter", "policy", "1.0.0")]
    files = {f["path"]: f for f in manifest["files"]}
    assert sorted(files) == ["policies/base.policy", "policies/teams/greeter.policy",
                             "policies/teams/greeter.tests.yaml"]
    for path, f in files.items():
        data = (src / path.removeprefix("policies/")).read_bytes()
        assert f == {"path": path, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    # The digest recorded for a policy is the one its decisions report.
    digest = next(p["digest"] for p in manifest["policies"] if p["name"] == "greeter")
    assert Engine.from_path(out).check_input("hi").policy.digest == digest


def test_revision_defaults_to_a_content_hash_and_can_be_set(src, tmp_path):
    a = build_bundle(src, tmp_path / "a.bundle").manifest
    b = build_bundle(src, tmp_path / "b.bundle", built_at="2000-01-01T00:00:00Z").manifest
    assert a["revision"] == b["revision"]  # same content, same revision, whatever the time
    changed = write_policies(tmp_path / "changed", banned="plugh")
    assert build_bundle(changed, tmp_path / "c.bundle").manifest["revision"] != a["revision"]

    proc = cli("bundle", "build", src, "-o", tmp_path / "r.tgz", "--revision", "release-42")
    assert proc.returncode == 0 and "revision release-42" in proc.stdout
    assert json.loads(cli("bundle", "inspect", tmp_path / "r.tgz", "--format", "json").stdout)[
        "revision"] == "release-42"


def test_builds_are_deterministic(src, tmp_path):
    env = {"SOURCE_DATE_EPOCH": "1700000000"}
    for name in ("one", "two"):
        assert cli("bundle", "build", src, "-o", tmp_path / f"{name}.bundle", env=env).returncode == 0
    one, two = (tmp_path / "one.bundle").read_bytes(), (tmp_path / "two.bundle").read_bytes()
    assert one == two
    assert json.loads(dict(members_of(one))[MANIFEST])["built_at"] == "2023-11-14T22:13:20Z"

    # Without a fixed time only the manifest's build time differs.
    build_bundle(src, tmp_path / "later.bundle", built_at="2030-01-01T00:00:00Z")
    a, b = dict(members_of(one)), dict(members_of((tmp_path / "later.bundle").read_bytes()))
    assert {n: d for n, d in a.items() if n not in (MANIFEST, SIGNATURE)} == \
           {n: d for n, d in b.items() if n not in (MANIFEST, SIGNATURE)}
    ma, mb = json.loads(a[MANIFEST]), json.loads(b[MANIFEST])
    assert {**ma, "built_at": None} == {**mb, "built_at": None}

    with tarfile.open(fileobj=io.BytesIO(one), mode="r:gz") as tar:
        infos = tar.getmembers()
    assert [i.name for i in infos] == sorted(i.name for i in infos)
    assert {(i.mtime, i.uid, i.gid, i.uname, i.gname, i.mode) for i in infos} == {(0, 0, 0, "", "", 0o644)}


def test_build_refuses_policies_with_errors(tmp_path):
    d = write_policies(tmp_path / "bad")
    (d / "teams" / "broken.policy").write_text('policy "broken" version "1.0.0"\ninput { rule r: deny when text '
                                               'matches nothing_defined }\n')
    out = tmp_path / "x.bundle"
    proc = cli("bundle", "build", d, "-o", out)
    assert proc.returncode == 1
    assert re.search(r"broken\.policy:2:\d+: error\[E\d{3}\]: ", proc.stderr), proc.stderr
    assert "cannot build" in proc.stderr and not out.exists()


@pytest.mark.parametrize("args, message", [
    (["bundle"], "missing subcommand"),
    (["bundle", "build", "nowhere", "-o", "x.bundle"], "not a directory"),
    (["bundle", "build", "policies", "-o", "x.zip"], "must end in .bundle"),
    (["bundle", "build", "policies", "-o", "x.bundle", "--key", "no-such-key"], "cannot read key file"),
    (["bundle", "build", "policies", "-o", "x.bundle", "--revision", " "], "revision"),
])
def test_usage_errors_exit_2(args, message):
    proc = cli(*args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_keygen_makes_private_keys_0600_and_never_overwrites(tmp_path):
    proc = cli("bundle", "keygen", "--type", "ed25519", "-o", tmp_path / "k")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "k.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "k.pub").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "k.key").read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert re.search(r"ed25519 key id [0-9a-f]{16}", proc.stdout)
    again = cli("bundle", "keygen", "--type", "ed25519", "-o", tmp_path / "k")
    assert again.returncode == 1 and "already exists" in again.stderr

    assert cli("bundle", "keygen", "--type", "hmac", "-o", tmp_path / "h").returncode == 0
    assert (tmp_path / "h.key").stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "h.pub").exists()
    assert load_key(tmp_path / "h.key").alg == "hmac-sha256"


# ---- signing -------------------------------------------------------------------


@pytest.mark.parametrize("kind, sign, verify", [("hmac", "hmac", "hmac"), ("ed25519", "ed", "ed.pub"),
                                                ("ed25519", "ed", "ed")])
def test_signed_round_trip_through_the_cli(src, keys, tmp_path, kind, sign, verify):
    out = tmp_path / "s.bundle"
    built = cli("bundle", "build", src, "-o", out, "--key", keys[sign])
    assert built.returncode == 0 and f"signed with {'hmac-sha256' if kind == 'hmac' else kind}" in built.stdout

    ok = cli("bundle", "verify", out, "--key", keys[verify])
    assert ok.returncode == 0, ok.stderr
    assert "(verified)" in ok.stdout

    unkeyed = cli("bundle", "verify", out)
    assert unkeyed.returncode == 1
    assert "is signed" in unkeyed.stderr and "no key was given" in unkeyed.stderr

    shown = cli("bundle", "inspect", out)  # inspecting needs no key
    assert shown.returncode == 0 and "not verified: pass --key" in shown.stdout


@pytest.mark.parametrize("mode, key, message", [
    ("hmac", "other-hmac", "signed by key id"),
    ("hmac", "ed.pub", "signed with hmac-sha256, but the key given is an Ed25519 key"),
    ("ed25519", "other-ed.pub", "signed by key id"),
    ("ed25519", "hmac", "signed with ed25519, but the key given is an HMAC secret"),
    ("none", "hmac", "not signed, but a key was given"),
    ("none", "ed.pub", "not signed, but a key was given"),
])
def test_wrong_or_unexpected_keys_are_refused(built, keys, mode, key, message):
    proc = cli("bundle", "verify", built[mode], "--key", keys[key])
    assert proc.returncode == 1
    assert message in proc.stderr and str(built[mode]) in proc.stderr


def test_signing_needs_a_private_key(src, keys, tmp_path):
    with pytest.raises(KeyFileError, match="public key; signing needs the private key"):
        build_bundle(src, tmp_path / "x.bundle", key=keys["ed.pub"])
    proc = cli("bundle", "build", src, "-o", tmp_path / "x.bundle", "--key", keys["ed.pub"])
    assert proc.returncode == 2 and "signing needs the private key" in proc.stderr
    assert not (tmp_path / "x.bundle").exists()


def test_a_resealed_manifest_does_not_pass_a_signature_check(built, keys, tmp_path):
    """Whoever edits a signed bundle can recompute every checksum, but not the signature."""
    for mode, key in (("hmac", keys["hmac"]), ("ed25519", keys["ed.pub"])):
        members = dict(members_of(built[mode].read_bytes()))
        members["policies/teams/greeter.policy"] = GREETER.format(version="1.0.0", banned="zzz").encode()
        seal = json.loads(members[SIGNATURE])
        manifest = json.loads(members[MANIFEST])
        for f in manifest["files"]:
            data = members[f["path"]]
            f.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        members[MANIFEST] = _canonical_json(manifest)
        seal["manifest_sha256"] = hashlib.sha256(members[MANIFEST]).hexdigest()
        members[SIGNATURE] = _canonical_json(seal)
        b = verify_bytes(_pack(members.items()), "t.bundle", key=load_key(key))
        assert [d.message for d in b.diagnostics] == [
            "the signature does not verify: the manifest or signature was changed"]


# ---- tampering -----------------------------------------------------------------


def test_verify_lists_every_changed_missing_and_extra_file(built, tmp_path):
    members = dict(members_of(built["none"].read_bytes()))
    members["policies/base.policy"] += b"\n"
    members["policies/teams/greeter.tests.yaml"] = b"cases: []\n"
    del members["policies/teams/greeter.policy"]
    members["policies/teams/sneaky.policy"] = b'policy "sneaky" version "1.0.0"\n'
    bad = tmp_path / "bad.bundle"
    bad.write_bytes(_pack(members.items()))
    proc = cli("bundle", "verify", bad)
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if "error[" in ln]
    assert lines == [
        f"{bad}!policies/base.policy:1:1: error[E803]: changed since the build: " + lines[0].split("build: ")[1],
        f"{bad}!policies/teams/greeter.policy:1:1: error[E804]: listed in the manifest but missing from the archive",
        f"{bad}!policies/teams/greeter.tests.yaml:1:1: error[E803]: changed since the build: "
        + lines[2].split("build: ")[1],
        f"{bad}!policies/teams/sneaky.policy:1:1: error[E805]: not listed in the manifest (added after the build?)",
    ]
    assert "does not verify: 4 problem(s)" in proc.stderr

    shown = cli("bundle", "inspect", bad)  # still shows the manifest, and says what is wrong
    assert shown.returncode == 0 and "greeter" in shown.stdout
    assert "integrity  FAILED: 4 problem(s)" in shown.stdout and "sneaky.policy" in shown.stderr


def test_a_changed_byte_and_a_truncated_archive_fail_cleanly(built, tmp_path):
    data = built["none"].read_bytes()
    flipped = tmp_path / "flipped.bundle"
    flipped.write_bytes(data[:500] + bytes([data[500] ^ 0x20]) + data[501:])
    proc = cli("bundle", "verify", flipped)
    assert proc.returncode == 1 and f"{flipped}:1:1: error[E801]: corrupt archive" in proc.stderr

    short = tmp_path / "short.bundle"
    short.write_bytes(data[: len(data) // 2])
    proc = cli("bundle", "verify", short)
    assert proc.returncode == 1 and f"{short}:1:1: error[E801]: truncated archive" in proc.stderr

    for name, content, message in [("empty.bundle", b"", "truncated archive: only 0 bytes"),
                                   ("text.bundle", b"policy 'x' version '1'\n" * 3, "not a gzip file"),
                                   ("plain.tar.gz", _pack([]), "manifest.json is missing")]:
        (tmp_path / name).write_bytes(content)
        proc = cli("bundle", "verify", tmp_path / name)
        assert proc.returncode == 1 and message in proc.stderr, proc.stderr
    proc = cli("bundle", "verify", tmp_path / "absent.bundle")
    assert proc.returncode == 1 and "cannot read bundle" in proc.stderr
    # `eval` on a damaged bundle refuses it the same way.
    proc = cli("eval", short, "--stage", "input", "--text", "hi")
    assert proc.returncode == 1 and "truncated archive" in proc.stderr


MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 16), st.integers(0, 1 << 20), st.integers(1, 255)),
    st.tuples(st.just("remove"), st.integers(0, 1 << 16)),
    st.tuples(st.just("add"), st.sampled_from([MANIFEST, SIGNATURE, "policies/base.policy", "policies/new.policy",
                                               "policies/teams/x.tests.yaml", "extra.txt", "policies/../x"]),
              st.binary(max_size=40)),
)


@pytest.mark.parametrize("mode", ["none", "hmac", "ed25519"])
@PROPS
@given(mutation=MUTATION)
def test_any_member_level_change_is_detected(built, keys, mode, mutation):
    key = {"none": None, "hmac": load_key(keys["hmac"]), "ed25519": load_key(keys["ed.pub"])}[mode]
    members = members_of(built[mode].read_bytes())
    assert verify_bytes(_pack(members), "t.bundle", key=key).ok
    if mutation[0] == "flip":
        _, which, offset, xor = mutation
        name, data = members[which % len(members)]
        offset %= len(data)
        members[which % len(members)] = (name, data[:offset] + bytes([data[offset] ^ xor]) + data[offset + 1:])
    elif mutation[0] == "remove":
        name, _ = members.pop(mutation[1] % len(members))
    else:
        _, name, data = mutation
        members.append((name, data))
    b = verify_bytes(_pack(members), "t.bundle", key=key)
    assert not b.ok
    assert named(b, name), [d.render() for d in b.diagnostics]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("scratch") / "t.bundle"


@PROPS
@given(offset=st.integers(0, 1 << 20), xor=st.integers(1, 255))
def test_any_changed_byte_of_the_archive_file_is_detected(built, scratch, offset, xor):
    """A changed byte fails verification unless the archive still unpacks to
    exactly the same members: deflate can encode the same bytes in more than
    one way (a match's distance into another run of zeros of the tar), and
    such a change alters nothing the digests and signature protect."""
    data = built["none"].read_bytes()
    offset %= len(data)
    changed = data[:offset] + bytes([data[offset] ^ xor]) + data[offset + 1:]
    scratch.write_bytes(changed)
    if main(["bundle", "verify", str(scratch)]) == 1:  # an exception would fail the test
        return
    same, original = Diagnostics(), Diagnostics()
    assert unpack(changed, "t.bundle", same) == unpack(data, "t.bundle", original)
    assert not same.errors and not original.errors


def test_a_change_that_decodes_to_the_same_content_is_not_a_content_change(built):
    """Exhaustively, over every byte of the deflate stream and every change to
    it: the few changes that verify (redundant encodings) each unpack to the
    original members."""
    data = built["none"].read_bytes()
    passed = []
    for offset in range(10, len(data) - 8):
        for xor in range(1, 256):
            changed = data[:offset] + bytes([data[offset] ^ xor]) + data[offset + 1:]
            if verify_bytes(changed, "t.bundle").ok:
                passed.append(changed)
    assert len(passed) < 10, len(passed)  # rare: everything else is caught
    for changed in passed:
        assert unpack(changed, "t.bundle", Diagnostics()) == unpack(data, "t.bundle", Diagnostics())


def test_every_change_to_the_container_bytes_is_detected(built):
    """Exhaustively, where gzip has fields no checksum covers: the header,
    the trailer, and the last deflate byte with its padding bits."""
    data = built["none"].read_bytes()
    for offset in [*range(10), *range(len(data) - 9, len(data))]:
        for xor in range(1, 256):
            changed = data[:offset] + bytes([data[offset] ^ xor]) + data[offset + 1:]
            assert not verify_bytes(changed, "t.bundle").ok, (offset, xor)
    assert not verify_bytes(data + b"\0", "t.bundle").ok


def test_every_truncation_is_detected(built):
    data = built["hmac"].read_bytes()
    for n in range(len(data)):
        b = verify_bytes(data[:n], "t.bundle")
        assert not b.ok and b.diagnostics[0].code == "E801", n


# ---- the engine ----------------------------------------------------------------


def test_engine_loads_a_bundle_and_names_its_members(built, keys):
    e = Engine.from_path(built["none"])
    d = e.check_input("say xyzzy", policy="greeter")
    assert d.outcome is Outcome.DENY and d.policy.version == "1.0.0"
    assert e.check_input("my s3cret", policy="greeter").rule_ids == ["base/no-secret"]
    paths = sorted(s.path for s in read_bundle_sources(built["none"]))
    assert paths == [f"{built['none']}!policies/base.policy", f"{built['none']}!policies/teams/greeter.policy"]

    for key in (keys["hmac"], str(keys["hmac"]), keys["hmac"].read_bytes(), load_key(keys["hmac"])):
        assert Engine.from_path(built["hmac"], bundle_key=key).policy_names() == ["greeter"]
    assert Engine.from_path(built["ed25519"], bundle_key=keys["ed.pub"]).policy_names() == ["greeter"]


@pytest.mark.parametrize("mode, key, message", [
    ("hmac", None, "is signed (hmac-sha256, key id"),
    ("ed25519", None, "is signed (ed25519, key id"),
    ("hmac", "other-hmac", "signed by key id"),
    ("ed25519", "other-ed.pub", "signed by key id"),
    ("none", "hmac", "not signed, but a key was given"),
])
def test_engine_refuses_bundles_that_do_not_verify(built, keys, mode, key, message):
    with pytest.raises(BundleError) as info:
        Engine.from_path(built[mode], bundle_key=keys[key] if key else None)
    assert isinstance(info.value, GuardrailsError) and isinstance(info.value, PolicyError)
    assert str(info.value).startswith(f"bundle {built[mode]} does not verify: ")
    assert message in str(info.value)
    assert message in info.value.render()


def test_engine_refuses_a_tampered_bundle_and_a_bad_key_file(built, tmp_path):
    members = dict(members_of(built["none"].read_bytes()))
    members["policies/teams/greeter.policy"] = members["policies/teams/greeter.policy"].replace(b"xyzzy", b"xyzzz")
    bad = tmp_path / "bad.bundle"
    bad.write_bytes(_pack(members.items()))
    with pytest.raises(BundleError, match=r"bad\.bundle!policies/teams/greeter\.policy: changed since the build"):
        Engine.from_path(bad)
    (tmp_path / "short.key").write_bytes(b"too short")
    with pytest.raises(BundleError, match="HMAC secret needs at least 16 bytes"):
        Engine.from_path(built["hmac"], bundle_key=tmp_path / "short.key")


def test_policy_errors_inside_a_bundle_point_into_the_member(built, tmp_path):
    """An unsigned bundle can be resealed by anyone (checksums are not
    signatures); its policies are still checked, with locations in the bundle."""
    members = dict(members_of(built["none"].read_bytes()))
    members["policies/teams/greeter.policy"] = b'policy "greeter" version "1.0.0"\ninput { rule r: deny when }\n'
    manifest = json.loads(members[MANIFEST])
    for f in manifest["files"]:
        f.update(sha256=hashlib.sha256(members[f["path"]]).hexdigest(), size=len(members[f["path"]]))
    members[MANIFEST] = _canonical_json(manifest)
    members[SIGNATURE] = _canonical_json({"alg": "none", "manifest_sha256": hashlib.sha256(members[MANIFEST])
                                          .hexdigest()})
    resealed = tmp_path / "resealed.bundle"
    resealed.write_bytes(_pack(members.items()))
    assert verify_bundle(resealed).ok
    with pytest.raises(PolicyError) as info:
        Engine.from_path(resealed)
    first = info.value.diagnostics[0]
    assert first.span.file == f"{resealed}!policies/teams/greeter.policy" and first.span.line == 2
    assert "deny when }" in info.value.render()  # the source line, with its caret


def test_versions_side_by_side_from_a_bundle_and_a_directory(tmp_path):
    old = tmp_path / "old.bundle"
    assert build_bundle(write_policies(tmp_path / "v1", version="1.0.0", banned="xyzzy"), old).ok
    new_dir = write_policies(tmp_path / "v2", version="2.0.0", banned="plugh", base=False)
    e = Engine.from_path([old, new_dir])
    assert e.check_input("say plugh", policy="greeter").outcome is Outcome.DENY  # newest by default
    assert e.check_input("say xyzzy", policy="greeter").outcome is Outcome.ALLOW
    pinned = e.check_input("say xyzzy", policy="greeter@1.0.0")
    assert pinned.outcome is Outcome.DENY and pinned.policy.version == "1.0.0"
    assert e.check_input("say plugh", policy="greeter@1.0.0").outcome is Outcome.ALLOW
    assert e.get_policy("greeter@2.0.0").version == "2.0.0"


def test_versions_side_by_side_from_two_bundles(tmp_path, keys):
    # Self-contained policies: a bundle must hold its imports, and two bundles
    # holding the same module version clash (E703) when loaded together.
    one, two = tmp_path / "one.bundle", tmp_path / "two.bundle"
    for d, out, version, banned in ((tmp_path / "a", one, "1.2.0", "xyzzy"), (tmp_path / "b", two, "1.10.0", "plugh")):
        assert build_bundle(write_policies(d, version=version, banned=banned, base=False, imports=False), out,
                            key=keys["hmac"]).ok
    e = Engine.from_path([two, one], bundle_key=keys["hmac"])
    assert sorted(p.version for p in e.policies if p.name == "greeter") == ["1.10.0", "1.2.0"]
    assert e.get_policy("greeter").version == "1.10.0"  # semantic, not string, order
    assert e.check_input("xyzzy", policy="greeter@1.2.0").outcome is Outcome.DENY
    assert e.check_input("xyzzy", policy="greeter").outcome is Outcome.ALLOW


def test_one_version_with_two_contents_is_refused(tmp_path, built):
    with pytest.raises(PolicyError, match="E703") as info:
        Engine.from_path([built["none"], write_policies(tmp_path / "same", banned="plugh", base=False)])
    assert f"{built['none']}!policies/teams/greeter.policy" in info.value.render()


# ---- check --against -----------------------------------------------------------


@pytest.fixture(scope="module")
def old(src, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("old") / "old.bundle"
    assert build_bundle(src, out).ok
    return out


def test_check_against_fails_when_content_changed_without_a_bump(old, tmp_path):
    d = write_policies(tmp_path / "p", version="1.0.0", banned="plugh")
    proc = cli("check", d, "--against", old)
    assert proc.returncode == 1
    assert re.search(rf"greeter\.policy:1:\d+: error\[E807\]: policy 'greeter' changed since {re.escape(str(old))} "
                     r"\(revision [0-9a-f]{12}\) but its version is still 1\.0\.0", proc.stderr), proc.stderr
    assert "bump the version (to 1.0.1 or later)" in proc.stderr

    report = json.loads(cli("check", d, "--against", old, "--format", "json").stdout)
    assert not report["ok"] and [x["code"] for x in report["diagnostics"]] == ["E807"]


def test_check_against_also_covers_modules(old, tmp_path):
    d = write_policies(tmp_path / "p")
    (d / "base.policy").write_text(BASE.replace("s3cret", "hunter2"))
    proc = cli("check", d, "--against", old)
    assert proc.returncode == 1 and "module 'base' changed" in proc.stderr
    assert "'greeter'" not in proc.stderr  # its own source did not change


@pytest.mark.parametrize("version, banned, newline", [
    ("1.0.1", "plugh", "\n"),  # changed and bumped
    ("1.0.0", "xyzzy", "\n"),  # unchanged
    ("1.0.0", "xyzzy", "\r\n"),  # only line endings changed: the same text when loaded
])
def test_check_against_passes_bumped_or_unchanged_policies(old, tmp_path, version, banned, newline):
    d = write_policies(tmp_path / "p", version=version, banned=banned)
    p = d / "teams" / "greeter.policy"
    p.write_bytes(p.read_bytes().replace(b"\n", newline.encode()))
    proc = cli("check", d, "--against", old)
    assert proc.returncode == 0, proc.stderr
    assert "no policy changed without a version bump" in proc.stdout


def test_check_against_a_signed_bundle_needs_its_key(built, keys, tmp_path):
    d = write_policies(tmp_path / "p", banned="plugh")
    unkeyed = cli("check", d, "--against", built["hmac"])
    assert unkeyed.returncode == 1 and "no key was given" in unkeyed.stderr
    keyed = cli("check", built["hmac"], "--against", built["hmac"], "--key", keys["hmac"])
    assert keyed.returncode == 0, keyed.stderr
    assert cli("check", d, "--against", tmp_path / "nope.bundle").returncode == 2

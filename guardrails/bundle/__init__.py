"""Policy bundles: one verifiable, optionally signed archive per release of a policy set.

A bundle is a gzip-compressed tar archive (``.bundle``, ``.tar.gz`` or
``.tgz``) holding::

    manifest.json                 what the bundle holds (below)
    policies/<path>.policy        policy and module sources, byte for byte
    policies/<path>.tests.yaml    their policy tests
    signature.json                the manifest's checksum, and its signature

Build one with ``guardrails bundle build DIR -o FILE`` (or :func:`build_bundle`)
and load it like a directory: ``Engine.from_path("x.bundle", bundle_key=...)``.

**Deterministic.** Entries are sorted by name; every tar header has mtime 0,
uid/gid 0, no owner names and mode 0644; the gzip header is fixed. The same
sources therefore give the same bytes apart from the manifest's build time,
and give identical bytes when ``SOURCE_DATE_EPOCH`` fixes that too (with the
same zlib; Ed25519 and HMAC signatures are deterministic).

**Manifest** (``format_version`` 1), JSON with sorted keys::

    format          "guardlang-bundle"
    format_version  1
    revision        --revision, or by default the content revision: the first
                    12 hex digits of sha256 over the sorted (path, sha256, size)
                    of the files. Equal sources give equal revisions on every
                    machine; a counter would need state outside the bundle.
    built_at        UTC ISO 8601, e.g. "2026-01-31T12:00:00Z"
    builder         "guardrails <version>"
    signing         null, or {"alg", "key_id"} of the signing key
    policies        [{name, kind, version, file, sha256, digest?}] where digest
                    (policies only) is the one decisions report
    files           [{path, sha256, size}] for every member but the two above

**Integrity chain.** ``signature.json`` covers ``manifest.json``: always its
sha256, and when signed an HMAC-SHA256 or Ed25519 signature over
``SIGNING_CONTEXT + manifest bytes``. The manifest covers every other member by
sha256 and size, and a member it does not list is an error. The manifest also
names the signing algorithm and key id, so the signature covers those too.
Verification fails when a signed bundle is read without a key, and when an
unsigned bundle is read with one (the key says a signature is expected).
Changes to the compressed container are caught too: the gzip header is fixed,
the trailer's CRC covers the archive, padding must be zero, and nothing may
follow the archive.

Keys (``guardrails bundle keygen``): an HMAC secret (armoured base64, or any
file of at least 16 raw bytes) shared by builder and verifier; or an Ed25519
key pair as PEM (PKCS#8 private key, SubjectPublicKeyInfo public key), which
needs the ``cryptography`` package (extra ``guardlang[signing]``). Verifying
takes the public key or the private one.

The modules: :mod:`.archive` is the format on disk (member names and limits,
canonical JSON and checksums, the manifest and seal, the .tar.gz itself),
:mod:`.keys` the signing keys, :mod:`.build` writes a bundle, and
:mod:`.read` verifies one and reads from it (the sources the engine loads,
the versions ``guardrails check --against`` compares).
"""

from __future__ import annotations

# Every public name stays importable from here (the package has no __all__, as the module had none).
from guardrails.bundle.archive import (  # noqa: F401
    ALGS, BUNDLE_CODES, FORMAT, FORMAT_VERSION, MANIFEST, MAX_ARCHIVE_BYTES, MAX_MEMBERS, MAX_UNPACKED_BYTES,
    POLICY_DIR, SIGNATURE, SIGNING_CONTEXT, TESTS_SUFFIX, build_time, content_revision, member_name_problem,
)
# The tests build tampered bundles with these, under their old names.
from guardrails.bundle.archive import canonical_json as _canonical_json, pack as _pack  # noqa: F401
from guardrails.bundle.build import BuildResult, build_bundle  # noqa: F401
from guardrails.bundle.keys import MIN_HMAC_SECRET, BundleKey, KeyFileError, generate_key, load_key, parse_key  # noqa: F401
from guardrails.bundle.read import (  # noqa: F401
    Bundle, BundleError, check_against, read_bundle, read_bundle_sources, verify_bundle, verify_bytes,
)

"""The policy directory the playground serves: what it lists, and the one way it writes.

The page edits copies held in the browser; nothing here writes unless the
user presses Save. A save names a path relative to the directory, and it is
refused unless that path stays inside the directory once every symlink is
followed, ends in ``.policy`` or ``.tests.yaml``, and its folder exists. The
write is atomic (a temporary file in the same folder, flushed, then
``os.replace``), so a reader sees the old file or the new one, never half.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

#: The files the page may open and save.
SUFFIXES = (".policy", ".tests.yaml", ".tests.yml")
#: A directory holding more than this many such files is not served whole.
MAX_FILES = 200
#: One file's size limit, in bytes, when listed or saved.
MAX_FILE_BYTES = 512 * 1024


class PathError(ValueError):
    """A path the playground will not read or write, and why."""


def is_editable(name: str) -> bool:
    return name.endswith(SUFFIXES)


def clean_relpath(raw: object) -> str:
    """`raw` as a relative POSIX path under the directory, or PathError.

    Checked as text first (no absolute path, no ``..``, no empty or hidden
    part, a known suffix), so a path is refused for what it says before the
    file system is asked anything.
    """
    if not isinstance(raw, str) or not raw or len(raw) > 400:
        raise PathError("a file path must be a non-empty string of at most 400 characters")
    if "\\" in raw or "\x00" in raw:
        raise PathError(f"{raw!r}: backslashes and NUL are not allowed in a path")
    p = PurePosixPath(raw)
    if p.is_absolute():
        raise PathError(f"{raw!r}: the path must be relative to the policy directory")
    if any(part in ("", ".", "..") or part.startswith(".") for part in p.parts):
        raise PathError(f"{raw!r}: '..', '.' and hidden parts are not allowed (the path must stay inside "
                        "the policy directory)")
    if not is_editable(p.name):
        raise PathError(f"{raw!r}: only {', '.join(SUFFIXES)} files can be opened or saved")
    return str(p)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class PolicyDir:
    """A directory of policies and their test files."""

    root: Path

    @classmethod
    def open(cls, path: str | Path) -> PolicyDir:
        """The directory at `path`, resolved; PathError when it is not one."""
        p = Path(path)
        if not p.exists():
            raise PathError(f"{path}: no such directory")
        if not p.is_dir():
            raise PathError(f"{path}: not a directory (give the folder that holds the .policy files)")
        return cls(p.resolve())

    def inside(self, rel: str) -> Path:
        """The real path of `rel` (checked by :func:`clean_relpath`), refused
        when a symlink on the way leads out of the directory."""
        target = self.root / clean_relpath(rel)
        real = target.resolve()
        if not real.is_relative_to(self.root):
            raise PathError(f"{rel!r}: leads outside the policy directory (through a symlink)")
        if target.is_symlink():
            raise PathError(f"{rel!r}: is a symlink; the playground saves regular files only")
        return real

    def listing(self) -> dict[str, str]:
        """Every editable file under the directory (hidden folders skipped,
        symlinks leading out ignored), relative path -> text."""
        out: dict[str, str] = {}
        for p in sorted(self.root.rglob("*")):
            rel = p.relative_to(self.root)
            if not is_editable(p.name) or any(part.startswith(".") for part in rel.parts):
                continue
            try:
                real = self.inside(rel.as_posix())
            except PathError:
                continue
            if not real.is_file() or real.stat().st_size > MAX_FILE_BYTES:
                continue
            try:
                out[rel.as_posix()] = real.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if len(out) >= MAX_FILES:
                break
        return out

    def save(self, rel: str, text: str, expected: str | None = None) -> str:
        """Write `text` to `rel` atomically and return its digest.

        ``expected`` is the digest of the text the page loaded (``""`` for a
        new file): when the file on disk no longer matches it, someone else
        changed it, and the save is refused rather than lost.
        """
        if not isinstance(text, str):
            raise PathError("the file text must be a string")
        try:
            data = text.encode("utf-8", "strict")
        except UnicodeEncodeError as exc:
            raise PathError(f"{rel}: the text is not valid Unicode at character {exc.start}") from None
        if len(data) > MAX_FILE_BYTES:
            raise PathError(f"{rel}: {len(data)} bytes is over the {MAX_FILE_BYTES}-byte limit of one file")
        real = self.inside(rel)
        if not real.parent.is_dir():
            raise PathError(f"{rel!r}: the folder {real.parent.relative_to(self.root)} does not exist")
        if real.exists() and not real.is_file():
            raise PathError(f"{rel!r}: is not a regular file")
        if expected is not None:
            now = digest(real.read_text(encoding="utf-8")) if real.exists() else ""
            if now != expected:
                raise ConflictError(f"{rel}: the file changed on disk since it was loaded; reload it first")
        mode = real.stat().st_mode & 0o777 if real.exists() else 0o644
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=real.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, real)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest(text)


class ConflictError(PathError):
    """The file changed on disk since the page loaded it."""


__all__ = [
    "MAX_FILES",
    "MAX_FILE_BYTES",
    "SUFFIXES",
    "ConflictError",
    "PathError",
    "PolicyDir",
    "clean_relpath",
    "digest",
    "is_editable",
]

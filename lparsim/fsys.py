"""The z/OS UNIX files of one simulated LPAR, kept under a host directory.

`/etc/pagent.conf` on the LPAR is `<root>/etc/pagent.conf` on the host. Every path is
normalised as an absolute z/OS path first, so `..` can never climb out of the root, and
symbolic links are not followed out of it either.
"""

from __future__ import annotations

import errno
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path


class ZosPathError(OSError):
    """A z/OS UNIX path that names nothing, or names the wrong kind of thing."""


@dataclass(frozen=True, slots=True)
class FileInfo:
    name: str
    is_dir: bool
    size: int
    mode: int
    mtime: float


def normalise(path: str) -> str:
    """`/etc/../etc//pagent.conf` -> `/etc/pagent.conf`; relative paths start at `/`."""
    joined = posixpath.normpath(posixpath.join("/", path))
    # normpath keeps a leading `//` (POSIX allows it to mean something else); we do not.
    return "/" + joined.lstrip("/")


class ZosFileSystem:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def host_path(self, path: str) -> Path:
        """The host file for a z/OS path; refuses anything that resolves outside the root."""
        relative = normalise(path).lstrip("/")
        candidate = self.root / relative if relative else self.root
        resolved = candidate.resolve()
        if resolved != self.root and self.root not in resolved.parents:
            raise ZosPathError(errno.EACCES, "EDC5111I Permission denied.", path)
        return candidate

    def exists(self, path: str) -> bool:
        return self.host_path(path).exists()

    def is_file(self, path: str) -> bool:
        return self.host_path(path).is_file()

    def is_dir(self, path: str) -> bool:
        return self.host_path(path).is_dir()

    def read_bytes(self, path: str) -> bytes:
        host = self.host_path(path)
        if host.is_dir():
            raise ZosPathError(errno.EISDIR, "EDC5123I Is a directory.", path)
        try:
            return host.read_bytes()
        except FileNotFoundError:
            raise ZosPathError(errno.ENOENT, "EDC5129I No such file or directory.", path) from None

    def read_text(self, path: str) -> str:
        return self.read_bytes(path).decode("utf-8", errors="replace")

    def write_bytes(self, path: str, data: bytes, *, make_parents: bool = False) -> bool:
        """Writes a file atomically; returns True when it was created."""
        host = self.host_path(path)
        if host.is_dir():
            raise ZosPathError(errno.EISDIR, "EDC5123I Is a directory.", path)
        if make_parents:
            host.parent.mkdir(parents=True, exist_ok=True)
        elif not host.parent.is_dir():
            raise ZosPathError(errno.ENOENT, "EDC5129I No such file or directory.", path)
        created = not host.exists()
        tmp = host.with_name(f".{host.name}.lparsim-tmp")
        tmp.write_bytes(data)
        os.replace(tmp, host)
        return created

    def write_text(self, path: str, text: str, *, make_parents: bool = False) -> bool:
        return self.write_bytes(path, text.encode("utf-8"), make_parents=make_parents)

    def append_text(self, path: str, text: str) -> None:
        host = self.host_path(path)
        host.parent.mkdir(parents=True, exist_ok=True)
        with host.open("a", encoding="utf-8") as file:
            file.write(text)

    def seed(self, path: str, text: str) -> bool:
        """Writes `text` only when the file does not exist yet; True when it wrote."""
        if self.exists(path):
            return False
        self.write_text(path, text, make_parents=True)
        return True

    def mkdir(self, path: str) -> None:
        host = self.host_path(path)
        if host.exists():
            raise ZosPathError(errno.EEXIST, "EDC5117I File exists.", path)
        if not host.parent.is_dir():
            raise ZosPathError(errno.ENOENT, "EDC5129I No such file or directory.", path)
        host.mkdir()

    def list(self, path: str) -> list[FileInfo]:
        host = self.host_path(path)
        if not host.exists():
            raise ZosPathError(errno.ENOENT, "EDC5129I No such file or directory.", path)
        if not host.is_dir():
            raise ZosPathError(errno.ENOTDIR, "EDC5135I Not a directory.", path)
        infos = []
        for entry in sorted(host.iterdir()):
            if entry.name.endswith(".lparsim-tmp"):
                continue
            stat = entry.lstat()
            infos.append(
                FileInfo(entry.name, entry.is_dir(), stat.st_size, stat.st_mode, stat.st_mtime)
            )
        return infos

    def stat(self, path: str) -> FileInfo:
        host = self.host_path(path)
        try:
            stat = host.stat()
        except FileNotFoundError:
            raise ZosPathError(errno.ENOENT, "EDC5129I No such file or directory.", path) from None
        return FileInfo(host.name, host.is_dir(), stat.st_size, stat.st_mode, stat.st_mtime)

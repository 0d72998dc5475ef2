"""Hostile or careless LMS downloads: zip-collect skips what is unsafe, names it, keeps the rest.

Real archives on disk, nbgrader's real ZipCollectApp (through ``zip_collect``) in a copy of the
course; each test lists everything under the temporary folder before and after, to prove that
nothing was written outside ``downloaded/`` and ``submitted/``. The extractor's bounds are set
small in the course's ``nbgrader_config.py`` so that a zip bomb is a few MiB.
"""
from __future__ import annotations

import io
import json
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import cli
from autograder.judge.notebook import read_notebook
from autograder.pipeline import CourseRoot, zip_collect
from course_copy import copy_course

A = "loss_functions"
MiB = 2**20
UP = "../" * 5  # from downloaded/loss_functions/extracted/<archive>/ to the temporary folder
BOUNDS = """
c.SafeExtractorPlugin.max_file_bytes = 2 * 2**20
c.SafeExtractorPlugin.max_archive_bytes = 5 * 2**20
"""


@pytest.fixture
def course(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGRADER_EXCHANGE", str(tmp_path / "course" / "exchange"))
    root = copy_course(tmp_path / "course")
    with (root / "nbgrader_config.py").open("a") as config:
        config.write(BOUNDS)
    return CourseRoot.at(root)


@pytest.fixture
def notebook(course) -> bytes:
    return (course.release(A) / f"{A}.ipynb").read_bytes()


def listing(top: Path) -> set[str]:
    """Every path under ``top`` except inside the two folders zip-collect may write."""
    found = set()
    for folder, dirs, files in os.walk(top):
        rel = Path(folder).relative_to(top)
        if rel.parts[:2] in {("course", "downloaded"), ("course", "submitted")}:
            continue
        found.update(str(rel / name) for name in dirs + files)
    return found


def collect(course: CourseRoot, downloads: Path, capsys) -> tuple[list[str], list[str], str]:
    before = listing(course.root.parent)
    skipped: list[str] = []
    students = zip_collect(course, A, downloads, skipped=skipped)
    new = listing(course.root.parent) - before
    assert new == {"course/downloaded", "course/submitted"} - before, new
    return students, skipped, capsys.readouterr().err


def assert_warned_once(err: str, skipped: list[str], *fragments: str) -> None:
    """Each problem is one warning on stderr and one entry of ``skipped``, naming its file."""
    for fragment in fragments:
        lines = [line for line in err.splitlines() if fragment in line]
        assert len(lines) == 1, (fragment, lines)
        assert len([m for m in skipped if fragment in m]) == 1, (fragment, skipped)


def zip_with(path: Path, members: dict[str, bytes], symlinks: dict[str, str] = {}) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        for name, target in symlinks.items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def lying_zip(path: Path, name: str, size: int, declared: int) -> Path:
    """A zip whose one member says it is ``declared`` bytes and expands to ``size``."""
    zip_with(path, {name: bytes(size)})
    data = bytearray(path.read_bytes())
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    data[local + 22:local + 26] = declared.to_bytes(4, "little")
    data[central + 24:central + 28] = declared.to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


def bad_name_zip(path: Path) -> Path:
    """A zip that flags its member's name as UTF-8 and stores a byte that is not."""
    zip_with(path, {f"abc_{A}.ipynb": b"{}"})
    data = bytearray(path.read_bytes())
    for signature, flags, name in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        at = data.index(signature)
        data[at + flags + 1] |= 0x08  # bit 11: the name is UTF-8
        data[at + name] = 0xFF
    path.write_bytes(bytes(data))
    return path


def tar_with(path: Path, members: dict[str, bytes], specials: list[tarfile.TarInfo]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for info in specials:
            archive.addfile(info)
    return path


def special(name: str, kind: bytes, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def test_unsafe_members_are_skipped_by_name_and_honest_ones_collected(course, notebook, tmp_path, capsys):
    outside = tmp_path / f"abs_{A}.ipynb"
    dl = tmp_path / "lms"
    dl.mkdir()
    (dl / f"ada_{A}.ipynb").write_bytes(notebook)
    inner = zip_with(tmp_path / "inner.zip", {f"dee_{A}.ipynb": notebook, f"../deep_{A}.ipynb": b"x"})
    zip_with(dl / "class.zip", {
        f"bob_{A}.ipynb": notebook,
        f"{UP}evil_{A}.ipynb": notebook,
        str(outside): notebook,
        f"sub\\..\\..\\win_{A}.ipynb": notebook,
        "nested/dee.zip": inner.read_bytes(),
    }, symlinks={f"link_{A}.ipynb": "/etc/passwd"})
    tar_with(dl / "more.tar.gz", {f"cy_{A}.ipynb": notebook, f"{UP}tarevil_{A}.ipynb": notebook}, [
        special(f"sym_{A}.ipynb", tarfile.SYMTYPE, "/etc/passwd"),
        special(f"hard_{A}.ipynb", tarfile.LNKTYPE, f"cy_{A}.ipynb"),
        special(f"dev_{A}.ipynb", tarfile.CHRTYPE),
        special(f"fifo_{A}.ipynb", tarfile.FIFOTYPE),
    ])
    (dl / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")
    bad_name_zip(dl / "badname.zip")
    (dl / f"own_{A}.ipynb").symlink_to("/etc/hostname")

    students, skipped, err = collect(course, dl, capsys)

    assert students == ["ada", "bob", "cy", "dee"]
    for student in students:
        assert (course.submitted(student, A) / f"{A}.ipynb").read_bytes() == notebook
    assert_warned_once(err, skipped, f"'{UP}evil_{A}.ipynb' in class.zip", f"{str(outside)!r} in class.zip",
                       f"win_{A}.ipynb' in class.zip", f"'link_{A}.ipynb' in class.zip",
                       f"'../deep_{A}.ipynb' in class.zip/nested/dee.zip",
                       f"'{UP}tarevil_{A}.ipynb' in more.tar.gz", f"'sym_{A}.ipynb' in more.tar.gz",
                       f"'hard_{A}.ipynb' in more.tar.gz", f"'dev_{A}.ipynb' in more.tar.gz",
                       f"'fifo_{A}.ipynb' in more.tar.gz", "broken.zip: not a readable zip or tar",
                       "badname.zip: not a readable zip or tar", f"own_{A}.ipynb: a symbolic link")
    assert "climbs out" in err and "absolute" in err and "a hard link" in err and "device file or fifo" in err
    assert len(skipped) == 13 and len(err.strip().splitlines()) == 13, err


def test_zip_bombs_stop_at_the_bounds_and_cost_only_themselves(course, notebook, tmp_path, capsys):
    dl = tmp_path / "lms"
    dl.mkdir()
    zip_with(dl / "bomb.zip", {f"zed_{A}.ipynb": bytes(3 * MiB), f"eve_{A}.ipynb": notebook})
    lying_zip(dl / "liar.zip", f"liz_{A}.ipynb", size=3 * MiB, declared=1000)
    tar_with(dl / "bomb.tar.gz", {f"tom_{A}.ipynb": bytes(3 * MiB)}, [])
    zip_with(dl / "full.zip", {f"f{i}_{A}.ipynb": bytes(MiB + 1) if i else notebook for i in range(6)})
    (dl / f"ada_{A}.ipynb").write_bytes(notebook)

    students, skipped, err = collect(course, dl, capsys)

    assert students == ["ada", "eve", "f0", "f1", "f2", "f3", "f4"]
    assert_warned_once(err, skipped, f"'zed_{A}.ipynb' in bomb.zip: it declares 3 MiB",
                       f"'liz_{A}.ipynb' in liar.zip: unreadable", f"'tom_{A}.ipynb' in bomb.tar.gz",
                       f"'f5_{A}.ipynb' in full.zip")
    assert "max_file_bytes" in err and "max_archive_bytes" in err
    extracted = course.root / "downloaded" / A / "extracted"
    assert sum(p.stat().st_size for p in extracted.rglob("*") if p.is_file()) < 6 * MiB


@pytest.mark.parametrize("stem, reason", [
    ("..", "cannot be a folder name"),
    (".", "cannot be a folder name"),
    (".hidden", "cannot be a folder name"),
    ("x" * 101, "cannot be a folder name"),
    ("", "does not match"),
])
def test_file_names_that_make_bad_student_ids_are_skipped(course, notebook, tmp_path, capsys, stem, reason):
    dl = tmp_path / "lms"
    dl.mkdir()
    (dl / f"ada_{A}.ipynb").write_bytes(notebook)
    (dl / f"{stem}_{A}.ipynb").write_bytes(notebook)
    students, skipped, err = collect(course, dl, capsys)
    assert students == ["ada"]
    assert_warned_once(err, skipped, f"skipped {stem}_{A}.ipynb: ")
    assert reason in skipped[0]


def test_a_custom_regexp_cannot_make_a_path_of_a_student_id(course, notebook, tmp_path, capsys):
    with (course.root / "nbgrader_config.py").open("a") as config:
        config.write("c.FileNameCollectorPlugin.named_regexp = "
                     f"r'.*/extracted/(?P<student_id>.*)_(?P<file_id>{A}\\.ipynb)$'\n")
    dl = tmp_path / "lms"
    (dl / "a").mkdir(parents=True)
    (dl / "a" / f"b_{A}.ipynb").write_bytes(notebook)
    (dl / f"_{A}.ipynb").write_bytes(notebook)
    (dl / f"ada_{A}.ipynb").write_bytes(notebook)
    students, skipped, err = collect(course, dl, capsys)
    assert students == ["ada"]
    assert_warned_once(err, skipped, "student id 'a/b'", "student id ''")


def test_a_second_copy_without_timestamps_is_skipped_not_fatal(course, notebook, tmp_path, capsys):
    dl = tmp_path / "lms"
    dl.mkdir()
    (dl / f"ada_{A}.ipynb").write_bytes(notebook)
    zip_with(dl / "again.zip", {f"ada_{A}.ipynb": b"{}", f"bob_{A}.ipynb": notebook})
    students, skipped, err = collect(course, dl, capsys)
    assert students == ["ada", "bob"]
    assert (course.submitted("ada", A) / f"{A}.ipynb").read_bytes() == notebook
    assert_warned_once(err, skipped, f"ada already has {A}.ipynb from ada_{A}.ipynb")


def test_honest_downloads_give_no_warning(course, notebook, tmp_path, capsys):
    dl = tmp_path / "lms"
    dl.mkdir()
    (dl / f"ada_{A}.ipynb").write_bytes(notebook)
    zip_with(dl / "class.zip", {f"bob_{A}.ipynb": notebook, f"dir/cy_{A}.ipynb": notebook})
    students, skipped, err = collect(course, dl, capsys)
    assert students == ["ada", "bob", "cy"] and skipped == [] and err == ""


def test_the_cli_ends_with_a_summary_of_what_was_skipped(course, notebook, tmp_path, capsys):
    dl = tmp_path / "lms"
    dl.mkdir()
    (dl / f"ada_{A}.ipynb").write_bytes(notebook)
    (dl / "notes.txt").write_text("not a submission")
    zip_with(dl / "evil.zip", {f"../x_{A}.ipynb": notebook, f"/y_{A}.ipynb": notebook})
    assert cli.main(["--course-root", str(course.root), "zip-collect", A, str(dl)]) == 0
    out, err = capsys.readouterr()
    assert "1 submissions of loss_functions" in out
    assert err.strip().splitlines()[-1] == "skipped 3 files: see warnings above"
    assert "notes.txt: not a notebook" in err
    (dl / f"bob_{A}.ipynb").write_bytes(notebook)  # not copied: zip-collect alone rereads archive/
    assert cli.main(["--course-root", str(course.root), "zip-collect", A]) == 0
    assert "1 submissions of loss_functions" in capsys.readouterr().out


# -- what one submitted notebook may cost to read ---------------------------------------------

def small_notebook(**metadata) -> dict:
    cell = nbformat.v4.new_code_cell("x = 1")
    return nbformat.v4.new_notebook(cells=[cell], metadata=metadata)


def test_read_notebook_refuses_a_huge_file_before_reading_it(tmp_path):
    path = tmp_path / "huge.ipynb"
    with path.open("wb") as handle:
        handle.truncate(21 * MiB)
    with pytest.raises(ValueError, match=r"huge.ipynb is not a readable notebook: it is 21.0 MiB, "
                                         r"over the 20 MiB"):
        read_notebook(path)


def test_read_notebook_refuses_deep_nesting_but_not_brackets_in_strings(tmp_path):
    path = tmp_path / "deep.ipynb"
    text = json.dumps(small_notebook())
    path.write_text(text.replace('"metadata": {}', '"metadata": {"x": ' + "[" * 100 + "]" * 100 + "}", 1))
    with pytest.raises(ValueError, match=r"deep.ipynb is not a readable notebook: its JSON nests 102 levels"):
        read_notebook(path)
    fine = tmp_path / "brackets.ipynb"
    nb = small_notebook()
    nb.cells[0].source = "x = " + "[" * 5000 + '"\\"{' + "]" * 5000
    nbformat.write(nb, str(fine))
    assert read_notebook(fine).cells[0].source == nb.cells[0].source


def test_read_notebook_refuses_millions_of_tiny_containers(tmp_path):
    path = tmp_path / "many.ipynb"
    path.write_text(json.dumps(small_notebook(x=[[] for _ in range(600_000)])))
    with pytest.raises(ValueError, match=r"its JSON has 60000\d arrays and objects, over the 500000"):
        read_notebook(path)


def test_read_notebook_refuses_huge_outputs(tmp_path):
    nb = small_notebook()
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="y" * (11 * MiB))]
    path = tmp_path / "loud.ipynb"
    nbformat.write(nb, str(path))
    with pytest.raises(ValueError, match=r"loud.ipynb is not a readable notebook: "
                                         r"its cell outputs hold 11.0 MiB"):
        read_notebook(path)
    nb.cells[0].outputs[0].text = "y" * MiB
    nbformat.write(nb, str(path))
    assert read_notebook(path).cells[0].outputs[0].text == "y" * MiB

"""The staff report: sections, numbers, escaping of hostile text, and a real browser render."""
import re

import pytest

from autograder.reports.html_common import esc
from autograder.reports.html_report import NO_SANDBOX_WARNING, write_report
from browser import CHROMIUM, SKIP_REASON, dump_dom, non_white_fraction, screenshot
from report_samples import HOSTILE, sample_results

SECTIONS = ("distribution", "parts", "mistakes", "flags", "ungradable", "manual")


def report(tmp_path, **kw):
    kw.setdefault("sandboxed", True)
    path = write_report(sample_results(), tmp_path / "report.html",
                        assignment="loss_functions", **kw)
    return path, path.read_text(encoding="utf-8")


def test_sections_and_numbers(tmp_path):
    _, text = report(tmp_path)
    for sid in SECTIONS:
        assert text.count(f'<section id="{sid}">') == 1
    assert "<b>6</b> submissions" in text and "<b>1</b> could not be graded" in text
    assert "mean <b>19.4</b> / 23" in text and "median <b>19</b> / 23" in text
    assert "You divided the sum of squares by 2n" in text and "bob, carol" in text
    assert "timed out after 30 s" in text
    assert text.count("written_bowl, written_outlier_rl") == 6


def test_self_contained_and_script_free(tmp_path):
    _, text = report(tmp_path)
    assert text.count("data:image/png;base64,") == 2
    assert not re.search(r"(src|href)=\"(https?:|//)", text)
    assert "<script" not in text and "<link" not in text


def test_student_markup_is_escaped(tmp_path):
    _, text = report(tmp_path)
    assert HOSTILE not in text
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in text
    assert "onerror=alert(1)&gt;" in text and "<img src=x" not in text


def test_banner_only_without_sandbox(tmp_path):
    assert "WITHOUT the sandbox" not in report(tmp_path)[1]
    assert esc(NO_SANDBOX_WARNING) in report(tmp_path, sandboxed=False)[1]


def test_manual_pending_from_gradebook_overrides_records(tmp_path):
    _, text = report(tmp_path, manual_pending={"erin": ["written_bowl"], "bob": []})
    section = text.split('<section id="manual">')[1].split("</section>")[0]
    assert "erin" in section and "bob" not in section and "alice" not in section
    _, text = report(tmp_path, manual_pending={})
    assert "all manual grading is done" in text


def test_empty_class_still_writes_every_section(tmp_path):
    text = write_report([], tmp_path / "r.html", assignment="x", sandboxed=True).read_text()
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in text


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)
def test_renders_in_headless_chromium(tmp_path):
    path, _ = report(tmp_path, sandboxed=False)
    pixels = screenshot(path, tmp_path)
    assert pixels.shape[:2] == (2400, 1200)
    assert pixels[..., :3].std() > 0.05
    assert 0.03 < non_white_fraction(pixels) < 0.6
    # the red banner at the top: many strongly red pixels in the first 300 rows
    top = pixels[:300, :, :3]
    assert ((top[..., 0] > 0.6) & (top[..., 1] < 0.3) & (top[..., 2] < 0.3)).sum() > 10_000
    dom = dump_dom(path, tmp_path)
    for sid in SECTIONS:
        assert f'id="{sid}"' in dom
    assert "Pass rate per part" in dom and "Integrity flags" in dom
    assert "WITHOUT the sandbox" in dom
    assert "<script>alert" not in dom and "&lt;script&gt;alert" in dom

"""The student's HTML feedback page and reading TA comments and scores from nbgrader's gradebook."""
import html
import os
import re
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder.reports.feedback_html import ta_grades_from_gradebook, write_feedback_page
from autograder.judge.results import CheckResult, Counterexample, PartResult, SubmissionResult
from autograder.reports.feedback_text import render_part
from browser import CHROMIUM, SKIP_REASON, dump_dom, non_white_fraction, screenshot
from report_samples import HALVED, HOSTILE, sample_results

COMMENTS = {"mse_solution": "Check the 1/2 factor.", "written_bowl": "Good intuition.",
            "plot_bce_solution": f"Legend missing {HOSTILE}"}


def carol_page(tmp_path, comments=COMMENTS, scores=None):
    carol = sample_results()[2]
    path = write_feedback_page(carol, tmp_path / "carol.html", comments,
                               scores if scores is not None else {"written_bowl": (3.0, 4.0)})
    return carol, path, path.read_text(encoding="utf-8")


def section(page: str, grade_id: str) -> str:
    return page.split(f'id="{grade_id}"', 1)[1].split("</section>", 1)[0]


def missing_lines(text: str, page_html: str) -> list[str]:
    """Lines of ``text`` the page does not show, in order, comparing what a reader sees: the
    words with tags and runs of spaces ignored."""
    visible = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page_html)).split())
    missing, at = [], 0
    for line in filter(None, (" ".join(ln.split()) for ln in text.splitlines())):
        found = visible.find(line, at)
        if found < 0:
            missing.append(line)
        else:
            at = found + len(line)
    return missing


def part_shows_its_text(page_html: str, part) -> list[str]:
    return missing_lines(render_part(part), section(page_html, part.grade_id))


def test_page_shows_the_same_words_as_the_text_feedback(tmp_path):
    carol, _, text = carol_page(tmp_path)
    for part in carol.parts:
        assert part_shows_its_text(text, part) == [], part.grade_id
    assert text.count("data:image/png;base64,") == 1


def test_summary_table_comes_first_with_points_and_status(tmp_path):
    carol, _, text = carol_page(tmp_path)
    summary = text.split("<table>", 1)[1].split("</table>", 1)[0]
    assert text.index("<table>") < text.index('<section class="part"')
    assert "<th>Part</th><th>Points</th><th>Status</th>" in summary
    assert summary.count("<tr>") == len(carol.parts) + 1
    assert '<a href="#mse_hidden">Mean squared error</a>' in summary
    assert "2.5 / 5" in summary and "some rules fail" in summary and "all rules pass" in summary


def taught_result() -> SubmissionResult:
    hand = Counterexample((("y_pred", "[1., 2.]"), ("y_true", "[0., 0.]")), "2.5", "5",
                          by_hand="((1 - 0)² + (2 - 0)²) / 2 = 2.5")
    shrunk = Counterexample((("y_pred", "tensor([0, 0])"), ("y_true", "tensor([6.6e-08, 6.6e-08])")),
                            "tensor(4.4e-15)", "tensor(8.8e-15)")
    value = CheckResult("the value is the mean", False, 3, "the result of `mse` is wrong", shrunk, hand, HALVED)
    shape = CheckResult("a 0-d tensor", False, 1, "This rule counts only where the result is right, and here "
                        "it is not: the result of `mse` is wrong", shrunk, hand, HALVED)
    part = PartResult("mse_hidden", "mse: hidden properties", ("mse",), 5.0, 1.0,
                      (value, shape, CheckResult("inputs unchanged", True, 1)))
    return SubmissionResult("dev", "loss_functions", "graded", (part,))


def test_a_cause_is_a_block_with_example_tables_and_folded_details(tmp_path):
    result = taught_result()
    page_html = write_feedback_page(result, tmp_path / "dev.html").read_text()
    part = section(page_html, "mse_hidden")
    assert part.count('<div class="cause">') == 1 and part.count(HALVED.split("(")[0]) == 1
    hand = part.split('<table class="example">', 1)[1].split("</table>", 1)[0]
    assert "<caption>An example you can check by hand" in hand
    assert "<th>y_pred =</th><td><code>[1., 2.]</code></td>" in hand
    assert "<th>By hand:</th><td><code>((1 - 0)² + (2 - 0)²) / 2 = 2.5</code></td>" in hand
    assert "<details><summary>The smallest failing input the search found:</summary>" in part
    assert '<td class="fail">FAIL</td><td>a 0-d tensor</td><td class="num">(0 / 1 points)</td>' in part
    assert "<details><summary>Rules passed: 1 of 3</summary>" in part
    assert "<pre>" not in part
    assert part_shows_its_text(page_html, result.parts[0]) == []


def test_comments_and_scores_sit_beside_their_parts(tmp_path):
    _, _, text = carol_page(tmp_path)
    mse = text.split('id="mse_public"')[1].split("</section>")[0]
    assert "Check the 1/2 factor." in mse
    bowl = text.split('id="written_bowl"')[1].split("</section>")[0]
    assert "Score from your TA: 3 / 4" in bowl and "Good intuition." in bowl
    rl = text.split('id="written_outlier_rl"')[1].split("</section>")[0]
    assert "Not graded yet." in rl
    assert "Other comments from your TA" in text and "plot_bce_solution" in text


def test_flags_hidden_and_comments_escaped(tmp_path):
    dave = sample_results()[3]
    text = write_feedback_page(dave, tmp_path / "d.html", COMMENTS).read_text()
    assert "forbidden-call" not in text and HOSTILE not in text
    assert "&lt;script&gt;" in text and "<script" not in text


@pytest.mark.slow
def test_gradebook_comments_and_manual_scores(tmp_path, monkeypatch):
    # nbgrader shells out to `alembic` by name when it creates a gradebook
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.executable).parent),
                                                os.environ.get("PATH", "")]))
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url) as gb:
        gb.add_assignment("loss_functions")
        gb.add_notebook("loss_functions", "loss_functions")
        for name, points, kind in (("mse_hidden", 5, "code"), ("written_bowl", 4, "markdown"),
                                   ("written_outlier_rl", 4, "markdown")):
            gb.add_grade_cell(name, "loss_functions", "loss_functions", max_score=points,
                              cell_type=kind)
        for name in ("mse_solution", "written_bowl", "written_outlier_rl"):
            gb.add_solution_cell(name, "loss_functions", "loss_functions")
        gb.add_student("carol")
        gb.add_submission("loss_functions", "carol")
        gb.find_comment("mse_solution", "loss_functions", "loss_functions",
                        "carol").manual_comment = "Check the 1/2 factor."
        gb.find_comment("written_outlier_rl", "loss_functions", "loss_functions",
                        "carol").auto_comment = "No response."
        grade = gb.find_grade("written_bowl", "loss_functions", "loss_functions", "carol")
        grade.manual_score, grade.extra_credit = 3.0, 0.5
        gb.db.commit()
    carol = ta_grades_from_gradebook(url, "loss_functions", "carol")
    assert carol.comments == {"mse_solution": "Check the 1/2 factor."}
    assert carol.scores == {"written_bowl": (3.5, 4.0)}
    assert ta_grades_from_gradebook(url, "loss_functions", "nobody").comments == {}


def test_missing_gradebook_is_an_error_not_a_new_empty_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="gradebook.db"):
        ta_grades_from_gradebook(f"sqlite:///{tmp_path}/gradebook.db", "a", "s")
    assert not (tmp_path / "gradebook.db").exists()


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)
def test_feedback_page_renders_in_headless_chromium(tmp_path):
    _, path, _ = carol_page(tmp_path)
    assert non_white_fraction(screenshot(path, tmp_path)) > 0.02
    dom = dump_dom(path, tmp_path)
    assert 'id="mse_hidden"' in dom and "Likely mistake: You divided" in dom
    assert "<script>alert" not in dom


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)
def test_grouped_feedback_renders_with_its_tables_and_folds(tmp_path):
    path = write_feedback_page(taught_result(), tmp_path / "dev.html")
    pixels = screenshot(path, tmp_path)
    assert non_white_fraction(pixels) > 0.02
    tinted = (abs(pixels[..., 0] - 0.992) < 0.01) & (abs(pixels[..., 1] - 0.953) < 0.01)  # the cause's #fdf3f2
    assert tinted.mean() > 0.005  # the cause block is drawn as a box, not as a printout
    dom = dump_dom(path, tmp_path)
    assert '<table class="example"><caption>An example you can check by hand' in dom
    assert dom.count("<details>") == 2 and "<details open" not in dom

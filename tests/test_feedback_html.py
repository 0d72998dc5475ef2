"""The student's HTML feedback page and reading TA comments and scores from nbgrader's gradebook."""
import os
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder.reports.feedback_html import (
    manual_scores_from_gradebook, ta_comments_from_gradebook, write_feedback_page,
)
from autograder.reports.feedback_text import render_part
from autograder.reports.html_common import esc
from browser import CHROMIUM, SKIP_REASON, dump_dom, non_white_fraction, screenshot
from report_samples import HOSTILE, sample_results

COMMENTS = {"mse_solution": "Check the 1/2 factor.", "written_bowl": "Good intuition.",
            "plot_bce_solution": f"Legend missing {HOSTILE}"}


def carol_page(tmp_path, comments=COMMENTS, scores=None):
    carol = sample_results()[2]
    path = write_feedback_page(carol, tmp_path / "carol.html", comments,
                               scores if scores is not None else {"written_bowl": (3.0, 4.0)})
    return carol, path, path.read_text(encoding="utf-8")


def test_page_shows_the_same_words_as_the_text_feedback(tmp_path):
    carol, _, text = carol_page(tmp_path)
    for part in carol.parts:
        assert f"<pre>{esc(render_part(part))}</pre>" in text
    assert text.count("data:image/png;base64,") == 1


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
    assert ta_comments_from_gradebook(url, "loss_functions", "carol") == {
        "mse_solution": "Check the 1/2 factor."}
    assert manual_scores_from_gradebook(url, "loss_functions", "carol") == {
        "written_bowl": (3.5, 4.0)}
    assert ta_comments_from_gradebook(url, "loss_functions", "nobody") == {}


def test_missing_gradebook_is_an_error_not_a_new_empty_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="gradebook.db"):
        ta_comments_from_gradebook(f"sqlite:///{tmp_path}/gradebook.db", "a", "s")
    assert not (tmp_path / "gradebook.db").exists()


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)
def test_feedback_page_renders_in_headless_chromium(tmp_path):
    _, path, _ = carol_page(tmp_path)
    assert non_white_fraction(screenshot(path, tmp_path)) > 0.02
    dom = dump_dom(path, tmp_path)
    assert 'id="mse_hidden"' in dom and "Likely mistake: You divided" in dom
    assert "<script>alert" not in dom

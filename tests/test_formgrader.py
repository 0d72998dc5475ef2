"""Manual grading in a real browser: a TA grades the written answers in nbgrader's formgrader.

The two written answers (8 of 44 points) are the one part of the assignment a person grades,
and they reach the student only through formgrader's gradebook. So this drives the whole path
as a TA would: the class is graded by the real pipeline, formgrader serves the course on a
loopback port, headless Chromium opens one submission from the Manual Grading pages, a score
and a comment are typed for each written answer; then the gradebook, the student's feedback
page and the staff report must all show it. Screenshots go where a person can look at them
(``$AUTOGRADER_SCREENSHOTS``, else ``screenshots/formgrader/``).
"""
from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

import formgrader_driver as fg
from course_copy import course_with_students

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300),
              pytest.mark.skipif(fg.missing(), reason=fg.SKIP_REASON)]

A = "loss_functions"
TA, OTHER = "dev", "ada"  # the TA grades dev's answers; ada's stay to do
BLANK = "ned"  # left the answers as released: nbgrader scores them 0 itself, nothing to do
STUDENTS = (OTHER, TA, BLANK)
GRADES = {  # what the TA types for each written answer: score, comment
    "written_bowl": ("3", "Right: a sum of parabolas is a parabola. Say why its minimum is "
                          "unique (the leading coefficient, the sum of x², is > 0)."),
    "written_outlier_rl": ("2.5", "Good on the gradients. Name the loss DQN uses on TD errors "
                                  "and say why it helps."),
}


def written_answers(course) -> dict[str, float]:
    """Grade id -> points of every markdown answer a TA grades, from the instructor notebook."""
    nb = nbformat.read(course.root / "source" / A / f"{A}.ipynb", as_version=4)
    return {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"]) for c in nb.cells
            if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade")}


def hidden_test_lines(course) -> list[str]:
    """The code between the hidden-test markers of the source notebook, line by line."""
    nb = nbformat.read(course.root / "source" / A / f"{A}.ipynb", as_version=4)
    found = re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS",
                       "\n".join(c.source for c in nb.cells), flags=re.S)
    return sorted({line.strip() for block in found for line in block.splitlines() if line.strip()})


def cli(course, *args: str) -> str:
    """``python -m autograder ARGS`` in the course root, as the instructor guide says to run it."""
    done = subprocess.run([sys.executable, "-m", "autograder", "-q", *args], cwd=course.root,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def manual_section(report: Path) -> str:
    return report.read_text().split('<section id="manual">')[1].split("</section>")[0]


@pytest.fixture
def course(tmp_path):
    course = course_with_students(tmp_path / "course", STUDENTS)
    cli(course, "grade", A, "--jobs", "1")  # one worker is quickest for a handful of submissions
    return course


def open_submission(driver, url: str, student: str) -> None:
    """Manual Grading -> assignment -> notebook -> Show All Names -> the student, by clicks."""
    from selenium.webdriver.common.by import By

    driver.get(f"{url}/formgrader")
    fg.click(driver, (By.LINK_TEXT, "Manual Grading"))
    fg.click(driver, (By.CSS_SELECTOR, f"#main-table a[href$='/gradebook/{A}']"))
    fg.click(driver, (By.CSS_SELECTOR, f"#main-table a[href$='/gradebook/{A}/{A}']"))
    fg.wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#main-table a.name-hidden"))
                          == len(STUDENTS))  # every submission listed, names hidden
    fg.click(driver, (By.ID, "toggle_names"))
    fg.click(driver, (By.LINK_TEXT, student))
    wait_for_grades(driver)


def wait_for_grades(driver) -> None:
    """Until formgrader has fetched the submission's grades and comments and bound its inputs.

    Then note each save: formgrader's Backbone models fire ``sync`` when the server has answered
    the PUT to /formgrader/api/grade (or /comment), which is when its green tick shows.
    """
    fg.wait(driver).until(lambda d: d.execute_script(
        "return !!(window.formgrader && formgrader.grades && formgrader.grades.loaded"
        " && formgrader.comments && formgrader.comments.loaded)"))
    driver.execute_script(
        "window.savedFields = [];"
        "formgrader.grades.on('sync', m => savedFields.push('score:' + m.get('name')));"
        "formgrader.comments.on('sync', m => savedFields.push('comment:' + m.get('name')));")


def grade_written_answer(driver, grade_id: str, score: str, comment: str) -> None:
    """Type as a TA does: the score, Tab (which saves it), the comment, Tab; each saved in turn.

    Waiting for each save before the next field matters: while a score is being saved,
    formgrader shows and hides its "Resolve" button, which moves the cells below it.
    """
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, grade_id)
    note = driver.find_element(By.ID, f"{grade_id}-comment")
    assert box.get_attribute("value") == "" and note.get_attribute("value") == ""  # not graded yet
    type_and_save(driver, box, score, f"score:{grade_id}")
    type_and_save(driver, note, comment, f"comment:{grade_id}")


def type_and_save(driver, field, text: str, saved: str) -> None:
    from selenium.webdriver.common.keys import Keys

    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", field)
    fg.click(driver, field)
    field.send_keys(text, Keys.TAB)
    fg.wait(driver).until(lambda d: saved in d.execute_script("return savedFields"))


def screenshot_answer(driver, grade_id: str, path: Path) -> Path:
    """The window scrolled to one written answer: question, answer, score and comment boxes."""
    from selenium.webdriver.common.by import By

    cell = driver.find_element(By.ID, grade_id)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", cell)
    driver.save_screenshot(str(path))
    return path


def check_autograded_parts(driver, course) -> None:
    """The TA sees each part's feedback as the student will, and none of the hidden tests."""
    from selenium.webdriver.common.by import By

    from autograder.pipeline import records_io
    from autograder.reports.feedback_text import render_part

    notebook = driver.find_element(By.ID, "notebook").text
    for part in records_io.load(course, TA, A).parts:
        for line in render_part(part).splitlines():
            assert line.strip() in notebook, (part.grade_id, line)
    assert "Likely mistake: sum instead of mean" in notebook  # dev's mistake, diagnosed
    assert "BEGIN HIDDEN TESTS" not in driver.page_source
    for line in hidden_test_lines(course):
        assert line not in notebook, f"hidden test code shown to the TA: {line}"


def check_gradebook(course) -> None:
    """What the TA typed is nbgrader's own record now; the other student's answers are untouched."""
    with course.gradebook() as gb:
        for grade_id, (score, comment) in GRADES.items():
            assert gb.find_grade(grade_id, A, A, TA).manual_score == float(score)
            assert gb.find_comment(grade_id, A, A, TA).manual_comment == comment
            assert gb.find_grade(grade_id, A, A, OTHER).manual_score is None
        assert not gb.find_submission_notebook(A, A, TA).needs_manual_grade
        assert gb.find_submission_notebook(A, A, OTHER).needs_manual_grade


def check_feedback(driver, course, answers: dict[str, float]) -> None:
    """Our page (read in the browser) and nbgrader's both carry the TA's scores and comments."""
    from selenium.webdriver.common.by import By

    driver.get((course.feedback(TA, A) / "feedback.html").resolve().as_uri())
    shown = driver.find_element(By.TAG_NAME, "body").text
    for grade_id, (score, comment) in GRADES.items():
        assert f"Score from your TA: {float(score):g} / {answers[grade_id]:g}" in shown
        assert comment in shown
    nbgrader_page = html.unescape((course.feedback(TA, A) / f"{A}.html").read_text())
    assert all(comment in nbgrader_page for _, comment in GRADES.values())
    assert "Not graded yet" in (course.feedback(OTHER, A) / "feedback.html").read_text()
    blank = (course.feedback(BLANK, A) / "feedback.html").read_text()
    assert "Not graded yet" not in blank and blank.count("No response.") == len(answers)
    assert all(f"Score: 0 / {top:g}</b>" in blank for top in answers.values())
    text = (course.feedback(TA, A) / "feedback.txt").read_text()  # the plain text says the same
    for grade_id, (score, comment) in GRADES.items():
        assert f"  {grade_id}: {float(score):g} / {answers[grade_id]:g} points from your TA\n    {comment}" in text
    assert "written_bowl: not graded yet" in (course.feedback(OTHER, A) / "feedback.txt").read_text()
    assert "written_bowl: 0 / 4 points (No response.)" in (course.feedback(BLANK, A) / "feedback.txt").read_text()


def test_ta_grades_written_answers_in_formgrader(course, tmp_path, capsys):
    """Pending in the report -> graded in formgrader -> in the gradebook, feedback and report."""
    from selenium.webdriver.common.by import By

    from autograder.pipeline.records_io import write_class_report  # `python -m autograder report`

    answers = written_answers(course)
    assert sorted(answers) == sorted(GRADES), "a written answer was added or renamed: grade it here too"
    pending = manual_section(write_class_report(course, A))
    assert f"<td>{OTHER}</td>" in pending and f"<td>{TA}</td>" in pending
    assert f"<td>{BLANK}</td>" not in pending
    shots, taken = fg.screenshot_dir(), []
    scratch = tmp_path / "browser"
    scratch.mkdir()

    with fg.formgrader(course.root, scratch) as url, fg.chrome(scratch) as driver:
        open_submission(driver, url, TA)
        check_autograded_parts(driver, course)
        taken.append(fg.full_page_screenshot(driver, shots / "1-formgrader-before.png"))
        for grade_id, (score, comment) in GRADES.items():
            grade_written_answer(driver, grade_id, score, comment)

        driver.refresh()  # what formgrader shows now comes back from its server
        wait_for_grades(driver)
        for grade_id, (score, comment) in GRADES.items():
            assert float(driver.find_element(By.ID, grade_id).get_attribute("value")) == float(score)
            assert driver.find_element(By.ID, f"{grade_id}-comment").get_attribute("value") == comment
        taken.append(fg.full_page_screenshot(driver, shots / "2-formgrader-after.png"))
        taken += [screenshot_answer(driver, gid, shots / f"3-formgrader-{gid}.png") for gid in GRADES]
        check_gradebook(course)

        cli(course, "feedback", A)
        check_feedback(driver, course, answers)
        taken.append(fg.full_page_screenshot(driver, shots / "4-feedback-page.png"))

        report = write_class_report(course, A)
        pending = manual_section(report)
        assert f"<td>{OTHER}</td>" in pending and f"<td>{TA}</td>" not in pending
        assert f"<td>{BLANK}</td>" not in pending
        driver.get(report.resolve().as_uri())
        taken.append(shots / "5-report-manual-pending.png")
        driver.find_element(By.ID, "manual").screenshot(str(taken[-1]))

    with capsys.disabled():
        print("\nscreenshots:", *taken, sep="\n  ")

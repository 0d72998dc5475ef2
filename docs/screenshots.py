"""Make the documentation's pictures from a real run: ``.venv/bin/python docs/screenshots.py``.

A throwaway copy of the course with four demo students is graded by the real pipeline (the
sandbox, nbgrader's gradebook), then headless Chromium photographs a student's feedback page,
the staff report and formgrader's grading page. Writes ``docs/_static/screens/*.png``.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path[:0] = [str(DOCS.parent), str(DOCS.parent / "tests")]

import formgrader_driver as fg  # noqa: E402  (tests/: formgrader on loopback, Chromium by path)
from course_copy import course_with_students  # noqa: E402

A = "loss_functions"
STUDENTS = ("ada", "dev", "hana", "ned")
SHOWN = "dev"  # sums instead of averaging: a named mistake, an example, a checklist
OUT = DOCS / "_static" / "screens"


def autograder(course, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "autograder", "-q", *args], cwd=course.root, check=True,
                   timeout=600)


def photograph(course, scratch: Path) -> list[Path]:
    from selenium.webdriver.common.by import By

    shots = []
    with fg.chrome(scratch, width=1200, height=900) as driver:
        driver.get((course.feedback(SHOWN, A) / "feedback.html").resolve().as_uri())
        shots.append(OUT / "feedback-page.png")
        driver.save_screenshot(str(shots[-1]))
        driver.get((course.root / "reports" / f"{A}.html").resolve().as_uri())
        shots.append(OUT / "class-report.png")
        driver.save_screenshot(str(shots[-1]))
        with course.gradebook() as gb:
            submission = gb.find_submission_notebook(A, A, SHOWN).id
        with fg.formgrader(course.root, scratch) as url:
            driver.get(f"{url}/formgrader/submissions/{submission}/")
            fg.wait(driver).until(lambda d: d.execute_script(
                "return !!(window.formgrader && formgrader.grades && formgrader.grades.loaded)"))
            feedback = next(p for p in driver.find_elements(By.CSS_SELECTOR, ".output_text pre")
                            if "Likely mistake" in p.text)
            driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", feedback)
            shots.append(OUT / "formgrader.png")
            driver.save_screenshot(str(shots[-1]))
    return shots


def main() -> None:
    if fg.missing():
        sys.exit(f"docs/screenshots.py: {fg.SKIP_REASON}")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="autograder-docs-") as tmp:
        course = course_with_students(Path(tmp) / "course", STUDENTS)
        for step in (["grade", A, "--jobs", "2"], ["feedback", A], ["report", A]):
            autograder(course, *step)
        scratch = Path(tmp) / "browser"
        scratch.mkdir()
        for shot in photograph(course, scratch):
            print(shot.relative_to(DOCS.parent))


if __name__ == "__main__":
    main()

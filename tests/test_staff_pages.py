"""Nothing a student writes runs in a staff member's browser (``autograder/staff_pages``).

Fast tests check the renderer, the cell preprocessor, the policy and the flag on their own. The
slow ones use the real things: a hostile student's notebook and files (``hostile_content``) go
through the real pipeline, formgrader serves the graded class on loopback, and headless Chromium
opens every page a TA opens. Every payload marks the page's title if it runs; a control first
shows that the same notebook, rendered the stock way, does run them.
"""
from __future__ import annotations

import html
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

import formgrader_driver as fg
import hostile_content as hostile
from autograder.judge import integrity
from autograder.judge.notebook import read_notebook
from autograder.staff_pages import cells, csp, markdown

REPO = Path(__file__).resolve().parents[1]
A = "loss_functions"
RELEASED = REPO / "release" / A / f"{A}.ipynb"
ANSWERS = ["written_bowl", "written_outlier_rl"]
INERT_CODE = {"mermaid"}  # a code block: shown escaped, as any code is; no flag


class _Active(HTMLParser):
    """Every tag, attribute and URL in a fragment that could run script."""

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        if tag in {"script", "iframe", "object", "embed", "svg", "math", "base", "form", "meta", "link"}:
            self.found.append(tag)
        for name, value in attrs:
            if name.startswith("on") or name in {"srcdoc", "formaction", "xlink:href"}:
                self.found.append(f"{tag}[{name}]")
            if name in {"href", "src", "action", "data"} and value is not None:
                scheme = markdown.url_scheme(value)
                if scheme not in {None, "http", "https", "mailto"} and not (
                        tag == "img" and value.startswith("data:image/png")):
                    self.found.append(f"{tag}[{name}={scheme}:]")


def active_parts(fragment: str) -> list[str]:
    parser = _Active()
    parser.feed(fragment)
    return parser.found


@pytest.mark.parametrize("name", sorted(hostile.MARKDOWN_PAYLOADS))
def test_every_payload_is_shown_as_text(name):
    source = hostile.MARKDOWN_PAYLOADS[name]
    rendered = markdown.render(source, hostile.ATTACHMENTS)
    assert active_parts(rendered.html) == [], rendered.html
    visible = urllib.parse.unquote(html.unescape(re.sub(r"<[^>]+>", "", rendered.html)))
    written = ("ran:" + name if "ran:" + name in source
               else source.split("base64,")[1][:40] if "base64," in source else source)
    assert written in visible, "the TA must see what was written"
    assert bool(rendered.neutralised) == (name not in INERT_CODE), rendered.neutralised


def test_an_honest_answer_keeps_its_formatting():
    rendered = markdown.render(hostile.HONEST_ANSWER)
    assert rendered.neutralised == ()
    for tag in ("<strong>convex</strong>", "<em>w</em>", "<ul>", "<li>a sum of parabolas",
                '<table class="table', "<td>2.5</td>", r"$\sum_i x_i^2 &gt; 0$", 'href="notes.html"'):
        assert tag in rendered.html
    assert markdown.notice(rendered.neutralised) == ""


def test_findings_name_each_hostile_cell_and_nothing_in_the_released_notebook():
    released = nbformat.read(RELEASED, as_version=4)
    assert cells.findings(released) == []
    found = "\n".join(cells.findings(hostile.hostile_notebook(released, ANSWERS)))
    for what in ("HTML", "a javascript: link", "a data: link", "HTML inside math",
                 "an attachment that is not a raster image", "a raw cell", "a saved text/html output",
                 "a saved application/javascript output", "a saved image/svg+xml output",
                 "a saved text/markdown output"):
        assert what in found


def test_outputs_keep_text_and_images_and_show_the_rest_as_text():
    cell = nbformat.v4.new_code_cell("x", outputs=[nbformat.from_dict(o) for o in hostile.OUTPUTS])
    shown, found = cells.inert_cell(cell)
    assert cell.outputs[0].data["text/html"]  # the notebook itself is left alone
    kinds = {key for output in shown.outputs for key in output.get("data", {})}
    assert kinds == {"text/plain"}
    assert "ran:output-js" in shown.outputs[1].data["text/plain"]
    assert len(found) == 4


def test_page_policy_hashes_the_template_scripts_only():
    page = ('<html><head><script>var a = 1;</script></head><body>'
            '<span onclick="toggle(true);">x</span>'
            '<div id="notebook-container"><div><script>evil()</script></div>'
            '<img src=x onerror="evil()"></div><script>after()</script></body></html>')
    policy = csp.page_policy(page)
    script_src = next(d for d in policy.split("; ") if d.startswith("script-src"))
    for trusted in ("var a = 1;", "toggle(true);", "after()"):
        assert csp._sha256(trusted) in script_src
    assert csp._sha256("evil()") not in script_src
    assert "'unsafe-inline'" not in script_src and "frame-ancestors 'self'" in policy
    assert "frame-ancestors" not in csp.page_policy(page, header=False)
    assert csp.with_meta_policy(page).startswith('<html><head>\n<meta http-equiv="Content-Security-Policy"')


def test_active_content_is_flagged_for_a_person(tmp_path):
    released = nbformat.read(RELEASED, as_version=4)
    nbformat.write(hostile.hostile_notebook(released, ANSWERS), tmp_path / f"{A}.ipynb")
    for name, text in hostile.FILES.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "data.csv").write_text("a,b\n")
    flags = integrity.active_content(tmp_path, read_notebook)
    assert {f.kind for f in flags} == {"active-content"}
    assert sorted(f.detail.split(":")[0] for f in flags) == sorted([*hostile.FILES, f"{A}.ipynb"])
    honest = tmp_path / "honest"
    honest.mkdir()
    nbformat.write(released, honest / f"{A}.ipynb")
    assert integrity.active_content(honest, read_notebook) == []


# ---------------------------------------------------------------- real browser, real formgrader

def browser_test(func):
    """Slow: a real browser (and formgrader, a graded class); skipped where Chromium is missing."""
    for mark in (pytest.mark.slow, pytest.mark.timeout(600),
                 pytest.mark.skipif(fg.missing(), reason=fg.SKIP_REASON)):
        func = mark(func)
    return func


def ran_in(driver) -> set[str]:
    """The payloads that marked the top-level page, after a moment for late events."""
    time.sleep(0.5)
    return set(re.findall(r"\|ran:([\w-]+)", driver.title))


@pytest.fixture(scope="module")
def hostile_course(tmp_path_factory):
    """ada submits every payload (and correct code); dev is an honest student. Graded, with feedback."""
    from course_copy import course_with_students

    from autograder.demo import student_notebook
    from autograder.demo_class import CLASS

    course = course_with_students(tmp_path_factory.mktemp("staff") / "course", ("ada", "dev"))
    released = nbformat.read(course.release(A) / f"{A}.ipynb", as_version=4)
    ada = nbformat.reads(student_notebook(next(s for s in CLASS if s.id == "ada"), released), as_version=4)
    folder = course.submitted("ada", A)
    nbformat.write(hostile.hostile_notebook(ada, ANSWERS), folder / f"{A}.ipynb")
    for name, text in hostile.FILES.items():
        (folder / name).write_text(text)
    for step in (["grade", A, "--jobs", "1"], ["feedback", A], ["report", A]):
        done = subprocess.run([sys.executable, "-m", "autograder", "-q", *step], cwd=course.root,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    return course


@browser_test
def test_the_payloads_do_run_in_a_stock_nbconvert_page(tmp_path):
    """The control: rendered as nbconvert does by default, the notebook runs its payloads."""
    from nbconvert import HTMLExporter

    released = nbformat.read(RELEASED, as_version=4)
    page = tmp_path / "stock.html"
    page.write_text(HTMLExporter().from_notebook_node(hostile.hostile_notebook(released, ANSWERS))[0])
    with fg.chrome(tmp_path) as driver:
        driver.get(page.as_uri())
        ran = ran_in(driver)
    assert {"img-onerror", "script-tag", "svg-onload", "details-ontoggle", "iframe-srcdoc",
            "added-cell", "output-html", "output-js", "output-markdown"} <= ran, ran


def _grading_page_url(course, url: str, student: str) -> str:
    with course.gradebook() as gb:
        return f"{url}/formgrader/submissions/{gb.find_submission_notebook(A, A, student).id}/"


def _check_grading_page(driver, page: str, shots: Path) -> list[Path]:
    from selenium.webdriver.common.by import By

    driver.get(page)
    fg.wait(driver).until(lambda d: d.execute_script(  # formgrader's own scripts work under the policy
        "return !!(window.formgrader && formgrader.grades && formgrader.grades.loaded)"))
    assert ran_in(driver) == set()
    notices = driver.find_elements(By.CSS_SELECTOR, f".{markdown.NOTICE_CLASS}-notice")
    assert len(notices) >= 3 and all(n.is_displayed() for n in notices)
    answer = driver.find_element(By.ID, "notebook-container")
    assert answer.find_elements(By.CSS_SELECTOR, ".rendered_html ul li")
    assert answer.find_elements(By.CSS_SELECTOR, ".rendered_html table td")
    assert answer.find_elements(By.CSS_SELECTOR, ".rendered_html strong")
    assert "onerror=\"top.document.title+='|ran:img-onerror'\"" in answer.text  # shown, not dropped
    taken = []
    for grade_id in ANSWERS:
        box = driver.find_element(By.ID, grade_id)
        assert box.get_attribute("value") == ""  # the TA's score boxes are untouched
        driver.execute_script("arguments[0].scrollIntoView({block: 'start'}); window.scrollBy(0, -120);", box)
        taken.append(shots / f"hostile-{grade_id}.png")
        driver.save_screenshot(str(taken[-1]))
    links = [a.get_attribute("href") for a in answer.find_elements(By.CSS_SELECTOR, ".text_cell_render a")]
    assert links, "the honest part of the answer links the student's notes"
    for index in range(len(links)):  # click each link in the answers, as a curious TA would
        link = driver.find_elements(By.CSS_SELECTOR, "#notebook-container .text_cell_render a")[index]
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", link)
        fg.click(driver, link)
        assert ran_in(driver) == set(), links[index]
        driver.get(page)
        fg.wait(driver).until(lambda d: d.execute_script("return !!(window.formgrader && formgrader.grades)"))
    return taken


@browser_test
def test_nothing_a_student_writes_runs_in_staff_pages(hostile_course, tmp_path):
    from selenium.webdriver.common.by import By

    from autograder.pipeline import records_io

    course = hostile_course
    flags = [f for f in records_io.load(course, "ada", A).flags if f.kind == "active-content"]
    assert len(flags) == 1 + len(hostile.FILES)  # the notebook and each active file, for a person
    assert not [f for f in records_io.load(course, "dev", A).flags if f.kind == "active-content"]
    shots = fg.screenshot_dir()
    with fg.formgrader(course.root, tmp_path) as url, fg.chrome(tmp_path, height=1200) as driver:
        page = _grading_page_url(course, url, "ada")
        with urllib.request.urlopen(page) as reply:
            policy = reply.headers["Content-Security-Policy"]
        script_src = next(d for d in policy.split("; ") if d.startswith("script-src"))
        assert "'unsafe-inline'" not in script_src and "'sha256-" in script_src
        taken = _check_grading_page(driver, page, shots)

        for name in hostile.FILES:  # everything formgrader serves from the submission
            with urllib.request.urlopen(page + name) as reply:
                assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
                assert reply.headers["Content-Security-Policy"].startswith("sandbox;")
            driver.get(page + name)
            assert ran_in(driver) == set(), name
            assert "ran:file-" in driver.find_element(By.TAG_NAME, "body").text  # readable as text

        feedback = course.feedback("ada", A)
        for opened in (feedback / f"{A}.html", feedback / "feedback.html",
                       course.root / "reports" / f"{A}.html"):
            assert opened.is_file(), opened
            driver.get(opened.resolve().as_uri())
            assert ran_in(driver) == set(), opened
        driver.get((feedback / f"{A}.html").resolve().as_uri())
        taken.append(fg.full_page_screenshot(driver, shots / "hostile-nbgrader-feedback.png"))

        # the autograded notebook has no outputs; a notebook that keeps them, through the course's config
        from nbconvert import HTMLExporter

        exporter = HTMLExporter(config=course.config())
        rich = tmp_path / "with-outputs.html"
        rich.write_text(csp.with_meta_policy(exporter.from_filename(
            str(course.submitted("ada", A) / f"{A}.ipynb"))[0]))
        driver.get(rich.as_uri())
        assert ran_in(driver) == set()
        assert "[a text/html output, shown as text:]" in driver.find_element(By.TAG_NAME, "body").text

    with course.gradebook() as gb:  # nothing wrote a score while the TA looked
        assert all(gb.find_grade(g, A, A, "ada").manual_score is None for g in ANSWERS)
    print("\nscreenshots:", *taken, sep="\n  ")

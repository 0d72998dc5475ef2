"""A student's real path on JupyterHub, in headless Chromium, down to the feedback that names the mistake.

Everything on 127.0.0.1 (``hub_driver.Hub``): a real JupyterHub with its proxy, DummyAuthenticator,
two students and one instructor who are real Unix users, the grading service (``python -m
autograder serve``) as a hub-managed service, and for the student a real single-user JupyterLab
spawned by the hub as their Unix user, configured as docs/operations.md says (the course's
``nbgrader_config.py`` and the nbgrader lab extension through the spawner's ``JUPYTER_CONFIG_PATH``).

In Chromium, as a student would: log in on the hub's form; JupyterLab opens; the menu Nbgrader >
Assignment List opens the Assignments tab; Fetch the released assignment; open the notebook from
the tab and type a solution into its cells (``mse`` with the catalogue's typical mistake
``mse.sum_instead_of_mean``, assignments/loss_functions/mistakes.py, and a right ``mae``); save with
Ctrl+S; Submit; the service grades it; Fetch Feedback, (view feedback) and open the page, which must
name the mistake. Then the service's page as the student, and as the instructor (after logging
out) the staff page, which lists the whole roster: the other student has not submitted.

A screenshot of every step goes to ``screenshots/hub/NN-step.png``, for a person to look at.
Slow, as root (it makes the users); skipped without Chromium, the proxy or root, with the reason.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

import formgrader_driver as fg
from hub_driver import PASSWORD, Hub, kill_service, kill_users_processes, service_state, skip_reason
from test_service_e2e import _wait, released_course, users  # noqa: F401

try:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, TimeoutException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # the test is skipped (formgrader_driver.missing)
    pass

pytestmark = pytest.mark.slow
EXTRA_CONFIG = '\nc.InstantFeedback.staff_group = "instructors"\n'
A = "loss_functions"
# what the student types over each stub's `raise NotImplementedError()` (one line each)
MSE_WITH_MISTAKE = "return ((y_pred - y_true) ** 2).sum()"  # mistakes.py: mse.sum_instead_of_mean
MAE_RIGHT = "return (y_pred - y_true).abs().mean()"
SHOTS = fg.REPO / "screenshots" / "hub"
TIMEOUT = 120  # s, for any one step on a loaded 2-core machine
SPAWN_TIMEOUT = 240  # s, the spawner's own start_timeout (hub_driver)


def _why_skip() -> str | None:
    return skip_reason() or (fg.SKIP_REASON if fg.missing() else None)


@pytest.mark.skipif(_why_skip() is not None, reason=_why_skip() or "")
def test_a_student_fetches_submits_and_reads_feedback_in_jupyterlab_on_the_hub(tmp_path, users):
    base = Path(tempfile.mkdtemp(prefix="autograder-hub-lab-"))
    base.chmod(0o755)
    hub = people = None
    try:
        course, exchange, people = released_course(
            tmp_path, base, users, "ab", "2099-01-01T00:00Z", EXTRA_CONFIG, staff="i")
        ada, ben, prof = people
        hub = Hub(base, course.root, exchange, prof.name, [p.name for p in people], single_user=True)
        hub.wait_ready()
        with fg.chrome(tmp_path, width=1280, height=900) as driver:
            path = StudentPath(driver, hub, course.root, _shots())
            try:
                path.walk(ada.name, ben.name, prof.name, ada.home)
            except Exception as exc:  # the step, the page and what the hub said, for whoever reads it
                path.shot("failed")
                raise AssertionError(f"{exc}\n--- hub log (end) ---\n{hub.text()[-6000:]}") from exc
    finally:
        if hub is not None:
            hub.stop()
            kill_service(tmp_path / "course")
        if people:
            kill_users_processes([p.name for p in people])
        shutil.rmtree(base, ignore_errors=True)


def _shots() -> Path:
    """screenshots/hub/, emptied: what a person finds there is this run's."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    return SHOTS


class StudentPath:
    def __init__(self, driver, hub: Hub, course: Path, shots: Path) -> None:
        self.driver, self.hub, self.course, self.shots = driver, hub, course, shots
        self.count = 0

    # -- helpers ---------------------------------------------------------------------------
    def shot(self, name: str) -> Path:
        self.count += 1
        path = self.shots / f"{self.count:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def until(self, what: str, condition, timeout: float = TIMEOUT):
        """Wait for ``condition(driver)``; a timeout names the step and what was awaited."""
        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.1, ignored_exceptions=(
                NoSuchElementException, StaleElementReferenceException)).until(condition)
        except TimeoutException:
            raise AssertionError(f"step {self.count + 1}: timed out after {timeout} s waiting for {what} "
                                 f"(at {self.driver.current_url})") from None

    def css(self, selector: str, text: str = ""):
        """The first element matching ``selector`` (whose text contains ``text``), or None."""
        for element in self.driver.find_elements(By.CSS_SELECTOR, selector):
            try:
                if text in element.text and element.is_displayed():
                    return element
            except StaleElementReferenceException:
                continue
        return None

    def click(self, what: str, selector: str, text: str = "") -> None:
        element = self.until(what, lambda d: self.css(selector, text))
        fg.click(self.driver, element)

    def hub_login(self, name: str, next_path: str = "") -> None:
        self.driver.get(self.hub.url("/hub/login" + (f"?next={next_path}" if next_path else "")))
        self.until("the hub's login form", lambda d: self.css("input#username_input"))
        self.driver.find_element(By.ID, "username_input").send_keys(name)
        self.driver.find_element(By.ID, "password_input").send_keys(PASSWORD)
        self.shot(f"hub-login-{'student' if not next_path else 'instructor'}")
        self.driver.find_element(By.ID, "login_submit").click()

    # -- the path ----------------------------------------------------------------------------
    def walk(self, student: str, other: str, instructor: str, home: Path) -> None:
        self.hub_login(student)
        self.until("JupyterLab (the single-user server spawned for the student)",
                   lambda d: f"/user/{student}/lab" in d.current_url and self.css("#jp-main-dock-panel")
                   and self.css(".lm-MenuBar-itemLabel", "File"), SPAWN_TIMEOUT)
        self.until("the file browser", lambda d: self.css(".jp-DirListing-content"))
        self.no_news()
        self.shot("jupyterlab")

        self.assignments_tab()
        self.click("the Fetch button of the released assignment", "#released_assignments_list button", "Fetch")
        self.until("the fetched assignment", lambda d: self.css("#fetched_assignments_list .list_item", A))
        assert (home / A / f"{A}.ipynb").is_file(), "step fetch: the notebook is not in the student's home"
        self.shot("fetched")

        self.write_solution(home / A / f"{A}.ipynb")
        self.check_processes(student)

        self.activate_tab("Assignments")
        self.click("the Submit button", "#fetched_assignments_list button", "Submit")
        self.until("the submission in the Submitted list",
                   lambda d: self.css("#submitted_assignments_list .list_item", A))
        self.shot("submitted")

        released = _wait("the service to release feedback for the submission", lambda: service_state(
            self.course, "SELECT state, score FROM submissions WHERE student = ? AND state = 'released'",
            (student,)), TIMEOUT)
        self.refresh_until("the panel to say the feedback is there to fetch", "(feedback available to fetch)")
        self.shot("feedback-available")
        self.click("the Fetch Feedback button", "#submitted_assignments_list button", "Fetch Feedback")
        self.until("the (view feedback) link", lambda d: self.css("#submitted_assignments_list a", "view feedback"))
        self.shot("feedback-fetched")
        self.click("(view feedback)", "#submitted_assignments_list a", "view feedback")
        self.until("the feedback folder in the file browser",
                   lambda d: self.css(".jp-DirListing-item", f"{A}.html"))
        self.shot("feedback-folder")
        self.open_feedback()

        self.service_page_as_student(student, released[0][1])
        self.driver.get(self.hub.url("/hub/logout"))
        self.until("the hub's logout", lambda d: "/hub/login" in d.current_url or self.css("#login_submit"))
        self.staff_page(instructor, student, other)

    def no_news(self) -> None:
        """JupyterLab asks whether to fetch Jupyter's news (a toast over the corner): No, as a
        student would; should it not ask within a while, nothing is in the way."""
        try:
            button = fg.wait(self.driver, 20).until(lambda d: self.css(".jp-toast-button", "No"))
        except TimeoutException:
            return
        fg.click(self.driver, button)
        self.until("the news toast to go", lambda d: not self.css(".jp-toast-button", "No"), 30)

    def assignments_tab(self) -> None:
        """Nbgrader > Assignment List, as a student finds it in the menu bar."""
        self.click("the Nbgrader menu", ".lm-MenuBar-itemLabel", "Nbgrader")
        self.until("Assignment List in the Nbgrader menu", lambda d: self.css(".lm-Menu-itemLabel", "Assignment List"))
        items = [e.text for e in self.driver.find_elements(By.CSS_SELECTOR, ".lm-Menu-itemLabel") if e.text]
        assert not {"Formgrader", "Create assignment"} & set(items), f"staff items in a student's menu: {items}"
        self.shot("nbgrader-menu")
        self.click("Assignment List in the Nbgrader menu", ".lm-Menu-itemLabel", "Assignment List")
        self.until("the Assignments tab listing the released assignment",
                   lambda d: self.css("#released_assignments_list .list_item", A)
                   and self.css("#released_assignments_list button", "Fetch"))
        self.shot("assignments-tab")

    def activate_tab(self, label: str) -> None:
        self.click(f"the {label} tab", ".lm-DockPanel-tabBar .lm-TabBar-tabLabel", label)

    def write_solution(self, notebook: Path) -> None:
        """Open the fetched notebook from the tab, type over two stubs, save with Ctrl+S."""
        self.click("the fetched assignment (to show its notebooks)", "#fetched_assignments_list .item_name a", A)
        self.click("the notebook's link in the Assignments tab", "#fetched_assignments_list .assignment-notebooks a", A)
        self.until("the notebook open in JupyterLab", lambda d: self.css(".jp-NotebookPanel .jp-Cell .cm-content"))
        for function, line in (("mae", MAE_RIGHT), ("mse", MSE_WITH_MISTAKE)):  # the mistake last, in view
            self.type_over_stub(function, line)
        self.shot("solution-typed")
        ActionChains(self.driver).key_down(Keys.CONTROL).send_keys("s").key_up(Keys.CONTROL).perform()

        def saved(_driver) -> bool:
            try:
                text = "".join(c.source for c in nbformat.read(notebook, as_version=4).cells)
            except Exception:
                return False
            return MSE_WITH_MISTAKE in text and MAE_RIGHT in text

        self.until("the notebook saved with the typed solution", saved)
        self.until("the notebook's kernel", lambda d: self.css(".jp-StatusBar-Widget", "Idle"))
        self.shot("solution-saved")

    def check_processes(self, student: str) -> None:
        """The student's server and kernel run as the student; nothing the hub started listens
        beyond 127.0.0.1; the student's server has no formgrader (a staff-only extension)."""
        status = self.driver.execute_async_script(
            "fetch(arguments[0], {credentials: 'same-origin'}).then(r => arguments[1](r.status))",
            f"/user/{student}/formgrader")
        assert status == 404, f"formgrader answers {status} in the student's server"
        mine = [p for p in self.hub.processes() if p.username() == student]
        names = " ".join(" ".join(p.cmdline()) for p in mine)
        assert "jupyterhub-singleuser" in names and "ipykernel" in names, \
            f"the student's server and kernel do not run as {student}: {names or 'nothing does'}"
        listening = self.hub.listening()
        outside = {who: ports for who, ports in listening.items() if any(not p.startswith("127.0.0.1:") for p in ports)}
        assert not outside, f"listening beyond 127.0.0.1: {outside}"
        assert any(student in who for who in listening), listening

    def type_over_stub(self, function: str, line: str) -> None:
        """Select the ``raise NotImplementedError()`` line of ``function``'s cell and type ``line``
        (End, then Shift+Home: CodeMirror selects back to the indentation). The cell is looked up
        afresh each time: JupyterLab may draw it again as the notebook scrolls."""
        stub = self.until(f"the stub line of {function}", lambda d: next(
            (ln for ln in self.cell(function).find_elements(By.CSS_SELECTOR, ".cm-line")
             if "NotImplementedError" in ln.text), None))
        fg.click(self.driver, stub)
        ActionChains(self.driver).send_keys(Keys.END).key_down(Keys.SHIFT).send_keys(Keys.HOME) \
            .key_up(Keys.SHIFT).send_keys(line).perform()
        self.until(f"{function}'s cell to show the typed line", lambda d: (lambda text: line in text and (
            "NotImplementedError" not in text))(self.cell(function).find_element(By.CSS_SELECTOR, ".cm-content").text))

    def cell(self, function: str):
        """The code cell that defines ``function``, scrolled into view."""
        return self.until(f"the cell of {function}", lambda d: d.execute_script(
            """for (const cell of document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell')) {
                 const text = cell.querySelector('.cm-content');
                 if (text && text.textContent.includes('def ' + arguments[0] + '(')) {
                   cell.scrollIntoView({block: 'center'}); return cell; } }
               return null;""", function))

    def refresh_until(self, what: str, text: str) -> None:
        def shown(driver):
            if self.css("#submitted_assignments_list", text):
                return True
            self.click("the refresh button of the Assignments tab", "#refresh_assignments_list")
            time.sleep(1.0)
            return False

        self.until(what, shown)

    def open_feedback(self) -> None:
        """Double-click the page in the file browser: JupyterLab's HTML viewer shows it in a frame."""
        def opened(driver):
            frame = self.css(".jp-HTMLViewer iframe")
            if frame is None:
                item = self.css(".jp-DirListing-item", f"{A}.html")
                if item is not None:  # again after a while: the listing may have been drawn anew
                    ActionChains(driver).double_click(item).perform()
                    time.sleep(2.0)
            return frame

        frame = self.until("the feedback page open in JupyterLab's HTML viewer", opened)
        self.driver.switch_to.frame(frame)
        try:
            body = self.until("the feedback page's text", lambda d: "Likely mistake" in (
                d.find_element(By.TAG_NAME, "body").text) and d.find_element(By.TAG_NAME, "body").text)
            assert "Instant feedback on your submission" in body, body[:1000]
            self.until("the mse part of the feedback", lambda d: d.execute_script(
                "const e = document.getElementById('mse_hidden'); if (e) e.scrollIntoView(); return !!e;"))
            part = self.driver.find_element(By.ID, "mse_hidden").text
        finally:
            self.driver.switch_to.default_content()
        assert "Likely mistake" in part and "sum" in part.lower(), f"the mse feedback names no mistake:\n{part}"
        assert "\n.\n" not in f"\n{part}\n", f"a withheld message left a lone '.':\n{part}"
        self.shot("feedback-names-the-mistake")

    def service_page_as_student(self, student: str, score: float) -> None:
        self.driver.get(self.hub.url("/services/autograder/"))
        text = self.until("the service's page for the student", lambda d: "Instant feedback" in d.page_source
                          and self.css("h1", student) and self.css("body").text)
        assert "feedback ready" in text and A in text and f"{score:g} / " in text, text
        assert "Staff page" not in text, text
        self.shot("service-student-page")
        self.click("the feedback link on the service's page", "a", "open")
        text = self.until("the feedback on the service's page", lambda d: "Likely mistake" in self.css("body").text
                          and self.css("body").text)
        assert "sum" in text.lower(), text[:2000]
        self.shot("service-feedback")

    def staff_page(self, instructor: str, student: str, other: str) -> None:
        self.hub_login(instructor, "/services/autograder/staff")
        text = self.until("the staff page", lambda d: "Instant feedback: staff" in d.page_source
                          and self.css("body").text)
        rows = {ln.split()[0]: ln for ln in text.splitlines() if ln.split() and ln.split()[0] in (student, other)}
        assert student in rows and "feedback ready" in rows[student], text
        assert other in rows and "no submission" in rows[other], f"the roster's other student is missing:\n{text}"
        self.shot("service-staff-page")

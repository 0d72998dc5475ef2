"""The grading service as a JupyterHub-managed service, with a real hub: access control of its pages.

A real JupyterHub (pip ``jupyterhub``, its proxy npm's ``configurable-http-proxy``) on 127.0.0.1,
DummyAuthenticator with a password (no outside service), two students and one instructor who are
real Unix users (the students submit with ``nbgrader submit`` as themselves, as in
``test_service_e2e``), the instructor in the hub group ``instructors``, and ``python -m autograder
serve`` started by the hub as a managed service. Every page and crafted URL is asked as each user
(logged in through the hub's own login form and OAuth) and without login.

Runs as root (it creates and removes the users); skipped otherwise, or without the proxy.
"""
from __future__ import annotations

import http.client
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from hub_driver import Hub, api_token, kill_service, login, service_state, skip_reason
from test_service_e2e import COURSE_ID, _feedback_file, _notebooks, _wait, released_course, users  # noqa: F401

pytestmark = pytest.mark.slow
PAYLOAD = "<svg onload=alert(1)>"
EXTRA_CONFIG = """
c.InstantFeedback.rate_limit = 1
c.InstantFeedback.rate_period_minutes = 60.0
c.InstantFeedback.staff_group = "instructors"
"""


def _raw(hub: Hub, path: str, session=None, method: str = "GET", body: str | None = None):
    """Ask for ``path`` exactly as written (no dot-segment clean-up, no re-encoding)."""
    conn = http.client.HTTPConnection("127.0.0.1", hub.public, timeout=30)
    headers = {}
    if session is not None:
        headers["Cookie"] = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    reply = conn.getresponse()
    text = reply.read().decode(errors="replace")
    conn.close()
    return reply.status, {k.lower(): v for k, v in reply.getheaders()}, text


def _secure(headers: dict, path: str) -> None:
    csp = headers.get("content-security-policy", "")
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, (path, csp)
    assert "script-src" not in csp and "'unsafe-eval'" not in csp, (path, csp)  # no script at all
    assert headers.get("x-content-type-options") == "nosniff", path


@pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")
def test_pages_behind_the_hub_login_show_each_user_only_what_is_theirs(tmp_path, users):
    base = Path(tempfile.mkdtemp(prefix="autograder-hub-"))
    base.chmod(0o755)
    hub = None
    try:
        course, exchange, (ada, ben, prof) = released_course(
            tmp_path, base, users, "ab", "2099-01-01T00:00Z", EXTRA_CONFIG, staff="i")
        root = course.root
        correct, mistake, _slow = _notebooks()
        hub = Hub(base, root, exchange, prof.name, [ada.name, ben.name, prof.name])
        hub.wait_ready()
        try:
            _check_pages(hub, root, exchange, ada, ben, prof, correct, mistake)
        except AssertionError as exc:  # what the hub and the service said, for whoever reads the failure
            raise AssertionError(f"{exc}\n--- hub log (end) ---\n{hub.text()[-6000:]}") from None
    finally:
        if hub is not None:
            hub.stop()
            kill_service(tmp_path / "course")
        shutil.rmtree(base, ignore_errors=True)


def _check_pages(hub, root, exchange, ada, ben, prof, correct, mistake) -> None:
    a, b, p = ada.name, ben.name, prof.name
    prefix = "/services/autograder/"
    first = ada.submit(mistake, exchange)
    ben_sub = ben.submit(correct, exchange)
    for sub in (first, ben_sub):
        _wait("feedback", lambda sub=sub: _feedback_file(exchange, sub["secret"]).is_file(), 90)
    # ada forges a submission by hand: a hostile timestamp.txt and folder name; over her limit (1 an hour)
    forged = exchange / COURSE_ID / "inbound" / f"{a}+loss_functions+2020-01-01 00:00:00 UTC+{PAYLOAD}"
    ada.run("sh", "-c", 'mkdir "$0" && cp loss_functions/loss_functions.ipynb "$0"/ && '
                        f'printf "%s" "$1" > "$0/timestamp.txt" && printf "{"cd" * 64}" > "$0/submission_secret.txt"',
            str(forged), f"<script>alert('{a}')</script>")
    noticed = "SELECT noticed_at FROM submissions WHERE id = ?"
    try:
        _wait("the forged one over the limit",
              lambda: (service_state(root, noticed, (forged.name,)) or [(None,)])[0][0], 30)
    except AssertionError:
        rows = service_state(root, "SELECT id, state, detail FROM submissions")
        raise AssertionError(f"{rows}\n{hub.text()[-4000:]}")

    import requests

    sa, sb, sp = login(hub, a), login(hub, b), login(hub, p)

    # anonymous: every page sends to the hub's login, a POST is refused
    for path in ("", "staff", f"students/{a}", f"students/{a}/feedback/1", "metrics"):
        status, headers, _ = _raw(hub, prefix + path)
        assert status == 302 and "/hub/api/oauth2/authorize" in headers.get("location", ""), (path, status)
        _secure(headers, path)
    landed = requests.get(hub.url(prefix + f"students/{a}"), timeout=30)
    assert "/hub/login" in landed.url, landed.url
    status, headers, _ = _raw(hub, prefix + "staff/lift", method="POST", body=f"student={a}&assignment=loss_functions")
    assert status == 403, status

    # ada: her own page (states, quota), her feedback with the named mistake; nothing of ben's
    status, headers, page = _raw(hub, prefix, sa)
    assert status == 200, page
    _secure(headers, prefix)
    assert "feedback ready" in page and "over the limit until" in page and b not in page
    assert re.search(r"<td>loss_functions</td><td class=\"num\">0</td>", page), page  # no feedback left now
    assert "Staff page" not in page
    status, headers, fb = _raw(hub, prefix + f"students/{a}/feedback/1", sa)
    assert status == 200 and "Likely mistake" in fb and "sum" in fb.lower(), fb[:2000]
    _secure(headers, "feedback")
    expected = {  # path -> status, as ada
        f"students/{a}": 200, f"students/{b}": 403, f"students/{b}/feedback/1": 403, "staff": 403, "metrics": 403,
        f"students/{a}/feedback/0": 400, f"students/{a}/feedback/-1": 400, f"students/{a}/feedback/999": 404,
        f"students/{a}/feedback/2": 404,  # the forged one: no feedback yet (over the limit)
        f"students/{a}/feedback/..%2F1": 400, f"students/{a}%2F..%2F{b}": 400, "students/..%2F..%2Fhub%2Fadmin": 400,
        "students/" + "a" * 200: 400, "students/%00": 400, f"students/{a}%00": 400,
        "students/": 400, "nothing-here": 404, f"students/{a}/feedback/1/x": 404,
    }
    for path, want in expected.items():
        status, headers, text = _raw(hub, prefix + path, sa)
        assert status == want, (path, status, text[:300])
        _secure(headers, path)
        assert b not in text or path == f"students/{b}", path
    for path in ("students/../staff", f"students/{a}/../../staff", "students/%2e%2e/staff", "students/%2e%2e",
                 f"students/{a}/feedback/../../{b}", "students/%2e%2e/%2e%2e/%2e%2e/hub/admin"):
        # the proxy resolves dot segments first; whatever it makes of them: never staff's or ben's page
        status, headers, text = _raw(hub, prefix + path, sa)
        assert status in (200, 302, 400, 403, 404) and "Instant feedback: staff" not in text and b not in text, (path, status)
    status, _, _ = _raw(hub, prefix + "staff/lift", sa, "POST",
                        f"student={a}&assignment=loss_functions&_xsrf={sa.cookies.get('_xsrf', '', path=prefix)}")
    assert status == 403  # not staff, with or without a token of her own

    # ben: ada's pages are not his
    for path in (f"students/{a}", f"students/{a}/feedback/1", "staff"):
        assert _raw(hub, prefix + path, sb)[0] == 403, path
    status, _, page = _raw(hub, prefix, sb)
    assert status == 200 and "feedback ready" in page and a not in page

    # the instructor: the staff page (queue, every student, latency, flags), any student's page, metrics
    status, headers, staff = _raw(hub, prefix + "staff", sp)
    assert status == 200, staff[:500]
    _secure(headers, "staff")
    assert a in staff and b in staff and "p50" in staff and "Forged or odd timestamps" in staff
    assert PAYLOAD not in staff and "<script>alert" not in staff  # shown as text
    assert "&lt;svg onload=alert(1)&gt;" in staff and "&lt;script&gt;alert" in staff
    assert _raw(hub, prefix + f"students/{a}/feedback/1", sp)[0] == 200
    assert _raw(hub, prefix + "students/nobody", sp)[0] == 404
    status, _, metrics = _raw(hub, prefix + "metrics", sp)
    assert status == 200 and "autograder_queue_depth" in metrics
    _scrape_with_tokens(hub, prefix + "metrics", sp, p, sa, a)
    # actions: refused without the XSRF token; with it, the rate limit is lifted and the forged one graded
    body = f"student={a}&assignment=loss_functions"
    assert _raw(hub, prefix + "staff/lift", sp, "POST", body)[0] == 403
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', staff).group(1)
    reply = sp.post(hub.url(prefix + "staff/lift"), data={"student": a, "assignment": "loss_functions",
                                                          "_xsrf": xsrf}, allow_redirects=False, timeout=30)
    assert reply.status_code == 303, (reply.status_code, reply.text[:300])
    assert sp.post(hub.url(prefix + "staff/lift"), data={"student": "../x", "assignment": "loss_functions",
                                                         "_xsrf": xsrf}, allow_redirects=False).status_code == 400
    _wait("the forged one graded after the lift", lambda: service_state(
        root, "SELECT releases FROM submissions WHERE id = ?", (forged.name,)) == [(1,)], 60)
    reply = sp.post(hub.url(prefix + "staff/grade"), data={"student": a, "assignment": "loss_functions",
                                                           "_xsrf": xsrf}, allow_redirects=False, timeout=30)
    assert reply.status_code == 303
    _wait("ada's latest graded again", lambda: service_state(
        root, "SELECT releases FROM submissions WHERE id = ?", (forged.name,)) == [(2,)], 60)
    staff = sp.get(hub.url(prefix + "staff"), timeout=30).text
    assert "rate limit lifted" in staff and "graded again" in staff
    status, _, page = _raw(hub, prefix, sa)
    assert page.count("feedback ready") == 2 and "over the limit" not in page
    assert "staff-grade" in hub.text() and "staff-lift" in hub.text()


def _scrape_with_tokens(hub, path, staff_session, staff, student_session, student) -> None:
    """/metrics as Prometheus scrapes it through the hub (docs/operations.md): a hub API token of a
    staff-group member, limited to this service, in ``Authorization: Bearer``; no cookies."""
    import requests

    token = api_token(hub, staff_session, staff, ["access:services!service=autograder"])
    reply = requests.get(hub.url(path), headers={"Authorization": f"Bearer {token}"}, allow_redirects=False,
                         timeout=30)
    assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("text/plain"), reply.status_code
    assert "autograder_queue_depth" in reply.text and "autograder_feedback_latency_seconds_count" in reply.text
    refused = {  # what a scrape gets without a staff token: never the figures
        "no token": {}, "a made-up token": {"Authorization": "Bearer " + "0" * 32},
        "a student's token": {"Authorization": f"Bearer {api_token(hub, student_session, student, [])}"}}
    for why, headers in refused.items():
        reply = requests.get(hub.url(path), headers=headers, allow_redirects=False, timeout=30)
        assert reply.status_code in (302, 403) and "autograder_" not in reply.text, (why, reply.status_code)
        if reply.status_code == 302:
            assert "/hub/api/oauth2/authorize" in reply.headers["Location"], (why, reply.headers["Location"])

"""A real JupyterHub on 127.0.0.1 with the grading service as a hub-managed service, for the hub tests.

``Hub`` writes a ``jupyterhub_config.py`` (DummyAuthenticator with ``PASSWORD``, the hub group
``instructors``, the roles and the service entry of docs/operations.md, "On JupyterHub") and starts
``jupyterhub`` as root with its own ``configurable-http-proxy``; every port is a free loopback
port, the database, cookie secret and proxy pid file live in the test's own folder, so hubs of
tests running side by side (pytest-xdist) do not meet. With ``single_user=True`` the hub also
spawns a real single-user JupyterLab per user (LocalProcessSpawner, as that Unix user), configured
as docs/operations.md says: ``JUPYTER_CONFIG_PATH`` in the spawner's environment names a folder
(``student_config``) with the course's ``nbgrader_config.py`` (exchange root, course id) and the
staff-only extensions switched off.

The venv's interpreter may live under a folder students cannot enter (pyenv under /root, mode
0700, as on this project's CI). Then a student's server is started as root in a private mount
namespace that shows only that folder of /root (``test_service_e2e.private_python``, the same
view the students' ``nbgrader`` commands get) and drops to the student with ``setpriv`` before
the server starts; a hub whose Python is world-readable (any real one) uses LocalProcessSpawner
unchanged.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from formgrader_driver import free_port
from test_service_e2e import COURSE_ID, _wait, _why_not, private_python, python_root

PASSWORD = "correct horse battery staple"
SINGLEUSER = str(Path(sys.executable).with_name("jupyterhub-singleuser"))
STAFF_ONLY = ("nbgrader.server_extensions.formgrader", "autograder.staff_pages.server_extension")
STAFF_ONLY_LAB = ("@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment")
# as the student: in their home, their own uid, gid and groups (after the namespace is set up as root)
AS_STUDENT = 'cd "$HOME" && exec setpriv --reuid="$USER" --regid="$USER" --init-groups -- "$@"'


def skip_reason() -> str | None:
    if _why_not():
        return _why_not()
    if shutil.which("configurable-http-proxy") is None:
        return "needs configurable-http-proxy (npm install -g configurable-http-proxy@5.3.0; ./setup.sh tests does)"
    if shutil.which("setpriv") is None:
        return "needs setpriv (util-linux)"
    try:
        import jupyterhub  # noqa: F401
    except ImportError:
        return "needs jupyterhub (pip, requirements.txt)"
    return None


HUB_CONFIG = """
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {public}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api}"
c.ConfigurableHTTPProxy.pid_file = "{base}/proxy.pid"
c.JupyterHub.db_url = "sqlite:///{base}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{base}/jupyterhub_cookie_secret"
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = {password!r}
c.Authenticator.allowed_users = {users!r}
c.JupyterHub.load_groups = {{"instructors": {{"users": [{staff!r}]}}}}
c.JupyterHub.load_roles = [
    {{"name": "user", "scopes": ["self", "access:services!service=autograder"]}},
    {{"name": "autograder", "scopes": ["read:groups!group=instructors"], "services": ["autograder"]}},
]
c.JupyterHub.services = [{{
    "name": "autograder",
    "url": "http://127.0.0.1:{service}",
    "command": {command!r},
    "cwd": {course!r},
    "environment": {{"AUTOGRADER_EXCHANGE": {exchange!r}, "PYTHONUNBUFFERED": "1"}},
    "oauth_no_confirm": True,
}}]
"""
SINGLE_USER_CONFIG = """
c.Spawner.cmd = {cmd!r}
c.Spawner.default_url = "/lab"
c.Spawner.ip = "127.0.0.1"
c.Spawner.environment = {{"JUPYTER_CONFIG_PATH": {student_config!r}}}
c.Spawner.start_timeout = 240   # a loaded 2-core machine imports JupyterLab slowly
c.Spawner.http_timeout = 240
"""


def student_config(folder: Path, exchange: Path) -> Path:
    """The folder a course admin names in the spawner's ``JUPYTER_CONFIG_PATH``: nbgrader's
    exchange and course for the Assignments tab, no formgrader or staff pages for students."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.Exchange.root = {str(exchange)!r}\nc.CourseDirectory.course_id = {COURSE_ID!r}\n")
    (folder / "jupyter_server_config.json").write_text(json.dumps(
        {"ServerApp": {"jpserver_extensions": {name: False for name in STAFF_ONLY}}}, indent=1))
    (folder / "labconfig").mkdir(exist_ok=True)
    (folder / "labconfig" / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {name: True for name in STAFF_ONLY_LAB}}, indent=1))
    for path in (folder, folder / "labconfig"):
        path.chmod(0o755)
    return folder


class Hub:
    def __init__(self, base: Path, course: Path, exchange: Path, staff: str, users: list[str],
                 single_user: bool = False) -> None:
        self.base, self.public = base, free_port()
        self.service_port = free_port()
        command = [sys.executable, "-m", "autograder", "--course-root", str(course), "serve",
                   "--metrics-port", "0", "--jobs", "2"]
        config = HUB_CONFIG.format(
            public=self.public, hub=free_port(), proxy_api=free_port(), base=base, password=PASSWORD,
            users=set(users), staff=staff, service=self.service_port, command=command, course=str(course),
            exchange=str(exchange))
        if single_user:
            config += self._single_user(student_config(base / "student-jupyter", exchange))
        (base / "jupyterhub_config.py").write_text(config)
        self.log = base / "hub.log"
        self.out = open(self.log, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(base / "jupyterhub_config.py")],
                                     cwd=base, stdout=self.out, stderr=subprocess.STDOUT, start_new_session=True)

    def _single_user(self, folder: Path) -> str:
        hidden = python_root()
        if hidden is None:  # a real hub: LocalProcessSpawner as it comes
            return SINGLE_USER_CONFIG.format(cmd=[SINGLEUSER], student_config=str(folder))
        cmd = [*private_python(hidden, self.base / "python-view"), "sh", "-c", AS_STUDENT, "as-student", SINGLEUSER]
        return (SINGLE_USER_CONFIG.format(cmd=cmd, student_config=str(folder))
                + 'c.LocalProcessSpawner.popen_kwargs = {"preexec_fn": None}  # setpriv drops to the student\n')

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.public}{path}"

    def text(self) -> str:
        return self.log.read_text()

    def wait_ready(self) -> None:
        _wait("the hub and the service", lambda: " serving " in self.text() or self.proc.poll() is not None, 180)
        assert self.proc.poll() is None, self.text()[-3000:]

    def processes(self) -> list:
        """The hub and everything it started, as ``psutil.Process``: the proxy, the service and its
        workers, the single-user servers and their kernels."""
        import psutil

        hub = psutil.Process(self.proc.pid)
        return [hub, *hub.children(recursive=True)]

    def listening(self) -> dict[str, list[str]]:
        """Each of those that listens on TCP: "pid name (user)" -> its "address:port"s."""
        import psutil

        found = {}
        for proc in self.processes():
            try:
                ports = [f"{c.laddr.ip}:{c.laddr.port}" for c in proc.net_connections(kind="inet")
                         if c.status == psutil.CONN_LISTEN]
                if ports:
                    found[f"{proc.pid} {proc.name()} ({proc.username()})"] = ports
            except psutil.NoSuchProcess:
                pass
        return found

    def stop(self) -> None:
        """The hub stops the single-user servers and the service; the group kill is for what it missed."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the proxy and the service: nothing outlives the test
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)
        self.out.close()


def login(hub: Hub, name: str):
    """A ``requests`` session logged in to the hub as ``name`` and through the service's OAuth."""
    import requests

    session = requests.Session()
    session.get(hub.url("/hub/login"), timeout=30)
    reply = session.post(hub.url("/hub/login"), data={"username": name, "password": PASSWORD,
                                                      "_xsrf": session.cookies.get("_xsrf", "")},
                         allow_redirects=False, timeout=30)  # not on to /hub/spawn: no notebook server here
    assert reply.status_code == 302 and "/hub/login" not in reply.headers["Location"], (name, reply.status_code)
    first = session.get(hub.url("/services/autograder/"), timeout=60)  # the OAuth dance, once
    assert first.status_code == 200, (name, first.status_code, first.text[:500])
    return session


def service_state(course: Path, sql: str, args=()) -> list:
    """Rows of the service's state file, read-only (the service keeps writing it)."""
    db = sqlite3.connect(f"file:{course / 'instant_feedback.sqlite'}?mode=ro", uri=True, timeout=10)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def kill_service(course: Path) -> None:
    """The hub stops its managed service on SIGTERM; should it not, the service (in its own session)
    is killed here by the pid in its lock file, so nothing of the test outlives it."""
    lock = course / "instant_feedback.sqlite.lock"
    pid = lock.read_text().strip() if lock.is_file() else ""
    try:
        ours = pid.isdigit() and str(course).encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        ours = False
    if ours:  # still running, and the one this test started (not a pid used again since)
        try:
            os.killpg(int(pid), signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def kill_users_processes(names: list[str]) -> None:
    """SIGKILL whatever still runs as one of these (the test's own, made-up) users: a single-user
    server or kernel the hub did not stop must not outlive the test or keep ``userdel`` from working."""
    import pwd

    uids = set()
    for name in names:
        try:
            uids.add(pwd.getpwnam(name).pw_uid)
        except KeyError:
            pass
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid in uids:
                    os.kill(int(entry.name), signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                pass


def api_token(hub: Hub, session, name: str, scopes: list[str]) -> str:
    """A new hub API token of ``name``, asked as that user would on the hub's token page (their
    logged-in ``session``, the hub's XSRF check); ``scopes`` [] for the user's own (all of them)."""
    body = {"note": "test", "expires_in": 3600, **({"scopes": scopes} if scopes else {})}
    reply = session.post(hub.url(f"/hub/api/users/{name}/tokens"), json=body, timeout=30,
                         headers={"X-XSRFToken": session.cookies.get("_xsrf", path="/hub/") or ""})
    assert reply.status_code == 201, (name, reply.status_code, reply.text[:500])
    return reply.json()["token"]

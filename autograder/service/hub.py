"""The service's pages behind JupyterHub's login, when ``serve`` runs as a hub service.

JupyterHub starts a managed service with ``JUPYTERHUB_API_TOKEN``, ``JUPYTERHUB_SERVICE_URL`` and
``JUPYTERHUB_SERVICE_PREFIX`` (and the OAuth settings) in its environment; with those, ``serve``
also serves these pages on the service URL's address (a tornado app on its own thread; the
grading loop stays on the main thread). Without them the service stays headless.

Who is who comes from the hub (``jupyterhub.services.auth.HubOAuthenticated``): the user name is
the nbgrader student id; staff are the members of the hub group ``InstantFeedback.staff_group``,
asked of the hub API with the service's own token (``read:groups``), so a change of membership
counts within ``GROUP_CACHE`` seconds. A student reaches only their own pages; staff reach every
page and post actions (``actions.py``) under the hub's XSRF check. Ids in URLs are checked
against ``ID`` before anything is looked up; every response carries ``HEADERS``.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
import time
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.web import Application, HTTPError, RequestHandler, authenticated

from autograder.errors import AuthoringError
from autograder.pipeline import deadlines
from autograder.reports.records import result_from_json
from autograder.service import inbound, pages
from autograder.service.release import feedback_html
from autograder.service.status import read_status
from autograder.service.store import Store

log = logging.getLogger("autograder.service")
ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}\Z")  # a student or assignment id as a URL or form may name it
NUMBER = re.compile(r"[1-9][0-9]{0,5}\Z")
GROUP_CACHE = 10.0
ROSTER_CACHE = 30.0  # seconds the gradebook's roster is remembered
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                               "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def under_hub(env=os.environ) -> bool:
    return bool(env.get("JUPYTERHUB_API_TOKEN") and env.get("JUPYTERHUB_SERVICE_URL"))


class Base(HubOAuthenticated, RequestHandler):
    def set_default_headers(self) -> None:
        for name, value in HEADERS.items():
            self.set_header(name, value)

    def write_error(self, status_code: int, **kwargs) -> None:  # never the exception or the path
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(pages.error_page(status_code, {400: "Bad request.", 403: "Not yours to see.",
                                                   404: "No such page."}.get(status_code, self._reason)))

    @property
    def ctx(self) -> "Pages":
        return self.settings["pages"]

    async def is_staff(self) -> bool:
        return self.current_user["name"] in await self.ctx.staff()

    def checked(self, value: str, pattern: re.Pattern = ID) -> str:
        if not pattern.match(value or ""):
            raise HTTPError(400)
        return value

    async def allowed(self, student: str) -> None:
        """A student sees their own pages; staff see everyone's."""
        if student != self.current_user["name"] and not await self.is_staff():
            raise HTTPError(403)


class Home(Base):
    @authenticated
    async def get(self) -> None:
        await self.show(self.current_user["name"])

    async def show(self, student: str) -> None:
        store, now = self.ctx.store, time.time()
        quotas = {a: self.ctx.quota(student, a, now) for a in sorted({s.assignment for s in store.of_student(student)})}
        rows = pages.lines(store.of_student(student), quotas, now, self.ctx.timezone)
        self.finish(pages.student_page(student, rows, quotas, self.ctx.prefix, self.ctx.timezone, now,
                                       await self.is_staff()))


class StudentPage(Home):
    @authenticated
    async def get(self, student: str) -> None:
        await self.allowed(self.checked(student))
        if student != self.current_user["name"] and not self.ctx.store.of_student(student):
            raise HTTPError(404)
        await self.show(student)


class Feedback(Base):
    @authenticated
    async def get(self, student: str, number: str) -> None:
        await self.allowed(self.checked(student))
        subs = self.ctx.store.of_student(student)
        n = int(self.checked(number, NUMBER))
        if n > len(subs) or not subs[len(subs) - n].shown:
            raise HTTPError(404)
        sub = subs[len(subs) - n]
        html = feedback_html(result_from_json(json.loads(sub.shown)), sub.seen_at, self.ctx.timezone, [])
        self.finish(html)


class Staff(Base):
    @authenticated
    async def get(self) -> None:
        if not await self.is_staff():
            raise HTTPError(403)
        store, now = self.ctx.store, time.time()
        subs = store.everything()
        quotas = {k: self.ctx.quota(*k, now) for k in {(s.student, s.assignment) for s in subs}}
        self.finish(pages.staff_page(read_status(self.ctx.state_path), subs, quotas, store.flags(),
                                     store.recent_requests(), self.ctx.prefix, self.ctx.timezone, now,
                                     self.xsrf_token.decode(), self.ctx.roster()))


class Action(Base):
    @authenticated
    async def post(self, kind: str) -> None:
        if not await self.is_staff():
            raise HTTPError(403)
        student = self.checked(self.get_body_argument("student", ""))
        assignment = self.checked(self.get_body_argument("assignment", ""))
        if self.ctx.store.latest(student, assignment) is None:
            raise HTTPError(404)
        self.ctx.store.add_request(kind, student, assignment, self.current_user["name"], time.time())
        self.redirect(self.ctx.prefix + "staff", status=303)


class Metrics(Base):
    @authenticated
    async def get(self) -> None:
        if not await self.is_staff():
            raise HTTPError(403)
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest(self.ctx.registry))


class NotFound(Base):
    def prepare(self) -> None:
        raise HTTPError(404)


class Pages:
    """The pages' tornado app on its own thread and event loop, reading the service's state."""

    def __init__(self, svc, env=os.environ) -> None:
        url = urlparse(env["JUPYTERHUB_SERVICE_URL"])
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.prefix = env.get("JUPYTERHUB_SERVICE_PREFIX", "/services/autograder/")
        self.api_url, self.token = env.get("JUPYTERHUB_API_URL", ""), env["JUPYTERHUB_API_TOKEN"]
        self.state_path, self.timezone, self.bucket = svc.state_path, svc.timezone, svc.bucket
        self.settings, self.registry = svc.settings, svc.metrics.registry
        self.db_url, self.exchange = svc.course.db_url(), svc.exchange
        self._staff: tuple[float, frozenset[str]] = (0.0, frozenset())
        self._roster: tuple[float, pages.Roster] = (-ROSTER_CACHE, pages.Roster((), ()))
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def quota(self, student: str, assignment: str, now: float) -> pages.Quota:
        tokens, updated, not_before = self.store.bucket(student, assignment) or (None, None, 0.0)
        return pages.Quota(int(self.bucket.level(tokens, updated, now) + 1e-9), self.bucket.capacity,
                           self.settings.rate_period_minutes / self.settings.rate_limit, not_before)

    def roster(self) -> pages.Roster:
        """The gradebook's students and the released assignments (cached for ROSTER_CACHE seconds),
        so the staff page lists who has not submitted too."""
        at, known = self._roster
        if time.monotonic() - at < ROSTER_CACHE:
            return known
        try:
            known = pages.Roster(tuple(deadlines.roster(self.db_url)), tuple(sorted(inbound.released(self.exchange))))
        except Exception:  # a busy or broken gradebook: the page still shows every submission
            log.exception("cannot read the roster from the gradebook %s", self.db_url)
        self._roster = (time.monotonic(), known)
        return known

    async def staff(self) -> frozenset[str]:
        """The members of the staff group, from the hub (cached for GROUP_CACHE seconds)."""
        at, members = self._staff
        if time.monotonic() - at < GROUP_CACHE:
            return members
        group = self.settings.staff_group
        try:
            reply = await AsyncHTTPClient().fetch(f"{self.api_url}/groups/{group}",
                                                  headers={"Authorization": f"token {self.token}"})
            members = frozenset(json.loads(reply.body).get("users", []))
        except HTTPClientError as exc:
            log.error("cannot read the hub group %r (HTTP %s): no one is staff; the service's role needs "
                      "the scope read:groups (see docs/operations.md, On JupyterHub), and "
                      "c.InstantFeedback.staff_group must name an existing group", group, exc.code)
            members = frozenset()
        self._staff = (time.monotonic(), members)
        return members

    def app(self) -> Application:
        p = re.escape(self.prefix)
        return Application([
            (p, Home), (p + "oauth_callback", HubOAuthCallbackHandler),
            (p + r"students/([^/]*)", StudentPage), (p + r"students/([^/]*)/feedback/([^/]*)", Feedback),
            (p + "staff", Staff), (p + r"staff/(grade|lift)", Action), (p + "metrics", Metrics),
        ], pages=self, cookie_secret=os.urandom(32), xsrf_cookies=True, default_handler_class=NotFound)

    def start(self) -> "Pages":
        self.thread = threading.Thread(target=asyncio.run, args=(self._main(),), name="hub-pages", daemon=True)
        self.thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise AuthoringError(f"cannot serve the hub pages on {self.host}:{self.port} ({self._error}): "
                                 "the service's url in c.JupyterHub.services must name a free port") from None
        return self

    async def _main(self) -> None:
        self.store = Store(self.state_path)  # this thread's own connection
        try:
            server = self.app().listen(self.port, address=self.host, xheaders=True)
        except OSError as exc:
            self._error = exc
            self._ready.set()
            return
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        server.stop()
        self.store.close()

    def stop(self) -> None:
        if self._error is None and hasattr(self, "_loop"):
            self._loop.call_soon_threadsafe(self._stop.set)
            self.thread.join(10)


def start_if_under_hub(svc) -> Pages | None:
    if not under_hub():
        return None
    pages_ = Pages(svc).start()
    log.info("hub pages on http://%s:%d%s (staff: hub group %r)", pages_.host, pages_.port, pages_.prefix,
             svc.settings.staff_group)
    return pages_

"""A Jupyter server extension: formgrader's submission pages, with policies that refuse script.

formgrader serves two things from a submission: the grading page (the autograded notebook in
its template, on the Jupyter server's own origin, where a script could use the TA's session)
and any file of the submission folder (``/formgrader/submissions/<id>/<path>``, as its own
MIME type: a student's ``.html`` would run). This extension takes those routes, with
formgrader's own handlers underneath:

- the grading page gets ``csp.page_policy`` (its template's scripts by hash, nothing else);
- a submission's files are served as text or raster images only, under ``csp.FILES_POLICY``
  (``sandbox``: no script, an opaque origin), as Jupyter's own ``/files/`` confines HTML.

Jupyter loads server extensions in alphabetical order, so ``autograder.*`` routes are added
before ``nbgrader.*``'s and answer first. Enabled in the course's venv by ``setup.sh``
(``etc/jupyter/jupyter_server_config.d/autograder.json``), so a TA's plain ``jupyter lab`` or
``jupyter server`` in the course root has it.
"""
from __future__ import annotations

from jupyter_server.utils import url_path_join
from nbgrader.server_extensions.formgrader import handlers as formgrader

from autograder.staff_pages import csp

SERVED_AS_IS = ("image/png", "image/jpeg", "image/gif", "text/plain", "text/csv")


class GradingPage(formgrader.SubmissionHandler):
    """formgrader's grading page, sent with a policy computed from the page it rendered."""

    def write(self, chunk):
        if isinstance(chunk, (str, bytes)):
            page = chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else chunk
            self.set_header("Content-Security-Policy", csp.page_policy(page))
        super().write(chunk)


class SubmissionFiles(formgrader.SubmissionFilesHandler):
    """A file of a submission, as text (or a raster image) in a sandboxed, script-free response."""

    @property
    def content_security_policy(self) -> str:
        return csp.FILES_POLICY

    def get_content_type(self) -> str:
        served = super().get_content_type()
        return served if served.split(";")[0] in SERVED_AS_IS else "text/plain; charset=utf-8"


REPLACED = {formgrader.SubmissionHandler: GradingPage,
            formgrader.SubmissionFilesHandler: SubmissionFiles}


def _jupyter_server_extension_points():
    return [{"module": "autograder.staff_pages.server_extension"}]


def _load_jupyter_server_extension(serverapp) -> None:
    webapp = serverapp.web_app
    if "nbgrader_formgrader" in webapp.settings:
        raise RuntimeError("autograder.staff_pages must load before nbgrader's formgrader, "
                           "or formgrader's own submission routes answer first")
    routes = [(url_path_join(webapp.settings["base_url"], pattern), REPLACED.get(handler, handler), *rest)
              for pattern, handler, *rest in formgrader.default_handlers
              if pattern.startswith("/formgrader/submissions/")]
    webapp.add_handlers(".*$", routes)
    serverapp.log.info("autograder: formgrader's submission pages under a Content-Security-Policy")

"""nbgrader configuration of the dl-losses course. The course root is the folder of this file,
so the course works wherever it is checked out (and in temporary copies made by the tests)."""
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 -- provided by traitlets when nbgrader loads this file

ROOT = Path(__file__).resolve().parent

c.CourseDirectory.course_id = "dl-losses"
c.CourseDirectory.root = str(ROOT)
c.CourseDirectory.db_url = f"sqlite:///{ROOT / 'gradebook.db'}"

# Per-cell time limit when nbgrader executes a notebook (the default is 30 s).
c.Execute.timeout = 60

# A student who deletes a grade cell gets it back at autograde time instead of losing it silently.
c.OverwriteCells.add_missing_cells = True

# The filesystem exchange; a shared location can be set without editing this file.
c.Exchange.root = os.environ.get("AUTOGRADER_EXCHANGE", str(ROOT / "exchange"))

# Kernels started by nbgrader inherit this environment: the hidden test cells of the source
# notebook run `from autograder.inkernel import grade_part`, so the course root must be importable.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
if str(ROOT) not in sys.path:  # formgrader, started by `jupyter lab`, imports the staff-page steps below
    sys.path.insert(0, str(ROOT))

# Student content is hostile in staff pages too (docs/security.md). Formgrader's grading page
# and nbgrader's feedback HTML render a student's markdown with raw HTML and unsafe links shown as
# text, raw cells as text, saved outputs as text and raster images, all through the nh3 sanitiser;
# what was neutralised is shown, and the submission flagged. The course venv's Jupyter also loads
# autograder.staff_pages.server_extension (setup.sh enables it): a Content-Security-Policy on the
# grading page and submission files served as sandboxed text.
c.HTMLExporter.filters = {"markdown2html": "autograder.staff_pages.markdown.markdown2html"}
c.HTMLExporter.preprocessors = ["autograder.staff_pages.cells.InertStudentContent"]

# Autograde with the trusted grader: student cells run in a bubblewrap sandbox, test cells are
# judged in nbgrader's own process (autograder/nbgrader_ext/preprocessor.py). Its limits are
# traits of SandboxedGrading, e.g. c.SandboxedGrading.memory_mb = 4096. Set
# AUTOGRADER_GRADER=plain to keep nbgrader's own Execute step (the unsandboxed baseline that
# bench/grading.py compares against): hidden cells then run inside the student's kernel.
if os.environ.get("AUTOGRADER_GRADER", "sandboxed") != "plain":
    c.Autograde.autograde_preprocessors = [
        "autograder.nbgrader_ext.preprocessor.SandboxedGrading",
        "nbgrader.preprocessors.IgnorePattern",
        "nbconvert.preprocessors.ClearMetadataPreprocessor",
        "nbgrader.preprocessors.LimitOutput",
        "nbgrader.preprocessors.SaveAutoGrades",
        "nbgrader.preprocessors.AssignLatePenalties",
        "nbgrader.preprocessors.CheckCellMetadata",
    ]

# Deadlines and late work (docs/instructors.md, "Deadlines and late work"). `release --due` records the due
# date, `extend` a student's extension; a date without a zone is in c.Exchange.timezone (the zone
# nbgrader stamps submissions in; default UTC). The AssignLatePenalties step above then prices
# late submissions; by default (nbgrader's LateSubmissionPlugin, method "none") there is no
# penalty, only the lateness shown. For points per started hour or day, or zero:
# c.Exchange.timezone = "Europe/Berlin"
# c.AssignLatePenalties.plugin_class = "autograder.nbgrader_ext.late_penalty.LatePenaltyPlugin"
# c.LatePenaltyPlugin.penalty_method = "per_hour"  # none | zero | per_hour | per_day
# c.LatePenaltyPlugin.points = 1.0                 # per started hour (or day)
# c.LatePenaltyPlugin.round_up = True              # False: pro rata (3 h 20 min = 3.33 hours)
# c.LatePenaltyPlugin.max_penalty = 10.0           # cap (default: up to the whole score)
# c.LatePenaltyPlugin.grace_minutes = 5            # this late is not penalised

"""One exception tree, caught once at the top of the CLI and printed as one line.

``AuthoringError`` is the instructor's to fix (config, source notebook, roster file);
``SubmissionError`` is about one student's work and never stops the class. Anything else
escaping the CLI is a bug in the grader and keeps its traceback.
"""


class AutograderError(Exception):
    """Base of every error the grader reports to a person instead of crashing."""


class AuthoringError(AutograderError):
    """The course is set up wrongly: a missing file, a bad setting, a bad roster."""


class SubmissionError(AutograderError):
    """One submission could not be handled; the rest of the class goes on."""

"""``python -m autograder``: one subcommand per pipeline step, each calling one plain function.

Errors meant for a person (``AutograderError``) are caught once, here, and printed as one line
with exit status 1; anything else is a grader bug and keeps its traceback. Each command imports
what it needs when it runs: a start-up pays for its own command only (nbgrader, torch and the
grader are seconds each), which one notebook graded by a cold process feels most.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from autograder.errors import AutograderError

DEFAULT_ASSIGNMENT = "loss_functions"


def _course(args):
    from autograder.pipeline.course import CourseRoot

    return CourseRoot.at(args.course_root)


def cmd_release(args) -> None:
    from autograder.pipeline import deadlines, release

    course = _course(args)
    print(f"released {args.assignment} to {release(course, args.assignment, due=args.due)}")
    due = deadlines.due_date(course, args.assignment)
    if due is not None:
        print(f"due {deadlines.show_time(due, deadlines.course_timezone(course))}")


def cmd_extend(args) -> None:
    from autograder.pipeline import deadlines

    course = _course(args)
    ext = deadlines.grant_extension(course, args.assignment, args.student,
                                    None if args.remove else args.until)
    zone = deadlines.course_timezone(course)
    if ext.until is None:
        print(f"{args.student}: no extension for {args.assignment}; due {deadlines.show_time(ext.due, zone)}")
    else:
        print(f"{args.student}: {args.assignment} due {deadlines.show_time(ext.until, zone)} "
              f"(extension of {deadlines.show_duration((ext.until - ext.due).total_seconds())})")


def cmd_collect(args) -> None:
    if args.zip is not None:
        _zip_collect(args, args.zip)
        return
    from autograder.pipeline import collect

    course = _course(args)
    students = collect(course, args.assignment)
    print(f"{len(students)} submissions of {args.assignment} in {course.root / 'submitted'}")


def cmd_zip_collect(args) -> None:
    _zip_collect(args, args.downloads)


def _zip_collect(args, downloads: Path | None) -> None:
    from autograder.pipeline import zip_collect

    course = _course(args)
    skipped: list[str] = []
    students = zip_collect(course, args.assignment, downloads, skipped=skipped)
    print(f"{len(students)} submissions of {args.assignment} in {course.root / 'submitted'}")
    if skipped:
        print(f"skipped {len(skipped)} files: see warnings above", file=sys.stderr)


def cmd_grade(args) -> None:
    from autograder.pipeline import grade_class, summary_table
    from autograder.pipeline.regrade import format_regrade

    scheduler = args.scheduler or None
    if scheduler and args.jobs:
        raise AutograderError(
            f"--jobs {args.jobs} sizes the local pool, but grading goes to the Dask scheduler at {scheduler} "
            f"(--scheduler or AUTOGRADER_SCHEDULER), whose workers decide: drop one of them")
    summary = grade_class(_course(args), args.assignment, students=args.student,
                          sandbox=not args.no_sandbox, progress=not args.quiet, jobs=args.jobs,
                          scheduler=scheduler, force=args.force, regrade=args.regrade or args.dry_run,
                          dry_run=args.dry_run)
    print(summary_table(summary))
    if summary.regrade is not None:
        print(format_regrade(summary.regrade))


def cmd_feedback(args) -> None:
    from autograder.pipeline import generate_feedback

    written = generate_feedback(_course(args), args.assignment)
    print(f"{len(written)} feedback files written under {_course(args).root / 'feedback'}")


def cmd_export(args) -> None:
    from autograder.pipeline import export_grades
    from autograder.pipeline.lms_export import export_canvas

    if args.format == "csv":
        if args.canvas_assignment_id is not None:
            raise AutograderError("--canvas-assignment-id is for --format canvas; nbgrader's CSV has no such column")
        print(f"grades written to {export_grades(_course(args), args.assignment, args.to)}")
        return
    export = export_canvas(_course(args), args.assignment, args.to, args.canvas_assignment_id)
    print(f"Canvas grades written to {export.path}")
    if export.warning():
        print(f"warning: {export.warning()}", file=sys.stderr)


def cmd_gradescope(args) -> None:
    from autograder.pipeline.gradescope_bundle import build_bundle

    out = build_bundle(_course(args), args.assignment, args.out)
    print(f"Gradescope autograder written to {out}: upload it as the assignment's autograder (zip file)")


def cmd_students_import(args) -> None:
    from autograder.pipeline import import_students

    students = import_students(_course(args), args.file)
    print(f"{len(students)} students in the gradebook")


def cmd_demo(args) -> None:
    from autograder.demo import run_demo

    run_demo(_course(args), sandbox=not args.no_sandbox, progress=not args.quiet, jobs=args.jobs, verbose=args.verbose)


def cmd_grade_notebook(args) -> None:
    from autograder import one_shot
    from autograder.sandbox.factory import start_early

    if not args.path.is_file():
        raise AutograderError(f"no notebook at {args.path}")
    start_early(isolate=not args.no_sandbox)  # the sandbox's imports overlap the grader's, below
    with one_shot.collector_paused():
        from autograder.judge.grader import grade_notebook_file  # loads torch: only here
        from autograder.reports.gradescope import dump_json, to_gradescope

    result = grade_notebook_file(args.path, args.assignment, isolate=not args.no_sandbox)
    print(dump_json(to_gradescope(result)))
    one_shot.mark()


def cmd_report(args) -> None:
    from autograder.pipeline.records_io import timestamp_flags, write_class_report

    print(f"report written to {write_class_report(_course(args), args.assignment, args.out)}")
    flagged = timestamp_flags(_course(args), args.assignment)
    if flagged:
        print(f"warning: {len(flagged)} submissions have a timestamp.txt earlier than when the grading service "
              "saw them: see \"Submission times\" in the report", file=sys.stderr)


def cmd_serve(args) -> None:
    from autograder.service.loop import serve  # loads the grader: only here

    serve(_course(args), _service_overrides(args), sandbox=not args.no_sandbox, jobs=args.jobs)


def cmd_service_status(args) -> None:
    from autograder.service.loop import state_file
    from autograder.service.status import read_status

    print("\n".join(read_status(state_file(_course(args))).lines()))


def _service_overrides(args):
    from traitlets.config import Config

    cfg = Config()
    if args.polling:
        cfg.InstantFeedback.polling = True
    if args.metrics_port is not None:
        cfg.InstantFeedback.metrics_port = args.metrics_port
    return cfg


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _jobs_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-j", "--jobs", type=_positive, default=None, metavar="N",
                        help=f"grade N submissions at once (default: every core, {len(os.sched_getaffinity(0))} here)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder",
        description="Release, collect, grade and report the loss-functions assignment.")
    parser.add_argument("--course-root", type=Path, default=None,
                        help="folder with nbgrader_config.py (default: the current folder)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, func, help_text, assignment=True):
        p = sub.add_parser(name, help=help_text, description=help_text)
        if assignment:
            p.add_argument("assignment", metavar="ASSIGNMENT")
        p.set_defaults(func=func)
        return p

    p = command("release", cmd_release, "generate the student version and release it to the exchange")
    p.add_argument("--due", default=None, metavar="YYYY-MM-DDTHH:MM",
                   help="record the due date (time zone: explicit, e.g. +01:00 or Z, else c.Exchange.timezone)")
    p = command("extend", cmd_extend, "give one student a later due date (nbgrader's extension)")
    p.add_argument("student", metavar="STUDENT")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--until", metavar="YYYY-MM-DDTHH:MM", help="the student's own due date")
    when.add_argument("--remove", action="store_true", help="remove the student's extension")
    p = command("collect", cmd_collect, "collect submissions from the exchange into submitted/")
    p.add_argument("--zip", type=Path, metavar="DIR", default=None,
                   help="collect LMS downloads from DIR instead (see zip-collect)")
    p = command("zip-collect", cmd_zip_collect,
                "collect notebooks downloaded from an LMS, named <student>_<notebook>.ipynb")
    p.add_argument("downloads", type=Path, nargs="?", default=None, metavar="DIR",
                   help="folder of downloaded notebooks or zips (default: downloaded/ASSIGNMENT/archive)")
    p = command("grade", cmd_grade, "autograde every collected submission, N at a time")
    _jobs_option(p)
    p.add_argument("--student", action="append", metavar="ID",
                   help="grade only this student (repeatable)")
    p.add_argument("--no-sandbox", action="store_true",
                   help="run student code without bubblewrap (reports say so); for machines without it")
    p.add_argument("--scheduler", default=os.environ.get("AUTOGRADER_SCHEDULER"), metavar="tcp://HOST:8786",
                   help="grade on the workers of this Dask scheduler (default: $AUTOGRADER_SCHEDULER; "
                        "unset: on this machine); a re-run grades only what has no record yet")
    p.add_argument("--force", action="store_true",
                   help="with --scheduler, regrade submissions that already have a record "
                        "(the local pool always regrades)")
    p.add_argument("--regrade", action="store_true",
                   help="grade everyone again (implies --force) and list whose scores changed, old -> new "
                        "per part; the changes go to grading/ASSIGNMENT/regrade-<UTC time>.csv and the report")
    p.add_argument("--dry-run", action="store_true",
                   help="with --regrade: show what would change without writing the gradebook, "
                        "autograded/, the records or the CSV (implies --regrade)")
    command("feedback", cmd_feedback, "write HTML and plain-text feedback for every student")
    p = command("export", cmd_export, "export grades: nbgrader's CSV, or Canvas's gradebook import")
    p.add_argument("--to", type=Path, default=None,
                   help="CSV path (default: grades.csv, or canvas_ASSIGNMENT.csv with --format canvas)")
    p.add_argument("--format", choices=("csv", "canvas"), default="csv",
                   help="csv: nbgrader's exporter (default); canvas: Canvas's gradebook import, matched by lms_user_id")
    p.add_argument("--canvas-assignment-id", type=_positive, default=None, metavar="N",
                   help="the Canvas assignment's id (default: c.CanvasExport.assignment_ids in nbgrader_config.py)")
    p = command("gradescope", cmd_gradescope, "build the Gradescope autograder zip of an assignment")
    p.add_argument("--out", type=Path, default=None,
                   help="zip path (default: gradescope_ASSIGNMENT.zip in the course root)")
    students = sub.add_parser("students", help="manage the roster")
    students_sub = students.add_subparsers(dest="students_command", required=True, metavar="ACTION")
    p = students_sub.add_parser("import", help="add students from a CSV with an 'id' column")
    p.add_argument("file", type=Path, metavar="FILE.csv")
    p.set_defaults(func=cmd_students_import)
    p = command("demo", cmd_demo, "grade a made-up class of students end to end", assignment=False)
    p.add_argument("--no-sandbox", action="store_true", help="as for grade")
    p.add_argument("-v", "--verbose", action="store_true", help="also show the libraries' log lines and warnings")
    _jobs_option(p)
    p = command("grade-notebook", cmd_grade_notebook,
                "grade one notebook without a course; prints Gradescope's results.json", assignment=False)
    p.add_argument("path", type=Path, metavar="PATH")
    p.add_argument("--assignment", default=DEFAULT_ASSIGNMENT)
    p.add_argument("--no-sandbox", action="store_true", help="as for grade")
    p = command("report", cmd_report, "write the staff HTML report of a graded assignment")
    p.add_argument("--out", type=Path, default=None,
                   help="HTML path (default: reports/ASSIGNMENT.html)")
    p = command("serve", cmd_serve, "grade each submission as it reaches the exchange and release its "
                "feedback there (runs until stopped; traits: c.InstantFeedback)", assignment=False)
    _jobs_option(p)
    p.add_argument("--no-sandbox", action="store_true", help="as for grade")
    p.add_argument("--polling", action="store_true",
                   help="list the inbound folder instead of inotify (an exchange on NFS; c.InstantFeedback.polling)")
    p.add_argument("--metrics-port", type=int, default=None, metavar="PORT",
                   help="port of /metrics on 127.0.0.1 (default: c.InstantFeedback.metrics_port, 9464; "
                        "0: any free port; -1: none)")
    command("service-status", cmd_service_status,
            "what the grading service is doing: queue depth, p50/p95 submit-to-feedback, counts",
            assignment=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.filterwarnings("ignore", module="nbgrader")  # SQLAlchemy noise from nbgrader's ORM
    try:
        args.func(args)
    except AutograderError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0

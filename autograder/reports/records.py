"""JSON records of grading results, written by the trusted grader next to each submission.

A record must load back into the exact ``SubmissionResult`` that was saved, so reports and
regrades can be rebuilt from ``autograded/<student>/<assignment>/results.json`` alone. Bytes
are deterministic (sorted keys, fixed separators): the same result always gives the same file.
Fields added since format 1 (a check's teaching ``example``, ``by_hand``,
``all_or_nothing``) are read with a
default, so records written before them still load.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from autograder.judge.results import (
    CheckResult, Counterexample, Flag, PartResult, SubmissionResult,
)

FORMAT_VERSION = 1


def _counterexample_to_json(c: Counterexample | None) -> dict | None:
    if c is None:
        return None
    return {"inputs": [[name, text] for name, text in c.inputs], "expected": c.expected,
            "got": c.got, "by_hand": c.by_hand}


def _counterexample_from_json(d: dict | None) -> Counterexample | None:
    if d is None:
        return None
    return Counterexample(inputs=tuple((name, text) for name, text in d["inputs"]),
                          expected=d["expected"], got=d["got"], by_hand=d.get("by_hand", ""))


def _check_to_json(c: CheckResult) -> dict:
    png = None if c.image_png is None else base64.b64encode(c.image_png).decode("ascii")
    return {"name": c.name, "passed": c.passed, "weight": c.weight, "message": c.message,
            "counterexample": _counterexample_to_json(c.counterexample),
            "example": _counterexample_to_json(c.example), "diagnosis": c.diagnosis, "image_png": png}


def _check_from_json(d: dict) -> CheckResult:
    png = None if d["image_png"] is None else base64.b64decode(d["image_png"], validate=True)
    return CheckResult(name=d["name"], passed=d["passed"], weight=d["weight"],
                       message=d["message"],
                       counterexample=_counterexample_from_json(d["counterexample"]),
                       example=_counterexample_from_json(d.get("example")), diagnosis=d["diagnosis"], image_png=png)


def _part_to_json(p: PartResult) -> dict:
    return {"grade_id": p.grade_id, "title": p.title, "functions": list(p.functions),
            "max_score": p.max_score, "score": p.score,
            "checks": [_check_to_json(c) for c in p.checks], "error": p.error,
            "visibility": p.visibility, "all_or_nothing": p.all_or_nothing,
            **({"notebook": p.notebook} if p.notebook else {})}


def _part_from_json(d: dict) -> PartResult:
    return PartResult(grade_id=d["grade_id"], title=d["title"],
                      functions=tuple(d["functions"]), max_score=d["max_score"],
                      score=d["score"], checks=tuple(_check_from_json(c) for c in d["checks"]),
                      error=d["error"], visibility=d["visibility"],
                      all_or_nothing=d.get("all_or_nothing", False), notebook=d.get("notebook", ""))


def result_to_json(result: SubmissionResult) -> dict[str, Any]:
    """Plain JSON data for one submission (PNG bytes as base64 text)."""
    return {"format": FORMAT_VERSION, "student": result.student,
            "assignment": result.assignment, "status": result.status,
            "parts": [_part_to_json(p) for p in result.parts], "reason": result.reason,
            "flags": [{"kind": f.kind, "detail": f.detail} for f in result.flags],
            "sandboxed": result.sandboxed, "manual_parts": list(result.manual_parts),
            "cell_errors": list(result.cell_errors)}


def result_from_json(data: dict[str, Any]) -> SubmissionResult:
    """The exact inverse of ``result_to_json``; refuses records from another format version."""
    version = data.get("format")
    if version != FORMAT_VERSION:
        raise ValueError(f"results record has format {version!r}, this grader reads format "
                         f"{FORMAT_VERSION}; regrade the submission to rewrite it")
    return SubmissionResult(
        student=data["student"], assignment=data["assignment"], status=data["status"],
        parts=tuple(_part_from_json(p) for p in data["parts"]), reason=data["reason"],
        flags=tuple(Flag(kind=f["kind"], detail=f["detail"]) for f in data["flags"]),
        sandboxed=data["sandboxed"], manual_parts=tuple(data["manual_parts"]),
        cell_errors=tuple(data.get("cell_errors", ())))


def dumps(data: Any) -> str:
    """Deterministic JSON text: sorted keys, two-space indent, no NaN (a NaN score is a bug)."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def records_dir(course_root: str | Path, assignment: str) -> Path:
    """Where the trusted records of an assignment live: outside every folder student code sees."""
    return Path(course_root) / "grading" / assignment


def record_path(course_root: str | Path, assignment: str, student: str) -> Path:
    return records_dir(course_root, assignment) / f"{student}.json"


def save_result(result: SubmissionResult, path: str | Path) -> Path:
    return save_text(dumps(result_to_json(result)), path)


def save_text(record: str, path: str | Path) -> Path:
    """Write a record's text atomically (temp file then rename) so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(record, encoding="utf-8")
    tmp.replace(path)
    return path


def load_result(path: str | Path) -> SubmissionResult:
    return result_from_json(json.loads(Path(path).read_text(encoding="utf-8")))

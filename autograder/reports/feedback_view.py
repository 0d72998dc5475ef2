"""What a part's feedback says, before it is set as text or HTML: one cause, said once.

Failed checks that share a diagnosis (or where one failed only because another's value was
wrong: its message ends with the other's) form one ``Cause``: the likely mistake and its fix
once, the examples once, then the rules it broke. Both writers render these same strings, so
the plain text, results.json and the HTML page carry the same words.
"""
from __future__ import annotations

from dataclasses import dataclass

from autograder.judge.results import CheckResult, Counterexample, PartResult

NO_DIAGNOSIS = ("No known mistake matches this output; compare your formula with the one in "
                "the notebook.")
EXPECTED = "Expected (PyTorch reference):"
BY_HAND = "By hand:"
HAND_TITLE = "An example you can check by hand (float32 tensors unless a dtype is named):"
SEARCH_TITLE = "The smallest failing input the search found:"
FIRST_TITLE = "Smallest failing input:"
ALL_OR_NOTHING = "Every rule must hold for this part's points."


def points(x: float) -> str:
    """Scores as people write them: 5, 2.5, 3.33 (never 3.3333333333333335)."""
    text = f"{x:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


@dataclass(frozen=True)
class Example:
    title: str
    inputs: tuple[tuple[str, str], ...]
    rows: tuple[tuple[str, str], ...]  # (label, value): by hand, expected, yours


@dataclass(frozen=True)
class Rule:
    passed: bool
    name: str
    worth: str  # "0 / 3 points", or "" where the part's points are all or nothing
    note: str = ""  # why it failed, when the cause above does not already say it
    example: Example | None = None  # its own example, when it differs from the cause's


@dataclass(frozen=True)
class Cause:
    diagnosis: str  # "Likely mistake: ...", NO_DIAGNOSIS, or "" (nothing to diagnose)
    message: str
    examples: tuple[Example, ...]
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class PartView:
    heading: str
    error: str | None
    causes: tuple[Cause, ...]
    loose: tuple[Rule, ...]  # failures with neither example nor diagnosis (a missing label)
    passed: tuple[Rule, ...]
    note: str  # ALL_OR_NOTHING, "No checks ran for this part.", or ""


def _example(title: str, c: Counterexample, yours: str) -> Example:
    rows = ((BY_HAND, c.by_hand),) if c.by_hand else ()
    return Example(title, c.inputs, rows + ((EXPECTED, c.expected), (yours, c.got)))


def _primary(check: CheckResult) -> Counterexample | None:
    return check.example or check.counterexample


def _derived(check: CheckResult, other: CheckResult) -> bool:
    """``check`` failed only because ``other``'s rule failed (``only_if_correct``)."""
    return bool(other.message) and check.message.endswith(": " + other.message)


def _related(a: CheckResult, b: CheckResult) -> bool:
    """One cause: the same diagnosis, one failing only because the other did, or the very same
    failing example (same input, same expected and got)."""
    same_example = _primary(a) is not None and _primary(a) == _primary(b)
    return bool(a.diagnosis and a.diagnosis == b.diagnosis) or _derived(a, b) or _derived(b, a) or same_example


def _groups(failed: list[CheckResult]) -> list[list[CheckResult]]:
    groups: list[list[CheckResult]] = []
    for check in failed:
        home = next((g for g in groups if any(_related(check, m) for m in g)), None)
        if home is None:
            groups.append([check])
        else:
            home.append(check)
    return groups


def _lead(group: list[CheckResult]) -> CheckResult:
    """The check whose failure explains the others: not derived, heaviest, first."""
    return min(group, key=lambda c: (any(_derived(c, m) for m in group), -c.weight, group.index(c)))


def _worth(check: CheckResult, share: float | None) -> str:
    if share is None:
        return ""
    return f"{points(share if check.passed else 0.0)} / {points(share)} points"


def _cause(group: list[CheckResult], shares: dict[int, float | None], yours: str) -> Cause:
    lead = _lead(group)
    examples = ()
    if lead.example is not None:
        examples = (_example(HAND_TITLE, lead.example, yours),)
    if lead.counterexample is not None:
        title = SEARCH_TITLE if examples else FIRST_TITLE
        examples += (_example(title, lead.counterexample, yours),)
    rules = []
    for check in group:
        note, own = "", None
        if check is not lead and (_derived(check, lead) or _primary(check) == _primary(lead)):
            head = check.message.split(": ", 1)[0].rstrip(".")  # the example above shows the rest
            note = head + "." if head else ""  # a hidden check's message withheld: nothing, not "."
        elif check is not lead:
            note = check.message
            if _primary(check) is not None:
                own = _example(HAND_TITLE if check.example else FIRST_TITLE, _primary(check), yours)
        rules.append(Rule(False, check.name, _worth(check, shares[id(check)]), note, own))
    diagnosis = (f"Likely mistake: {lead.diagnosis}" if lead.diagnosis
                 else NO_DIAGNOSIS if lead.counterexample is not None else "")
    return Cause(diagnosis, lead.message, examples, tuple(rules))


def part_view(part: PartResult) -> PartView:
    """The part's feedback, grouped; a pure function of the result."""
    name = part.title if part.title == part.grade_id else f"{part.title} [{part.grade_id}]"
    where = f"{part.notebook} › " if part.notebook else ""
    heading = f"{where}{name}: {points(part.score)} / {points(part.max_score)} points"
    total = sum(c.weight for c in part.checks)
    by_weight = bool(total) and not part.all_or_nothing
    shares = {id(c): part.max_score * c.weight / total if by_weight else None for c in part.checks}
    yours = f"Your {part.functions[-1] if part.functions else 'code'} gave:"  # a plot part lists its figure last
    causes, loose = [], []
    for group in _groups([c for c in part.checks if not c.passed]):
        lead = _lead(group)
        if len(group) == 1 and not lead.diagnosis and _primary(lead) is None:
            loose.append(Rule(False, lead.name, _worth(lead, shares[id(lead)]), lead.message))
        else:
            causes.append(_cause(group, shares, yours))
    passed = tuple(Rule(True, c.name, _worth(c, shares[id(c)])) for c in part.checks if c.passed)
    note = ("No checks ran for this part." if not part.error and not part.checks
            else ALL_OR_NOTHING if part.all_or_nothing and not all(c.passed for c in part.checks) else "")
    return PartView(heading, part.error, tuple(causes), tuple(loose), passed, note)

"""The student's feedback text: deterministic, complete for failures, silent about internals."""

from autograder.reports.feedback_text import points, render_part, render_submission
from autograder.reports.feedback_view import NO_DIAGNOSIS
from report_samples import HALVED, HOSTILE, failing, part, sample_results


def by_student(name):
    return next(r for r in sample_results() if r.student == name)


def test_same_result_gives_identical_text():
    for a, b in zip(sample_results(), sample_results()):
        assert render_submission(a) == render_submission(b)


def test_failure_shows_input_expected_got_and_diagnosis():
    text = render_part(by_student("bob").parts[1])
    assert "Mean squared error [mse_hidden]: 2.5 / 5 points" in text
    assert "FAIL  equals the mean of squared errors for any shape" in text
    assert "PASS  returns a 0-d tensor" in text
    assert "Smallest failing input:" in text
    assert "y_pred = tensor([0.])" in text and "y_true = tensor([1.])" in text
    assert "Expected (PyTorch reference): tensor(1.)" in text
    assert "Your mse gave:" in text and "tensor(0.5000)" in text
    assert f"Likely mistake: {HALVED}" in text
    assert NO_DIAGNOSIS not in text


def test_expected_and_got_are_on_adjacent_aligned_lines():
    lines = render_part(by_student("bob").parts[1]).splitlines()
    i = next(i for i, ln in enumerate(lines) if "Expected (PyTorch reference):" in ln)
    assert "Your mse gave:" in lines[i + 1]
    assert lines[i].index("tensor(1.)") == lines[i + 1].index("tensor(0.5000)")


def test_without_diagnosis_says_no_known_mistake():
    text = render_part(part("mse_hidden", failing("equals the mean", None)))
    assert NO_DIAGNOSIS in text and "Likely mistake" not in text


def test_part_error_is_stated_plainly():
    text = render_part(by_student("erin").parts[3])
    assert "Could not check this part: timed out after 30 s" in text
    assert "0 / 4 points" in text


def test_ungradable_submission_says_why():
    text = render_submission(by_student("frank"))
    assert text.startswith("Feedback for frank on loss_functions\n")
    assert "Your submission could not be graded: the kernel died while running cell 3" in text


def test_flags_and_test_source_are_not_shown():
    text = render_submission(by_student("dave"))
    assert "forbidden-call" not in text and "binary_cross_entropy {" not in text
    for internal in ("assert ", "def ", "@given", "import ", "Traceback", "hypothesis"):
        assert internal not in text


def test_total_and_manual_note():
    text = render_submission(by_student("alice"))
    assert "Autograded score: 23 / 23 points" in text
    assert "graded by a TA later (not in this score): written_bowl, written_outlier_rl" in text


def test_control_characters_and_huge_values_are_tamed():
    check = failing("equals the mean", None, got="\x1b[2J" + "9" * 5000)
    text = render_part(part("mse_hidden", check))
    assert "\x1b" not in text and "\\x1b[2J" in text
    assert "more characters)" in text and len(text) < 3000


def test_points_are_written_like_people_write_them():
    assert [points(x) for x in (5.0, 2.5, 10 / 3, 0.0, -0.0)] == ["5", "2.5", "3.33", "0", "0"]


def test_hostile_text_is_kept_verbatim_for_escaping_later():
    # Plain text has no markup to escape; HTML writers escape it (see test_html_report).
    text = render_submission(by_student("frank"))
    assert HOSTILE in text


def test_cells_that_failed_are_named_before_the_parts():
    from autograder.judge.results import SubmissionResult

    result = SubmissionResult(student="ana", assignment="loss_functions", status="graded",
                              cell_errors=("your answer in 'mse_solution': NameError: name 'torhc' is not defined",))
    text = render_submission(result)
    assert "Cells of your notebook that failed when it ran:" in text
    assert "your answer in 'mse_solution': NameError: name 'torhc' is not defined" in text


def test_a_failed_check_without_a_counterexample_gets_no_diagnosis_line():
    from autograder.judge.results import CheckResult, PartResult

    label = CheckResult(name="the x axis is labelled", passed=False, message="it is empty: call ax.set_xlabel(...)")
    text = render_part(PartResult(grade_id="plot_surface_test", title="plot", functions=("fig_surface",),
                                  max_score=2, score=1.5, checks=(label,)))
    assert "it is empty: call ax.set_xlabel(...)" in text
    assert NO_DIAGNOSIS not in text and "Likely mistake" not in text


def sum_instead_of_mean(with_example: bool = True):
    """The four rules a summing `mse` breaks, as the judge reports them."""
    from autograder.judge.results import CheckResult, Counterexample, PartResult

    hand = Counterexample((("y_pred", "[1., 2.]"), ("y_true", "[0., 0.]")), "2.5", "5",
                          by_hand="((1 - 0)² + (2 - 0)²) / 2 = 2.5") if with_example else None
    grad_hand = Counterexample(hand.inputs, "d/dy_pred = [1, 2]", "d/dy_pred = [2, 4]",
                               "d/dy_pred = [2·(1 - 0), 2·(2 - 0)] / 2 = [1, 2]") if hand else None
    shrunk = Counterexample((("y_pred", "tensor([0, 0])"), ("y_true", "tensor([6.6832e-08, 6.6832e-08])")),
                            "tensor(4.46651e-15)", "tensor(8.93302e-15)")
    wrong = "the result of `mse` is wrong: expected the mean of the squared errors"
    derived = "This rule counts only where the result is right, and here it is not: " + wrong
    checks = (CheckResult("`mse` returns the mean", False, 3, wrong, shrunk, hand, HALVED),
              CheckResult("`mse` returns a 0-d tensor", False, 1, derived, shrunk, hand, HALVED),
              CheckResult("gradients match", False, 1, "the gradient of `mse` is wrong",
                          Counterexample(shrunk.inputs, "d/dy_pred = tensor([-6.6e-08])", "d/dy_pred = tensor([-1.3e-07])"),
                          grad_hand, HALVED),
              CheckResult("`mse` leaves its inputs unchanged", False, 1, derived, shrunk, hand, HALVED),
              CheckResult("the x axis is labelled", True, 1))
    return PartResult("mse_hidden", "mse: hidden properties", ("mse",), 7.0, 1.0, checks)


def test_one_cause_is_said_once_with_the_rules_it_breaks():
    text = render_part(sum_instead_of_mean())
    assert text.count(f"Likely mistake: {HALVED}") == 1
    assert text.count("tensor([6.6832e-08, 6.6832e-08])") == 1
    assert text.count("This rule counts only where the result is right, and here it is not.") == 2
    assert "here it is not: the result" not in text
    rules = text.split("Rules this breaks:\n")[1].splitlines()
    assert rules[0] == "      FAIL  `mse` returns the mean (0 / 3 points)"
    assert rules[1] == "      FAIL  `mse` returns a 0-d tensor (0 / 1 points)"
    assert "  PASS  the x axis is labelled (1 / 1 points)" in text.splitlines()


def test_the_hand_example_comes_first_with_its_arithmetic():
    lines = render_part(sum_instead_of_mean()).splitlines()
    at = lines.index("    An example you can check by hand (float32 tensors unless a dtype is named):")
    assert lines[at + 1:at + 6] == [
        "      y_pred = [1., 2.]",
        "      y_true = [0., 0.]",
        "      By hand:                      ((1 - 0)² + (2 - 0)²) / 2 = 2.5",
        "      Expected (PyTorch reference): 2.5",
        "      Your mse gave:                5"]
    assert lines[at + 6] == "    The smallest failing input the search found:"


def test_a_rule_failing_differently_keeps_its_own_example():
    text = render_part(sum_instead_of_mean())
    grad = text.split("FAIL  gradients match (0 / 1 points)\n")[1].split("FAIL  `mse` leaves")[0]
    assert "the gradient of `mse` is wrong" in grad
    assert "Expected (PyTorch reference): d/dy_pred = [1, 2]" in grad and "d/dy_pred = [2, 4]" in grad
    assert "By hand:                      d/dy_pred = [2·(1 - 0), 2·(2 - 0)] / 2 = [1, 2]" in grad


def test_without_a_teaching_example_the_search_example_is_shown_first():
    text = render_part(sum_instead_of_mean(with_example=False))
    assert "check by hand" not in text and "By hand:" not in text
    assert "    Smallest failing input:\n      y_pred = tensor([0, 0])" in text
    assert "the search found" not in text


def test_all_or_nothing_parts_show_no_points_per_rule():
    from dataclasses import replace

    part = replace(sum_instead_of_mean(), all_or_nothing=True, score=0.0)
    text = render_part(part)
    assert "points)" not in text and "Every rule must hold for this part's points." in text
    assert "Every rule must hold" not in render_part(by_student("alice").parts[0])


def test_ta_grades_follow_the_parts_in_the_text():
    from autograder.judge.results import SubmissionResult
    from autograder.reports.feedback_text import TAGrades

    result = SubmissionResult(student="ana", assignment="loss_functions", status="graded",
                              manual_parts=("written_bowl", "written_outlier_rl", "task"))
    ta = TAGrades(scores={"written_bowl": (3.5, 4.0)},
                  comments={"written_bowl": "Good.\nSay why.", "mse_hidden": "See the example."},
                  unanswered={"written_outlier_rl": (0.0, 4.0, "No response.")})
    assert render_submission(result, ta=ta).endswith(
        "Written answers, graded by a TA:\n"
        "  written_bowl: 3.5 / 4 points from your TA\n    Good.\n    Say why.\n"
        "  written_outlier_rl: 0 / 4 points (No response.)\n"
        "  task: not graded yet\n"
        "Comments from your TA:\n  mse_hidden: See the example.\n")
    assert "graded by a TA later" in render_submission(result)  # no gradebook (Gradescope): as before

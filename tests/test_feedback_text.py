"""The student's feedback text: deterministic, complete for failures, silent about internals."""

from autograder.reports.feedback_text import NO_DIAGNOSIS, points, render_part, render_submission
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

"""Class-wide numbers behind the staff report."""
from autograder.reports import stats
from report_samples import HALVED, NO_CLAMP, sample_results


def test_score_summary_counts_only_graded_submissions():
    mean, median, top = stats.score_summary(sample_results())
    assert (round(mean, 6), median, top) == (19.4, 19.0, 23.0)
    assert stats.score_summary([]) is None


def test_part_stats_in_part_order():
    rows = {r.grade_id: r for r in stats.part_stats(sample_results())}
    assert list(rows)[:2] == ["mse_public", "mse_hidden"]
    assert (rows["mse_hidden"].full_marks, rows["mse_hidden"].submissions) == (3, 5)
    assert rows["mse_hidden"].pass_rate == 0.6 and rows["mse_hidden"].mean_score == 4.0


def test_mistakes_most_students_first_each_student_once():
    found = stats.mistakes(sample_results())
    assert [(m.diagnosis, m.count, m.students) for m in found] == [
        (HALVED, 2, ("bob", "carol")), (NO_CLAMP, 1, ("dave",))]


def test_manual_pending_from_records():
    pending = stats.manual_pending(sample_results())
    assert list(pending) == ["alice", "bob", "carol", "dave", "erin", "frank"]

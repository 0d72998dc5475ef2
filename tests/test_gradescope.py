"""Gradescope results.json: exact schema, tags, and the same text as the feedback."""
import json

from autograder.reports.feedback_text import render_part
from autograder.reports.gradescope import dump_json, to_gradescope
from report_samples import sample_results

TOP_KEYS = {"score", "output", "tests"}
TEST_KEYS = {"name", "score", "max_score", "output", "visibility", "tags"}


def by_student(name):
    return next(r for r in sample_results() if r.student == name)


def test_schema_has_exactly_the_gradescope_keys():
    for result in sample_results():
        doc = to_gradescope(result)
        assert set(doc) == TOP_KEYS
        for test in doc["tests"]:
            assert set(test) == TEST_KEYS
            assert isinstance(test["score"], float) and isinstance(test["max_score"], float)
            assert test["visibility"] == "visible"


def test_one_test_per_part_with_its_text_and_tags():
    bob = by_student("bob")
    doc = to_gradescope(bob)
    assert doc["score"] == bob.score == 20.5
    assert [t["name"] for t in doc["tests"]][1] == "Mean squared error [mse_hidden]"
    assert [t["output"] for t in doc["tests"]] == [render_part(p) for p in bob.parts]
    tags = {t["name"]: t["tags"] for t in doc["tests"]}
    assert tags["Mean squared error [mse_hidden]"] == ["mse"]
    assert tags["Plot of the MSE surface [plot_surface_test]"] == ["mse_surface"]
    assert "Autograded score: 20.5 / 23 points" in doc["output"]


def test_ungradable_scores_zero_and_says_why():
    doc = to_gradescope(by_student("frank"))
    assert doc["score"] == 0.0 and doc["tests"] == []
    assert doc["output"].startswith("Your submission could not be graded: the kernel died")


def test_flags_never_reach_gradescope():
    assert "forbidden-call" not in dump_json(to_gradescope(by_student("dave")))


def test_dump_is_deterministic_sorted_json():
    text = dump_json(to_gradescope(by_student("carol")))
    assert text == dump_json(to_gradescope(by_student("carol")))
    assert list(json.loads(text)) == sorted(TOP_KEYS)
    assert json.loads(text) == to_gradescope(by_student("carol"))

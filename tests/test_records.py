"""Result records round-trip exactly and are written as deterministic bytes."""
import json

import pytest

from autograder.reports.records import load_result, result_from_json, result_to_json, save_result
from report_samples import sample_results


@pytest.mark.parametrize("result", sample_results(), ids=lambda r: r.student)
def test_round_trip_is_exact(result, tmp_path):
    assert result_from_json(result_to_json(result)) == result
    assert result_from_json(json.loads(json.dumps(result_to_json(result)))) == result
    assert load_result(save_result(result, tmp_path / "r" / "results.json")) == result


def test_png_bytes_survive_as_base64(tmp_path):
    carol = sample_results()[2]
    png = next(c.image_png for p in carol.parts for c in p.checks if c.image_png)
    loaded = load_result(save_result(carol, tmp_path / "results.json"))
    assert next(c.image_png for p in loaded.parts for c in p.checks if c.image_png) == png
    assert png.startswith(b"\x89PNG")


def test_same_result_same_bytes(tmp_path):
    a = save_result(sample_results()[3], tmp_path / "a.json").read_bytes()
    b = save_result(sample_results()[3], tmp_path / "b.json").read_bytes()
    assert a == b
    assert list(json.loads(a)) == sorted(json.loads(a))
    assert not (tmp_path / "a.json.tmp").exists()


def test_other_format_version_is_refused():
    data = result_to_json(sample_results()[0])
    data["format"] = 99
    with pytest.raises(ValueError, match="regrade"):
        result_from_json(data)


def test_nan_score_is_refused(tmp_path):
    from dataclasses import replace
    alice = sample_results()[0]
    broken = replace(alice, parts=(replace(alice.parts[0], score=float("nan")),))
    with pytest.raises(ValueError):
        save_result(broken, tmp_path / "results.json")


def test_cell_errors_round_trip():
    from autograder.judge.results import SubmissionResult
    from autograder.reports.records import result_from_json, result_to_json

    result = SubmissionResult(student="ana", assignment="loss_functions", status="graded",
                              cell_errors=("your own cell after 'setup': timed out after 20 s",))
    assert result_from_json(result_to_json(result)) == result


def test_teaching_example_and_all_or_nothing_round_trip():
    from dataclasses import replace

    from autograder.judge.results import Counterexample

    bob = sample_results()[1]
    hand = Counterexample((("y_pred", "[1., 2.]"), ("y_true", "[0., 0.]")), "2.5", "5", by_hand="(1² + 2²) / 2 = 2.5")
    check = replace(bob.parts[1].checks[1], example=hand)
    part = replace(bob.parts[1], checks=(bob.parts[1].checks[0], check), all_or_nothing=True)
    result = replace(bob, parts=(part,))
    data = json.loads(json.dumps(result_to_json(result)))
    assert data["parts"][0]["checks"][1]["example"]["by_hand"] == "(1² + 2²) / 2 = 2.5"
    assert result_from_json(data) == result


def test_records_from_before_teaching_examples_still_load():
    data = json.loads(json.dumps(result_to_json(sample_results()[2])))
    for part in data["parts"]:
        del part["all_or_nothing"]
        for check in part["checks"]:
            del check["example"]
            if check["counterexample"]:
                del check["counterexample"]["by_hand"]
    assert result_from_json(data) == sample_results()[2]

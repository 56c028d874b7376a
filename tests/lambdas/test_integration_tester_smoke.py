"""The smoke run's pure decisions: the cases as one CSV file, and the output rows back to each case."""

from __future__ import annotations

from integration_tester.cases import TestCase
from integration_tester.decisions import Later
from integration_tester.smoke import (
    execution_id,
    execution_token,
    run_status,
    smoke_answers,
    smoke_bucket,
    smoke_input,
)


def case(name: str, payload: str, **fields) -> TestCase:
    return TestCase(name=name, payload=payload, content_type="text/csv", **fields)


def test_cases_become_one_file_and_each_gets_its_own_rows_back():
    run = smoke_input([case("a", "1,2\n3,4\n"), case("b", "5,6")])

    assert run.body == "1,2\n3,4\n5,6\n"
    answers = smoke_answers(run, "0.1\n0.2\n0.3\n")
    assert (answers["a"].body, answers["b"].body) == ("0.1\n0.2", "0.3")
    assert answers["a"].queued and answers["a"].status == 200


def test_missing_rows_fail_every_case_and_cases_a_transform_cannot_run_are_refused():
    json_case = TestCase(name="j", payload="{}", content_type="application/json")
    error_case = case("e", "1,2", expected_status=400)
    run = smoke_input([case("a", "1,2"), json_case, error_case])

    answers = smoke_answers(run, "")
    assert answers["a"].error == "the smoke run wrote 0 rows for 1 input rows"
    assert answers["j"].error == "a batch transform reads and writes text/csv only"
    assert answers["e"].error == "a batch transform has no status to expect"


def test_the_run_is_started_once_per_deployment_and_followed_until_it_ends():
    assert execution_token("v1-0a1b2c3d") == execution_token("v1-0a1b2c3d")
    assert 32 <= len(execution_token("v1-0a1b2c3d")) <= 128
    assert execution_token("v1-0a1b2c3d") != execution_token("v2-0a1b2c3d")
    assert execution_id("arn:aws:sagemaker:eu-west-1:222222222222:pipeline/p/execution/abc123") == "abc123"
    assert isinstance(run_status({"PipelineExecutionStatus": "Executing"}), Later)
    assert run_status({"PipelineExecutionStatus": "Succeeded"}) is None
    assert run_status({"PipelineExecutionStatus": "Failed", "FailureReason": "x"}) == "Failed: x"
    definition = {"Parameters": [{"Name": "InputUri", "Type": "String", "DefaultValue": "s3://b/e/batch/input/"}]}
    assert smoke_bucket(definition) == "b"

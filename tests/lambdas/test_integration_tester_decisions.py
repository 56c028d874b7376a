"""The integration tester's pure decisions: test cases, answers, events and the deployment to test."""

from __future__ import annotations

from decimal import Decimal

import pytest

import contract
from integration_tester.cases import Answer, MalformedCase, TestCase, check, parse_case
from integration_tester.decisions import (
    AsyncRequests,
    EndpointInService,
    Later,
    Rejection,
    TesterRules,
    TesterTarget,
    async_requests,
    case_result,
    deployment_to_test,
    endpoint_in_service,
    readiness,
    run_result,
    s3_location,
)
from ledger import StageState
from tests.lambdas.events import DEV, PROD, REGION, TEST, endpoint_deployment_state_change

DEPLOYMENT = contract.Deployment("churn", "dev")
CURRENT = "v8-0a1b2c3d"
RULES = TesterRules(
    {
        stage: TesterTarget(account, f"arn:aws:iam::{account}:role/mlops-x-endpoint-tester")
        for stage, account in (("feature", DEV), ("dev", TEST), ("prod", PROD))
    },
    REGION,
)


def item(name: str = "typical", **fields) -> dict:
    """A test case as the tester reads it from DynamoDB (numbers are Decimals)."""
    defaults = {"payload": "35,12,80.5,2,1,1", "content_type": "text/csv"}
    return {"pk": "PROJECT#churn", "sk": f"TEST_CASE#{name}", **defaults, **fields}


def case(**fields) -> TestCase:
    parsed = parse_case(item(**fields))
    assert isinstance(parsed, TestCase), parsed
    return parsed


def test_the_contract_names_every_field_of_a_test_case():
    names = {value for name, value in vars(contract.TestCaseFields).items() if name.isupper()}
    assert names == set(TestCase.model_fields) - {"name"}


def test_a_case_from_the_table_with_its_defaults():
    parsed = case(output={"count": Decimal(1), "minimum": Decimal(0), "maximum": Decimal("1")})
    assert (parsed.name, parsed.expected_status, parsed.latency_budget_ms) == ("typical", 200, 1000)
    assert parsed.stages is None
    assert parsed.output.maximum == 1.0 and parsed.output.format == "csv"
    assert parsed.applies_to("dev") and case(stages=["prod"]).applies_to("dev") is False


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"payload": None}, "payload: Input should be a valid string"),
        ({"content_type": ""}, "content_type: String should have at least 1 character"),
        ({"expected_satus": Decimal(400)}, "expected_satus: Extra inputs are not permitted"),
        ({"expected_status": Decimal(99)}, "expected_status: Input should be greater than or equal to 200"),
        ({"latency_budget_ms": Decimal(90_000)}, "latency_budget_ms: Input should be less than or equal to 60000"),
        ({"stages": ["qa"]}, "stages: Value error, unknown stage(s) qa"),
        ({"output": {"minimum": 1, "maximum": 0}}, "output: Value error, minimum 1.0 is greater than maximum 0.0"),
        ({"output": {"pattern": "("}}, "output.pattern: Value error, not a regular expression"),
        ({"output": {"format": "xml"}}, "output.format: Input should be 'csv' or 'json'"),
    ],
)
def test_a_malformed_case_names_its_field(fields, problem):
    parsed = parse_case(item("broken", **fields))
    assert isinstance(parsed, MalformedCase) and parsed.name == "broken"
    assert parsed.problem.startswith(problem)


def test_a_case_name_must_be_usable_in_a_sort_key():
    assert parse_case(item("has space")).problem.startswith("name: String should match pattern")


def ok(body: str, latency_ms: int = 40, status: int = 200) -> Answer:
    return Answer(status, body, latency_ms)


@pytest.mark.parametrize(
    ("expectation", "body", "problem"),
    [
        ({"count": 1, "minimum": 0, "maximum": 1}, "0.42\n", None),
        ({"count": 3, "minimum": 0, "maximum": 1}, "0.1,0.2\n0.3", None),
        ({"count": 2}, "0.42", "1 values, expected 2"),
        ({"minimum": 0, "maximum": 1}, "0.42\n1.7\n-2", "2 value(s) outside [0, 1], first 1.7"),
        ({"maximum": 1}, "yes", "value 'yes' is not a number"),
        ({"minimum": 0}, "nan", "value 'nan' is not a finite number"),
        ({"format": "json", "count": 2, "maximum": 1}, '{"predictions": [{"score": 0.9}, {"score": 0.1}]}', None),
        ({"format": "json", "minimum": 0}, '{"predictions": [-0.5], "ok": true}', "1 value(s) outside [0, inf]"),
        ({"format": "json", "count": 1}, "0.42,", "the answer is not JSON"),
        ({"pattern": r"^0\.\d+$"}, "0.42", None),
        ({"pattern": r"^label"}, "0.42", "the answer does not match /^label/"),
    ],
)
def test_outputs_are_checked_against_the_expectation(expectation, body, problem):
    problems = check(case(output=expectation), ok(body))
    assert problems == [] if problem is None else problems[0].startswith(problem), problems


def test_status_latency_and_invocation_errors_fail_a_case():
    typical = case(latency_budget_ms=Decimal(100), output={"count": 1})
    assert check(typical, ok("0.4", latency_ms=100)) == []
    assert check(typical, ok("0.4", latency_ms=101)) == ["latency 101 ms is over the budget of 100 ms"]
    assert check(typical, ok("bad row", status=400)) == ["status 400, expected 200: bad row"]
    assert check(typical, Answer(0, "", 5, error="ValidationError: Endpoint x not found")) == [
        "invocation failed: ValidationError: Endpoint x not found"
    ]


def test_a_client_error_can_be_the_expected_answer():
    rejects = case(payload="not,a,row", expected_status=Decimal(400), output={"pattern": "could not parse"})
    assert check(rejects, ok("could not parse the row", status=400)) == []
    assert check(rejects, ok("0.42")) == ["status 200, expected 400: 0.42"]


def test_a_run_passes_only_with_cases_that_all_pass():
    passed = case_result(case(), ok("0.4"))
    failed = case_result(case(name="edge", output={"maximum": 0.1}), ok("0.4"))
    malformed = case_result(MalformedCase("typo", "payload: Field required"))
    assert passed == {"name": "typical", "passed": True, "problems": [], "status": 200, "latency_ms": 40}
    assert malformed["problems"] == ["malformed test case: payload: Field required"]

    run = run_result("dev", [passed], event_id="e", now="t")
    assert (run.passed, run.summary) == (True, "1 of 1 cases passed")
    run = run_result("dev", [passed, failed, malformed], event_id="e", now="t")
    assert run.passed is False
    assert run.summary == "2 of 3 cases failed; edge: 1 value(s) outside [-inf, 0.1], first 0.4"
    empty = run_result("dev", [], event_id="e", now="t")
    assert empty.passed is False
    assert empty.summary.startswith("no test cases configured for stage dev: add test cases")
    assert "scripts/integration_tests.py" in empty.summary


def in_service(**fields) -> dict:
    return endpoint_deployment_state_change(
        account=TEST,
        endpoint_name="churn-dev-endpoint",
        status="IN_SERVICE",
        config_name=f"churn-dev-endpoint-{CURRENT}",
        detail_type="SageMaker Endpoint State Change",
        **fields,
    )


def test_an_endpoint_of_the_platform_in_service_in_its_stages_account_is_accepted():
    event = in_service()
    assert endpoint_in_service(event, RULES) == EndpointInService(
        event["id"], TEST, DEPLOYMENT, f"churn-dev-endpoint-{CURRENT}"
    )


def _detail(**changes) -> dict:
    return {"detail": in_service()["detail"] | changes}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"detail-type": "SageMaker Endpoint Deployment State Change"}, "unexpected event"),
        ({"region": "us-east-1"}, "region us-east-1 is not the platform's region"),
        ({"account": PROD}, f"account {PROD} is not where stage dev deploys ({TEST})"),
        ({"id": ""}, "not an EventBridge event: id"),
        ({"detail": {"EndpointStatus": "IN_SERVICE"}}, "malformed SageMaker Endpoint State Change: EndpointName"),
        (_detail(EndpointName="churn-dev-endpoint-2"), "endpoint 'churn-dev-endpoint-2' is not an endpoint"),
        (_detail(EndpointName="churn-qa-endpoint"), "endpoint 'churn-qa-endpoint' is not an endpoint"),
        (_detail(EndpointStatus="UPDATING"), "endpoint churn-dev-endpoint is UPDATING, not in service"),
    ],
)
def test_other_events_are_rejected_with_a_reason(changes, reason):
    rejection = endpoint_in_service(in_service() | changes, RULES)
    assert isinstance(rejection, Rejection) and rejection.reason.startswith(reason), rejection


def state(**fields) -> StageState:
    return StageState(DEPLOYMENT, **{"account": TEST, "deployment_id": CURRENT, "status": "DEPLOYED", **fields})


def change(config: str = f"churn-dev-endpoint-{CURRENT}") -> EndpointInService:
    return EndpointInService("e", TEST, DEPLOYMENT, config)


@pytest.mark.parametrize(
    ("event", "stage_state", "expected"),
    [
        (change(), state(), CURRENT),
        (change(), None, "the promoter has deployed nothing to this stage"),
        (change("churn-dev-endpoint-config"), state(), "endpoint configuration 'churn-dev-endpoint-config' was not"),
        (change("churn-dev-endpoint-v7-00000000"), state(), "stale event: it reports v7-00000000, the stage's current"),
        (change(), state(status="ROLLED_BACK"), f"deployment {CURRENT} is ROLLED_BACK: nothing to test"),
        (change(), state(status="FAILED"), f"deployment {CURRENT} is FAILED"),
    ],
)
def test_only_the_stages_current_deployment_is_tested(event, stage_state, expected):
    decision = deployment_to_test(event, stage_state)
    assert decision == expected if expected == CURRENT else decision.reason.startswith(expected), decision


def test_the_endpoint_must_serve_the_deployment_to_be_tested():
    serving = {"EndpointStatus": "InService", "EndpointConfigName": f"churn-dev-endpoint-{CURRENT}"}
    assert readiness(serving, DEPLOYMENT, CURRENT) is None
    assert readiness(serving | {"EndpointStatus": "Updating"}, DEPLOYMENT, CURRENT) == Later(
        "endpoint churn-dev-endpoint is Updating, not InService"
    )
    rolled_back = serving | {"EndpointConfigName": "churn-dev-endpoint-v7-00000000"}
    assert readiness(rolled_back, DEPLOYMENT, CURRENT) == Rejection(
        f"endpoint churn-dev-endpoint serves churn-dev-endpoint-v7-00000000, not deployment {CURRENT}"
    )


def test_a_test_stage_deployment_is_tested_once_its_stack_completed():
    assert deployment_to_test(change(), state(status="IN_PROGRESS")) == Later(
        f"deployment {CURRENT} is IN_PROGRESS: waiting for its stack"
    )
    prod = contract.Deployment("churn", "prod")
    in_prod = EndpointInService("e", PROD, prod, f"churn-prod-endpoint-{CURRENT}")
    assert deployment_to_test(in_prod, StageState(prod, PROD, deployment_id=CURRENT, status="IN_PROGRESS")) == CURRENT


def test_an_async_configuration_sends_the_requests_under_the_endpoints_input_prefix():
    config = {
        "EndpointConfigName": f"churn-dev-endpoint-{CURRENT}",
        "AsyncInferenceConfig": {
            "OutputConfig": {
                "S3OutputPath": "s3://mlops-data-capture-222222222222-eu-west-1/churn-dev-endpoint/async/output/",
                "S3FailurePath": "s3://mlops-data-capture-222222222222-eu-west-1/churn-dev-endpoint/async/failures/",
            }
        },
    }

    requests = async_requests(config, DEPLOYMENT, CURRENT)

    assert requests == AsyncRequests(
        "mlops-data-capture-222222222222-eu-west-1", f"churn-dev-endpoint/async/input/{CURRENT}/"
    )
    assert requests.location("typical") == (
        f"s3://mlops-data-capture-222222222222-eu-west-1/churn-dev-endpoint/async/input/{CURRENT}/typical"
    )
    assert async_requests({"EndpointConfigName": "x", "ProductionVariants": []}, DEPLOYMENT, CURRENT) is None


def test_s3_locations_are_split_and_anything_else_is_refused():
    assert s3_location("s3://bucket/a/b.out") == ("bucket", "a/b.out")
    with pytest.raises(ValueError, match="not an S3 URI: 'https://bucket/a'"):
        s3_location("https://bucket/a")


def test_an_async_answer_is_not_held_to_the_latency_budget():
    case = TestCase(name="typical", payload="1,2", content_type="text/csv", latency_budget_ms=10)

    assert check(case, Answer(200, "0.4", 60_000, queued=True)) == []
    assert check(case, Answer(200, "0.4", 60_000))[0].startswith("latency 60000 ms")

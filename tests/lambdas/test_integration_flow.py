"""End to end, in moto: an approval in dev reaches prod only through a passing integration test in test."""

from __future__ import annotations

import contract
from contract import EndpointParameters
from tests.lambdas.conftest import TYPICAL_CASE
from tests.lambdas.events import PROD, TEST


def promoted_to_test(platform) -> str:
    """The approver approves churn-dev v1; the promoter deploys it to test; the stack completes."""
    package = platform.register("dev")
    platform.promote(platform.package_event(package))
    assert platform.stack("dev")["StackId"].split(":")[4] == TEST
    platform.track(platform.completion("dev", "CREATE_COMPLETE"))
    assert platform.state("dev")["status"] == "DEPLOYED"
    platform.add_test_case("typical", **TYPICAL_CASE)
    return package


def test_a_passing_integration_test_in_test_opens_the_way_to_prod(platform):
    dev_package = promoted_to_test(platform)

    assert platform.run_integration_tests("dev", "0.42") == {"batchItemFailures": []}
    prod_package = platform.register("prod", metadata={contract.META_SOURCE_PACKAGE: dev_package})
    platform.promote(platform.package_event(prod_package))

    assert platform.test_record(dev_package)["passed"] is True
    assert platform.stack("prod")["StackId"].split(":")[4] == PROD
    assert platform.parameters("prod")[EndpointParameters.MODEL_PACKAGE_ARN] == prod_package
    [attempt] = platform.attempts("prod")
    assert attempt["status"] == "IN_PROGRESS"
    subjects = [subject for subject, _ in platform.alerts()]
    assert any(subject.startswith("[churn/dev] integration tests passed") for subject in subjects)


def test_a_failing_integration_test_in_test_keeps_the_version_out_of_prod(platform):
    dev_package = promoted_to_test(platform)

    platform.run_integration_tests("dev", "1.7")  # a probability above 1
    prod_package = platform.register("prod", metadata={contract.META_SOURCE_PACKAGE: dev_package})
    platform.promote(platform.package_event(prod_package))

    record = platform.test_record(dev_package)
    assert (record["passed"], record["failed_cases"]) == (False, ["typical"])
    assert platform.stack("prod") is None
    [attempt] = platform.attempts("prod")
    assert attempt["status"] == "REFUSED"
    assert dev_package in attempt["reason"]
    assert platform.state("prod")["decision"] == "REFUSED"
    subjects = [subject for subject, _ in platform.alerts()]
    assert any(subject.startswith("[churn/dev] integration tests FAILED") for subject in subjects)
    assert "[churn/prod] v1 refused: no test-stage pass" in subjects

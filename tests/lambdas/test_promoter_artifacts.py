"""What serves is what was tested: the promoter's verified copy and content-based prod gate, against moto."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.validate import ParamValidator

import contract
from promoter.artifacts import ArtifactCopier, copy_request, registered_model
from tests import handler_calls
from tests.lambdas.conftest import ARTIFACT_BUCKET, MODEL_KEY, model_bucket
from tests.lambdas.events import DEV, PROD, TEST

SWAPPED = b"a different model, written over the approved one"


def deployed_model(platform, stage: str, account: str) -> dict:
    """The SageMaker model the stage's endpoint stack runs in ``account`` (moto's CloudFormation names it)."""
    resources = platform.cloudformation(stage).describe_stack_resources(StackName=f"churn-{stage}-endpoint")
    # moto lists the resources whose condition is false (the async kind's) as empty entries
    [model] = [r for r in resources["StackResources"] if r.get("ResourceType") == "AWS::SageMaker::Model"]
    name = model["PhysicalResourceId"].split("/")[-1]
    return platform.client(account, "sagemaker").describe_model(ModelName=name)


def dev_package_that_passed_test(platform) -> str:
    """A dev package deployed to test, confirmed and passed by the integration tester."""
    dev_package = platform.register("dev")
    platform.promote(platform.package_event(dev_package))
    platform.track(platform.completion("dev", "CREATE_COMPLETE"))
    platform.run_integration_tests("dev")
    assert platform.test_record(dev_package)["passed"] is True
    platform.alerts()  # the test-pass notifications are not what these tests look at
    return dev_package


def test_an_approved_model_is_served_from_a_verified_copy_in_the_target_account(platform):
    package = platform.register("dev")

    platform.promote(platform.package_event(package))

    etag = platform.model_etag.strip('"')
    key = f"churn/dev/v1/{etag}/model.tar.gz"
    assert platform.verified_copies(TEST) == {key: b"xgboost churn model, commit 9f1c2ab"}
    container = deployed_model(platform, "dev", TEST)["PrimaryContainer"]
    assert container["ModelDataUrl"] == f"s3://{model_bucket(TEST)}/{key}"
    assert container["Image"] == platform.package(package)["InferenceSpecification"]["Containers"][0]["Image"]


@pytest.mark.parametrize("change", ["swap", "delete"])
def test_a_model_swapped_or_deleted_after_approval_is_refused_recorded_and_alerted(platform, change):
    package = platform.register("dev")
    if change == "swap":
        found = platform.put_model(SWAPPED).strip('"')
    else:
        platform.client(DEV, "s3").delete_object(Bucket=ARTIFACT_BUCKET, Key=MODEL_KEY)

    assert platform.promote(platform.package_event(package)) == {"batchItemFailures": []}

    registered = platform.model_etag.strip('"')
    assert platform.stack("dev") is None and platform.change_set_requests() == []
    assert platform.verified_copies(TEST) == {}
    [attempt] = platform.attempts("dev")
    assert attempt["status"] == "REFUSED"
    expected = f"registered {registered}, found {found}" if change == "swap" else "is missing"
    assert expected in attempt["reason"] and registered in attempt["reason"]
    [(subject, message)] = platform.alerts()
    assert subject == "[churn/dev] v1 refused: model artifact not verified"
    assert message["reason"] == attempt["reason"] and message["package_arn"] == package


def test_a_package_that_pins_no_model_bytes_is_refused(platform):
    package = platform.register("dev", container={"ModelDataETag": ""})

    platform.promote(platform.package_event(package))

    assert platform.stack("dev") is None
    assert "registers no valid ModelDataETag" in platform.attempts("dev")[0]["reason"]


@pytest.mark.parametrize("change", ["swap", "delete"])
def test_a_swap_or_delete_after_a_deployment_changes_nothing_that_serves(platform, change):
    package = platform.register("dev")
    platform.promote(platform.package_event(package))
    platform.track(platform.completion("dev", "CREATE_COMPLETE"))
    served = deployed_model(platform, "dev", TEST)["PrimaryContainer"]
    copies = platform.verified_copies(TEST)

    if change == "swap":
        platform.put_model(SWAPPED)
    else:
        platform.client(DEV, "s3").delete_object(Bucket=ARTIFACT_BUCKET, Key=MODEL_KEY)
    platform.promote(platform.package_event(package))  # the same approval again: a duplicate event

    assert deployed_model(platform, "dev", TEST)["PrimaryContainer"] == served
    assert platform.verified_copies(TEST) == copies
    assert not served["ModelDataUrl"].startswith(f"s3://{ARTIFACT_BUCKET}/")


@pytest.mark.parametrize("change", ["swap", "delete"])
def test_copying_a_verified_model_again_is_a_no_op_even_after_the_source_changed(platform, change):
    model = registered_model(platform.package(platform.register("dev")))
    request = copy_request(
        model, bucket=model_bucket(TEST), key="churn/dev/v1/copy/model.tar.gz", source_account=DEV, target_account=TEST
    )
    target = platform.promoter.settings.targets["dev"]
    client = platform._clients().in_account(
        "s3", role_arn=target.deploy_role_arn, session_name="promoter", region=target.region
    )
    handler_calls.acting_as(client, target.deploy_role_arn)  # as the promoter's own client of the deploy role
    copier = ArtifactCopier(client)
    assert copier.copy(model, request) is None
    if change == "swap":
        platform.put_model(SWAPPED)
    else:  # e.g. the dev bucket's expiry: a rollback to this version still deploys its verified copy
        platform.client(DEV, "s3").delete_object(Bucket=ARTIFACT_BUCKET, Key=MODEL_KEY)

    assert copier.copy(model, request) is None
    assert platform.verified_copies(TEST) == {request["Key"]: b"xgboost churn model, commit 9f1c2ab"}


def test_the_copy_request_is_valid_for_s3():
    package = {
        "ModelPackageArn": "arn:aws:sagemaker:eu-west-1:111111111111:model-package/churn-dev/3",
        "InferenceSpecification": {
            "Containers": [
                {
                    "Image": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                    "ModelDataUrl": f"s3://{ARTIFACT_BUCKET}/{MODEL_KEY}",
                    "ModelDataETag": '"0123456789abcdef0123456789abcdef-2"',
                }
            ]
        },
    }
    request = copy_request(
        registered_model(package), bucket=model_bucket(PROD), key="k", source_account=DEV, target_account=PROD
    )
    shape = botocore.session.get_session().get_service_model("s3").operation_model("CopyObject").input_shape
    report = ParamValidator().validate(request, shape)
    assert not report.has_errors(), report.generate_report()
    assert request["CopySourceIfMatch"] == '"0123456789abcdef0123456789abcdef-2"' and request["IfNoneMatch"] == "*"


# --- The prod gate, on content -----------------------------------------------------------------------------


def test_a_prod_copy_of_the_tested_model_deploys_from_its_own_verified_copy(platform):
    dev_package = dev_package_that_passed_test(platform)
    prod_package = platform.register("prod", metadata={contract.META_SOURCE_PACKAGE: dev_package})

    platform.promote(platform.package_event(prod_package))

    assert platform.attempts("prod")[0]["status"] == "IN_PROGRESS"
    container = deployed_model(platform, "prod", PROD)["PrimaryContainer"]
    assert container["ModelDataUrl"].startswith(f"s3://{model_bucket(PROD)}/churn/prod/v1/")


@pytest.mark.parametrize(
    ("source", "container", "reason"),
    [
        ("tested", {"ModelDataETag": '"0123456789abcdef0123456789abcdef"'}, "does not hold the model"),
        ("tested", {"ModelDataUrl": f"s3://{ARTIFACT_BUCKET}/projects/churn/other/model.tar.gz"}, "ModelDataUrl"),
        ("tested", {"Image": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.5-1"}, "Image"),
        ("untested", {}, "has not passed the test stage"),
        ("other project", {}, "which is not a version of churn-dev"),
    ],
)
def test_a_prod_package_is_refused_unless_it_holds_the_model_its_tested_dev_source_holds(
    platform, source, container, reason
):
    dev_package = dev_package_that_passed_test(platform)
    cited = {
        "tested": dev_package,
        "untested": platform.register("dev"),
        "other project": dev_package.replace("churn-dev", "fraud-dev"),
    }[source]
    if source == "other project":  # a package of another project that passed its own test stage
        platform._table().put_item(
            Item={"pk": f"PACKAGE#{cited}", "sk": "TEST", "passed": True, "deployment_id": "v1-00000000"}
        )
    prod_package = platform.register("prod", metadata={contract.META_SOURCE_PACKAGE: cited}, container=container)

    platform.promote(platform.package_event(prod_package))

    assert platform.stack("prod") is None
    [attempt] = platform.attempts("prod")
    assert attempt["status"] == "REFUSED" and reason in attempt["reason"]
    [(subject, message)] = platform.alerts()
    headline = "not the tested model" if source == "tested" else "no test-stage pass"
    assert subject == f"[churn/prod] v1 refused: {headline}" and message["reason"] == attempt["reason"]

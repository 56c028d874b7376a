"""What a registered package pins, and how its verified copy is named and requested: pure functions."""

from __future__ import annotations

import pytest
from botocore.handlers import handle_copy_source_param

import contract
from envelope import Rejection
from promoter.artifacts import RegisteredModel, copy_key, copy_request, registered_model

IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost:1.7-1"
DIGEST = "sha256:" + "0123456789abcdef" * 4
URL = "s3://mlops-artifacts-111111111111-eu-west-1/projects/churn/training/9f1c2ab/model.tar.gz"
ETAG = "0123456789abcdef0123456789abcdef"


def package(*containers: dict) -> dict:
    return {"ModelPackageArn": "arn:pkg", "InferenceSpecification": {"Containers": list(containers)}}


def container(**changes) -> dict:
    return {"Image": IMAGE, "ModelDataUrl": URL, "ModelDataETag": f'"{ETAG}"', **changes}


@pytest.mark.parametrize("etag", [f'"{ETAG}"', ETAG, f'"{ETAG}-12"'])
def test_a_package_pins_its_model_by_etag_quoted_or_not(etag):
    model = registered_model(package(container(ModelDataETag=etag)))
    assert model == RegisteredModel(
        IMAGE,
        None,
        "mlops-artifacts-111111111111-eu-west-1",
        "projects/churn/training/9f1c2ab/model.tar.gz",
        etag.strip('"'),
    )


@pytest.mark.parametrize(
    ("containers", "reason"),
    [
        ((), "exactly one container"),
        ((container(), container()), "exactly one container"),
        ((container(Image=""),), "no image"),
        ((container(ModelDataUrl="https://example.com/model.tar.gz"),), "no s3:// ModelDataUrl"),
        ((container(ModelDataUrl=None),), "no s3:// ModelDataUrl"),
        ((container(ModelDataUrl=URL.replace("/projects/", "/scratch/")),), "not a .tar.gz archive under"),
        ((container(ModelDataUrl=URL.replace(".tar.gz", ".json")),), "not a .tar.gz archive under"),
        ((container(ModelDataETag=None),), "registers no valid ModelDataETag"),
        ((container(ModelDataETag='"not-an-etag"'),), "registers no valid ModelDataETag"),
    ],
)
def test_a_package_that_pins_nothing_servable_is_rejected_with_the_reason(containers, reason):
    result = registered_model(package(*containers))
    assert isinstance(result, Rejection) and reason in result.reason


@pytest.mark.parametrize(
    ("image", "digest", "served"),
    [
        (IMAGE, DIGEST, f"141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-xgboost@{DIGEST}"),
        (f"{IMAGE.split(':1.7')[0]}@{DIGEST}", DIGEST, f"{IMAGE.split(':1.7')[0]}@{DIGEST}"),
        (
            "1.dkr.ecr.eu-west-1.amazonaws.com:443/team/model:v2",
            DIGEST,
            f"1.dkr.ecr.eu-west-1.amazonaws.com:443/team/model@{DIGEST}",
        ),
        (IMAGE, None, IMAGE),
        (IMAGE, "md5-of-the-training-algorithm", IMAGE),  # free text pins nothing: served as registered
    ],
)
def test_the_served_image_is_pinned_by_a_registered_sha256_digest(image, digest, served):
    model = registered_model(package(container(Image=image, ImageDigest=digest)))
    assert model.served_image == served


def test_a_copy_key_names_project_stage_version_and_content():
    assert copy_key(contract.Deployment("churn", "prod"), 4, ETAG) == f"churn/prod/v4/{ETAG}/model.tar.gz"


def test_the_copy_is_conditional_on_the_registered_etag_and_a_new_key_between_named_accounts():
    model = registered_model(package(container(ModelDataUrl=URL.replace("9f1c2ab", "a b+c"))))
    request = copy_request(
        model, bucket="models", key="k", source_account="111111111111", target_account="333333333333"
    )
    assert request == {
        "Bucket": "models",
        "Key": "k",
        "CopySource": "mlops-artifacts-111111111111-eu-west-1/projects/churn/training/a b+c/model.tar.gz",
        "CopySourceIfMatch": f'"{ETAG}"',
        "IfNoneMatch": "*",
        "ExpectedSourceBucketOwner": "111111111111",
        "ExpectedBucketOwner": "333333333333",
        "MetadataDirective": "COPY",
        "TaggingDirective": "REPLACE",
    }
    handle_copy_source_param(request)  # what botocore does before sending: the key URL-encoded once
    assert (
        request["CopySource"] == "mlops-artifacts-111111111111-eu-west-1/projects/churn/training/a%20b%2Bc/model.tar.gz"
    )

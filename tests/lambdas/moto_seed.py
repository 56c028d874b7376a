"""What a handler test starts from, written straight into moto's backends rather than through its API.

Every handler test starts from the same accounts: the roles, parameters, buckets, tables, queue, topic and
model package groups the platform's stacks leave behind. That starting point is the test's set-up, not the
code under test, so it does not need botocore's requests and moto's parsing of them: through the API it took
about 50 requests and a dozen clients, a quarter of a second of every one of some 300 tests. The handlers
still reach all of it through the API, as in AWS.

Each function creates one kind of resource with moto's own backend call, with the defaults its API would
apply, so what the handlers later read is what the API would have left.
"""

from __future__ import annotations

from moto.dynamodb.models import dynamodb_backends
from moto.iam.models import iam_backends
from moto.s3.models import s3_backends
from moto.sagemaker.models import sagemaker_backends
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends
from moto.ssm.models import ssm_backends
from moto.sts.models import sts_backends

PARTITION = "aws"


def credentials(account: str, region: str, role_arn: str, session_name: str) -> dict[str, str]:
    """``AssumeRole`` of ``role_arn`` by ``account``: credentials that act in the role's account."""
    role = sts_backends[account][PARTITION].assume_role(
        region_name=region,
        role_session_name=session_name,
        role_arn=role_arn,
        policy="",
        duration=3600,
        external_id="",
    )
    return {
        "aws_access_key_id": role.access_key_id,
        "aws_secret_access_key": role.secret_access_key,
        "aws_session_token": role.session_token,
    }


def role(account: str, name: str, trust_policy: str) -> None:
    iam_backends[account][PARTITION].create_role(
        role_name=name,
        assume_role_policy_document=trust_policy,
        path="/",
        permissions_boundary=None,
        description="",
        tags=[],
        max_session_duration=None,
    )


def string_parameter(account: str, region: str, name: str, value: str) -> None:
    ssm_backends[account][region].put_parameter(
        name=name,
        description="",
        value=value,
        parameter_type="String",
        allowed_pattern="",
        keyid="",
        overwrite=False,
        tags=[],
        data_type="text",
        tier=None,
        policies=None,
    )


def bucket(account: str, region: str, name: str) -> None:
    s3_backends[account][PARTITION].create_bucket(name, region)


def put_object(account: str, bucket_name: str, key: str, body: bytes) -> str:
    """The object's ETag, quoted as S3 returns it."""
    return s3_backends[account][PARTITION].put_object(bucket_name, key, body).etag


def table(account: str, region: str, name: str, partition_key: str, sort_key: str) -> None:
    """An on-demand table with a string partition key and a string sort key."""
    key = {partition_key: "HASH", sort_key: "RANGE"}
    dynamodb_backends[account][region].create_table(
        name=name,
        schema=[{"AttributeName": attribute, "KeyType": kind} for attribute, kind in key.items()],
        throughput=None,
        attr=[{"AttributeName": attribute, "AttributeType": "S"} for attribute in key],
        global_indexes=None,
        indexes=None,
        streams=None,
        billing_mode="PAY_PER_REQUEST",
        sse_specification=None,
        tags=[],
        deletion_protection_enabled=None,
        warm_throughput=None,
    )


def queue(account: str, region: str, name: str) -> str:
    """The queue's URL."""
    sqs_backends[account][region].create_queue(name)
    return f"https://sqs.{region}.amazonaws.com/{account}/{name}"


def topic_to_queue(account: str, region: str, topic_name: str, queue_name: str) -> str:
    """A topic with the queue ``queue_name`` subscribed to it; the topic's ARN."""
    sns = sns_backends[account][region]
    topic_arn = sns.create_topic(topic_name).arn
    sns.subscribe(topic_arn, f"arn:aws:sqs:{region}:{account}:{queue_name}", "sqs")
    return topic_arn


def model_package_group(account: str, region: str, name: str) -> None:
    sagemaker_backends[account][region].create_model_package_group(name, "")

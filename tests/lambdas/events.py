"""Realistic payloads for the handler tests: EventBridge events as AWS sends them, wrapped in SQS events.

Shapes follow the AWS documentation of each event (SageMaker, CloudFormation and CloudWatch events
to EventBridge); where documentation and reality differ, reality wins: a model package state
change carries ``CreationTime`` and ``LastModifiedTime`` as epoch milliseconds.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

DEV = "111111111111"
TEST = "222222222222"
PROD = "333333333333"
REGION = "eu-west-1"
ACCOUNT_OF_STAGE = {"feature": DEV, "dev": TEST, "prod": PROD, "champion": PROD, "challenger": PROD}


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def _envelope(*, source: str, detail_type: str, account: str, resources: list[str], detail: dict) -> dict:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": resources,
        "detail": detail,
    }


def model_package_state_change(package: dict[str, Any], **overrides) -> dict:
    """``SageMaker Model Package State Change`` for a ``DescribeModelPackage`` response (the package's state now)."""
    arn = package["ModelPackageArn"]
    created_ms = int(package["CreationTime"].timestamp() * 1000)
    detail = {
        "ModelPackageGroupName": package["ModelPackageGroupName"],
        "ModelPackageVersion": package["ModelPackageVersion"],
        "ModelPackageArn": arn,
        "ModelPackageName": package["ModelPackageGroupName"],
        "ModelPackageDescription": package.get("ModelPackageDescription", ""),
        "CreationTime": created_ms,
        "InferenceSpecification": package.get("InferenceSpecification", {}),
        "ModelPackageStatus": package.get("ModelPackageStatus", "Completed"),
        "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
        "CertifyForMarketplace": False,
        "ModelApprovalStatus": package["ModelApprovalStatus"],
        "MetadataProperties": {
            "GeneratedBy": f"arn:aws:sagemaker:{REGION}:{DEV}:pipeline/churn-training/execution/4r83jejmhorv"
        },
        "CustomerMetadataProperties": package.get("CustomerMetadataProperties", {}),
        "DriftCheckBaselines": package.get("DriftCheckBaselines", {}),
        "LastModifiedTime": _now_ms(),
        "CreatedBy": {
            "UserProfileArn": f"arn:aws:sagemaker:{REGION}:{DEV}:user-profile/d-abc123/ana",
            "UserProfileName": "ana",
            "DomainId": "d-abc123",
        },
        "Tags": {},
    }
    if package.get("ModelMetrics"):
        detail["ModelMetrics"] = package["ModelMetrics"]
    return (
        _envelope(
            source="aws.sagemaker",
            detail_type="SageMaker Model Package State Change",
            account=DEV,
            resources=[arn],
            detail=detail,
        )
        | overrides
    )


def stack_arn(account: str, stack_name: str) -> str:
    return f"arn:aws:cloudformation:{REGION}:{account}:stack/{stack_name}/{uuid.uuid5(uuid.NAMESPACE_URL, stack_name)}"


def stack_status_change(
    *, account: str, stack_name: str, status: str, reason: str = "", token: str = "", **overrides
) -> dict:
    """``CloudFormation Stack Status Change``; ``token`` is the client request token of the operation."""
    arn = stack_arn(account, stack_name)
    detail = {
        "stack-id": arn,
        "status-details": {"status": status, "status-reason": reason},
        "client-request-token": token,
    }
    return (
        _envelope(
            source="aws.cloudformation",
            detail_type="CloudFormation Stack Status Change",
            account=account,
            resources=[arn],
            detail=detail,
        )
        | overrides
    )


def endpoint_deployment_state_change(
    *,
    account: str,
    endpoint_name: str,
    status: str,
    config_name: str,
    pending_config_name: str | None = None,
    failure_reason: str | None = None,
    detail_type: str = "SageMaker Endpoint Deployment State Change",
    **overrides,
) -> dict:
    """``SageMaker Endpoint Deployment State Change`` of a blue/green deployment (also used for the
    ``SageMaker Endpoint State Change`` detail-type, which has the same detail)."""
    arn = f"arn:aws:sagemaker:{REGION}:{account}:endpoint/{endpoint_name}"
    now = _now_ms()
    detail: dict[str, Any] = {
        "EndpointName": endpoint_name,
        "EndpointArn": arn,
        "EndpointConfigName": config_name,
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "CurrentWeight": 1,
                "DesiredWeight": 1,
                "CurrentInstanceCount": 2,
                "DesiredInstanceCount": 2,
            }
        ],
        "EndpointStatus": status,
        "CreationTime": now - 86_400_000,
        "LastModifiedTime": now,
        "Tags": {},
    }
    if pending_config_name:
        detail["PendingDeploymentSummary"] = {
            "EndpointConfigName": pending_config_name,
            "StartTime": now - 600_000,
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "CurrentWeight": 1,
                    "DesiredWeight": 1,
                    "CurrentInstanceCount": 1,
                    "DesiredInstanceCount": 2,
                    "VariantStatus": [
                        {
                            "Status": "Baking",
                            "StatusMessage": "Baking for 300 seconds (TerminationWaitInSeconds) with traffic "
                            "enabled on canary capacity of 1 instance(s).",
                            "StartTime": now - 300_000,
                        }
                    ],
                }
            ],
        }
    if failure_reason:
        detail["FailureReason"] = failure_reason
    return (
        _envelope(source="aws.sagemaker", detail_type=detail_type, account=account, resources=[arn], detail=detail)
        | overrides
    )


def alarm_state_change(
    *, account: str, alarm_name: str, state: str = "ALARM", previous: str = "OK", reason: str = "", **overrides
) -> dict:
    """``CloudWatch Alarm State Change`` of a single-metric alarm."""
    arn = f"arn:aws:cloudwatch:{REGION}:{account}:alarm:{alarm_name}"
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    detail = {
        "alarmName": alarm_name,
        "configuration": {
            "description": "Rolls back blue/green deployments of the endpoint",
            "metrics": [
                {
                    "id": "m1",
                    "metricStat": {
                        "metric": {
                            "dimensions": {"EndpointName": alarm_name.rsplit("-endpoint", 1)[0] + "-endpoint"},
                            "name": "Invocation5XXErrors",
                            "namespace": "AWS/SageMaker",
                        },
                        "period": 60,
                        "stat": "Sum",
                    },
                    "returnData": True,
                }
            ],
        },
        "previousState": {"reason": "Threshold Crossed: no datapoints", "timestamp": now, "value": previous},
        "state": {
            "reason": reason or "Threshold Crossed: 1 datapoint [12.0] was greater than the threshold (1.0).",
            "reasonData": '{"version":"1.0","queryDate":"' + now + '","statistic":"Sum","period":60,"threshold":1.0}',
            "timestamp": now,
            "value": state,
        },
    }
    return (
        _envelope(
            source="aws.cloudwatch",
            detail_type="CloudWatch Alarm State Change",
            account=account,
            resources=[arn],
            detail=detail,
        )
        | overrides
    )


def pipeline_execution_status_change(
    *, pipeline_name: str, status: str = "Failed", previous: str = "Executing", account: str = DEV, **overrides
) -> dict:
    """``SageMaker Model Building Pipeline Execution Status Change``: the detail carries ARNs and ISO times,
    no failure reason (``ListPipelineExecutionSteps`` has it)."""
    pipeline_arn = f"arn:aws:sagemaker:{REGION}:{account}:pipeline/{pipeline_name}"
    execution_arn = f"{pipeline_arn}/execution/{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    detail = {
        "pipelineExecutionDisplayName": f"execution-{int(now.timestamp() * 1000)}",
        "currentPipelineExecutionStatus": status,
        "previousPipelineExecutionStatus": previous,
        "executionStartTime": (now - timedelta(minutes=14)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "executionEndTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "pipelineExecutionDescription": "Push to dev: commit 9f1c2ab",
        "pipelineArn": pipeline_arn,
        "pipelineExecutionArn": execution_arn,
    }
    return (
        _envelope(
            source="aws.sagemaker",
            detail_type="SageMaker Model Building Pipeline Execution Status Change",
            account=account,
            resources=[pipeline_arn, execution_arn],
            detail=detail,
        )
        | overrides
    )


def build_state_change(
    *, project_name: str, status: str = "FAILED", branch: str = "dev", account: str = DEV, **overrides
) -> dict:
    """``CodeBuild Build State Change`` of a finished build; a failed one names its failed phase and why."""
    build_uuid = str(uuid.uuid4())
    build_arn = f"arn:aws:codebuild:{REGION}:{account}:build/{project_name}:{build_uuid}"
    failed = status == "FAILED"
    logs_group = f"/aws/codebuild/{project_name}"
    phases = [
        {
            "phase-context": [],
            "start-time": "Dec 3, 2026 10:00:00 AM",
            "phase-type": "SUBMITTED",
            "phase-status": "SUCCEEDED",
        },
        {"phase-context": [": "], "phase-type": "INSTALL", "phase-status": "SUCCEEDED", "duration-in-seconds": 41},
        {
            "phase-context": [
                "COMMAND_EXECUTION_ERROR: Error while executing command: python -m pipelines.run. Reason: exit status 1"
            ]
            if failed
            else [": "],
            "phase-type": "BUILD",
            "phase-status": status if failed else "SUCCEEDED",
            "duration-in-seconds": 873,
        },
    ]
    detail = {
        "build-status": status,
        "project-name": project_name,
        "build-id": build_arn,
        "additional-information": {
            "cache": {"type": "NO_CACHE"},
            "timeout-in-minutes": 240,
            "build-complete": True,
            "initiator": "rule/mlops-dev-ci-push",
            "build-start-time": "Dec 3, 2026 10:00:00 AM",
            "source": {
                "type": "CODECOMMIT",
                "location": f"https://git-codecommit.{REGION}.amazonaws.com/v1/repos/churn",
            },
            "source-version": f"refs/heads/{branch}",
            "logs": {
                "group-name": logs_group,
                "stream-name": build_uuid,
                "deep-link": f"https://console.aws.amazon.com/cloudwatch/home?region={REGION}#logEvent:"
                f"group={logs_group};stream={build_uuid}",
            },
            "phases": phases,
        },
        "current-phase": "COMPLETED",
        "current-phase-context": "[: ]",
        "version": "1",
    }
    return (
        _envelope(
            source="aws.codebuild",
            detail_type="CodeBuild Build State Change",
            account=account,
            resources=[build_arn],
            detail=detail,
        )
        | overrides
    )


def _commit_id() -> str:
    return hashlib.sha1(uuid.uuid4().bytes).hexdigest()


def codecommit_reference_change(
    repository: str,
    reference: str,
    *,
    event: str = "referenceUpdated",
    reference_type: str = "branch",
    account: str = DEV,
) -> dict:
    """``CodeCommit Repository State Change``: a branch or tag created, updated (pushed to) or deleted.
    A created reference has no ``oldCommitId``, a deleted one no ``commitId``."""
    kind = "heads" if reference_type == "branch" else "tags"
    detail = {
        "callerUserArn": f"arn:aws:sts::{account}:assumed-role/mlops-data-scientist/SageMaker",
        "event": event,
        "referenceFullName": f"refs/{kind}/{reference}",
        "referenceName": reference,
        "referenceType": reference_type,
        "repositoryId": str(uuid.uuid4()),
        "repositoryName": repository,
    }
    if event != "referenceDeleted":
        detail["commitId"] = _commit_id()
    if event != "referenceCreated":
        detail["oldCommitId"] = _commit_id()
    return _envelope(
        source="aws.codecommit",
        detail_type="CodeCommit Repository State Change",
        account=account,
        resources=[f"arn:aws:codecommit:{REGION}:{account}:{repository}"],
        detail=detail,
    )


def codecommit_pull_request_change(
    repository: str, source_branch: str, *, event: str = "pullRequestCreated", status: str = "Open", account: str = DEV
) -> dict:
    """``CodeCommit Pull Request State Change`` of a pull request from ``source_branch`` into ``dev``."""
    detail = {
        "author": f"arn:aws:sts::{account}:assumed-role/mlops-data-scientist/SageMaker",
        "callerUserArn": f"arn:aws:sts::{account}:assumed-role/mlops-data-scientist/SageMaker",
        "creationDate": datetime.now(UTC).strftime("%a %b %d %H:%M:%S UTC %Y"),
        "destinationCommit": _commit_id(),
        "destinationReference": "refs/heads/dev",
        "event": event,
        "isMerged": "False",
        "lastModifiedDate": datetime.now(UTC).strftime("%a %b %d %H:%M:%S UTC %Y"),
        "notificationBody": f"A pull request event occurred in the following AWS CodeCommit repository: {repository}.",
        "pullRequestId": "7",
        "pullRequestStatus": status,
        "repositoryNames": [repository],
        "revisionId": hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
        "sourceCommit": _commit_id(),
        "sourceReference": f"refs/heads/{source_branch}",
        "title": "Better trees",
    }
    return _envelope(
        source="aws.codecommit",
        detail_type="CodeCommit Pull Request State Change",
        account=account,
        resources=[f"arn:aws:codecommit:{REGION}:{account}:{repository}"],
        detail=detail,
    )


def sqs_event(*bodies: dict | str, queue: str = "mlops-promotion") -> dict:
    """The Lambda event of an SQS batch whose message bodies are ``bodies`` (events, or raw strings)."""
    records = []
    for body in bodies:
        text = body if isinstance(body, str) else json.dumps(body)
        records.append(
            {
                "messageId": str(uuid.uuid4()),
                "receiptHandle": "AQEB" + uuid.uuid4().hex,
                "body": text,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": str(_now_ms()),
                    "SenderId": "AIDAIENQZJOLO23YVJ4VO",
                    "ApproximateFirstReceiveTimestamp": str(_now_ms()),
                },
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(text.encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:{DEV}:{queue}",
                "awsRegion": REGION,
            }
        )
    return {"Records": records}


@dataclass
class LambdaContext:
    """The parts of the Lambda context the handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name: str = "/aws/lambda/mlops"
    log_stream_name: str = "2026/01/01/[$LATEST]abc"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{DEV}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 120_000


def data_capture_line(event_id: str, request: str, answer: str, *, at: datetime, inference_id: str = "") -> str:
    """One line of a data-capture file as SageMaker writes it for a CSV endpoint (``<endpoint>/<variant>/...jsonl``)."""
    metadata = {"eventId": event_id, "inferenceTime": at.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if inference_id:
        metadata["inferenceId"] = inference_id
    payloads = {
        "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": request, "encoding": "CSV"},
        "endpointOutput": {
            "observedContentType": "text/csv; charset=utf-8",
            "mode": "OUTPUT",
            "data": answer,
            "encoding": "CSV",
        },
    }
    return json.dumps({"captureData": payloads, "eventMetadata": metadata, "eventVersion": "0"})

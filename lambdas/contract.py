"""What the platform's infrastructure and its handlers agree on: names, stages, parameters, tags.

Pure Python with no AWS calls, so the CDK app imports it as ``lambdas.contract`` and the handlers
(whose code root is ``lambdas/``) as ``contract``: one source for every name that crosses between
synthesized templates and run-time code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Model package group stages, in promotion order (advanced scenario adds champion and challenger).
STAGES = ("feature", "dev", "prod", "champion", "challenger")
#: Which account each stage deploys to.
STAGE_ACCOUNTS = {"feature": "dev", "dev": "test", "prod": "prod", "champion": "prod", "challenger": "prod"}

#: Separates the stages that share one value in a per-stage environment variable (:func:`stages_sharing_values`).
STAGE_LIST_SEPARATOR = ","


def stages_sharing_values(values: Mapping[str, Any]) -> str:
    """A per-stage mapping as a Lambda environment variable: compact JSON in which stages with equal values
    share one key (``"prod,champion,challenger"``). Lambda holds 4 KB of environment variables in all, and
    the advanced scenario's champion and challenger stages repeat the prod stage's settings."""
    stages_of: dict[str, list[str]] = {}
    for stage, value in values.items():
        stages_of.setdefault(json.dumps(value, sort_keys=True), []).append(stage)
    shared = {STAGE_LIST_SEPARATOR.join(stages): json.loads(value) for value, stages in stages_of.items()}
    return json.dumps(shared, separators=(",", ":"))


def values_per_stage(shared: Mapping[str, Any]) -> dict[str, Any]:
    """The mapping of :func:`stages_sharing_values` stage by stage; a stage named twice is a ``ValueError``."""
    values: dict[str, Any] = {}
    for stages, value in shared.items():
        for stage in stages.split(STAGE_LIST_SEPARATOR):
            if stage in values:
                raise ValueError(f"stage {stage!r} is given twice")
            values[stage] = value
    return values


#: A project name: lower-case letters, digits and single hyphens, 2-24 characters, starting with a
#: letter (short enough that every derived SageMaker resource name stays within 63 characters).
PROJECT_NAME = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9])){1,23}$")


@dataclass(frozen=True)
class Deployment:
    """A project's stage: the unit the promoter reconciles (one endpoint, one monitor stack)."""

    project: str
    stage: str

    @classmethod
    def from_group(cls, group_name: str, stages: tuple[str, ...] = STAGES) -> Deployment | None:
        """``churn-dev`` -> Deployment("churn", "dev"); None for groups the platform does not manage."""
        project, _, stage = group_name.rpartition("-")
        if stage in stages and PROJECT_NAME.match(project):
            return cls(project, stage)
        return None

    @classmethod
    def from_resource_name(cls, name: str, stages: tuple[str, ...] = STAGES) -> Deployment | None:
        """The deployment behind a stack or endpoint name (``churn-dev-endpoint``, ``churn-dev-monitor``)."""
        for suffix in ("-endpoint", "-monitor"):
            if name.endswith(suffix):
                return cls.from_group(name.removesuffix(suffix), stages)
        return None

    @property
    def group_name(self) -> str:
        return f"{self.project}-{self.stage}"

    @property
    def account(self) -> str:
        """``dev``, ``test`` or ``prod``: where this stage's endpoint runs."""
        return STAGE_ACCOUNTS[self.stage]

    @property
    def endpoint_stack(self) -> str:
        return f"{self.project}-{self.stage}-endpoint"

    @property
    def monitor_stack(self) -> str:
        return f"{self.project}-{self.stage}-monitor"

    @property
    def endpoint_name(self) -> str:
        return f"{self.project}-{self.stage}-endpoint"


#: Suffixes of everything the platform deploys into a target account; IAM policies and event
#: patterns in the targets are scoped with them.
ENDPOINT_SUFFIX = "-endpoint"
MONITOR_SUFFIX = "-monitor"

#: How long the promoter waits for CloudFormation to compute one change set (the infrastructure sizes
#: the promoter's batch and timeout with it).
CHANGE_SET_WAIT_SECONDS = 60
#: A change set the promoter created is executed within its invocation; one still waiting after this
#: long was abandoned (longer than the promoter's timeout, which the infrastructure checks).
CHANGE_SET_EXECUTION_WINDOW_SECONDS = 300

#: Tags the promoter puts on every stack it deploys.
TAG_PROJECT = "mlops:project"
TAG_STAGE = "mlops:stage"
TAG_MODEL_PACKAGE = "mlops:model-package-arn"
TAG_COMMIT = "mlops:git-commit"

#: CustomerMetadataProperties keys of model packages (written by the project pipelines).
META_COMMIT = "GitCommit"
META_SOURCE_PACKAGE = "SourceModelPackageArn"  # on a prod copy: the dev package it was copied from
META_GROUND_TRUTH = "GroundTruthS3Uri"
META_PROBLEM_TYPE = "ProblemType"
META_INFERENCE_ATTRIBUTE = "InferenceAttribute"
META_PROBABILITY_ATTRIBUTE = "ProbabilityAttribute"
META_PROBABILITY_THRESHOLD = "ProbabilityThreshold"  # a probability above it is the positive label
META_BRANCH = "GitBranch"  # lineage the approver reviews (see the template's pipelines/naming.py)
META_DATASET_URI = "DatasetS3Uri"
META_METRIC_PREFIX = "Metric"  # MetricAuc, MetricF1, ... from the evaluation report

#: SSM parameters the deployment-target stack publishes in its account, under ``/<prefix>/target/``;
#: the endpoint and monitor templates resolve them at deploy time.
SSM_EXECUTION_ROLE_ARN = "sagemaker-execution-role-arn"
SSM_KMS_KEY_ARN = "kms-key-arn"
SSM_DATA_CAPTURE_BUCKET = "data-capture-bucket"
SSM_MODEL_BUCKET = "model-bucket"
SSM_ASYNC_SUCCESS_TOPIC = "async-success-topic-arn"
SSM_ASYNC_ERROR_TOPIC = "async-error-topic-arn"
SSM_BATCH_SCHEDULER_ROLE_ARN = "batch-scheduler-role-arn"


def target_parameter(prefix: str, name: str) -> str:
    """Full name of a deployment-target SSM parameter, e.g. ``/mlops/target/kms-key-arn``."""
    return f"/{prefix}/target/{name}"


class EndpointParameters:
    """CloudFormation parameters of the endpoint template (``stacks/endpoint.py``)."""

    MODEL_PACKAGE_ARN = "ModelPackageArn"  # lineage: the registered package the model below was verified against
    MODEL_DATA_KEY = "ModelDataKey"  # the promoter's verified copy, a key of the target account's model bucket
    IMAGE = "Image"  # the registered image, pinned by digest when the package registers one
    ENDPOINT_NAME = "EndpointName"
    DEPLOYMENT_ID = "DeploymentId"  # unique per promotion attempt: v<version>-<8 hex>; names models
    INSTANCE_TYPE = "InstanceType"
    INSTANCE_COUNT = "InstanceCount"
    MAX_INSTANCE_COUNT = "MaxInstanceCount"
    INVOCATIONS_PER_INSTANCE = "InvocationsPerInstanceTarget"
    DATA_CAPTURE_PERCENT = "DataCapturePercent"
    DEPLOYMENT_STRATEGY = "DeploymentStrategy"  # ALL_AT_ONCE | CANARY | LINEAR
    TRAFFIC_STEP_PERCENT = "TrafficStepPercent"
    WAIT_INTERVAL_SECONDS = "WaitIntervalSeconds"
    LATENCY_THRESHOLD_MS = "LatencyThresholdMs"
    SERVERLESS_MEMORY_MB = "ServerlessMemorySizeMB"  # used by the serverless DeploymentKind only
    SERVERLESS_MAX_CONCURRENCY = "ServerlessMaxConcurrency"
    DEPLOYMENT_KIND = "DeploymentKind"  # realtime | serverless | async (ENDPOINT_KINDS)
    ASYNC_MAX_CONCURRENT_INVOCATIONS = "AsyncMaxConcurrentInvocations"
    ASYNC_BACKLOG_PER_INSTANCE = "AsyncBacklogPerInstanceTarget"


class BatchParameters:
    """CloudFormation parameters of the batch template (``stacks/batch.py``); the served model's and the
    names' are those of the endpoint template, so the promoter sets them the same way for either."""

    MODEL_PACKAGE_ARN = EndpointParameters.MODEL_PACKAGE_ARN
    MODEL_DATA_KEY = EndpointParameters.MODEL_DATA_KEY
    IMAGE = EndpointParameters.IMAGE
    ENDPOINT_NAME = EndpointParameters.ENDPOINT_NAME  # names the stage's batch resources (no endpoint exists)
    DEPLOYMENT_ID = EndpointParameters.DEPLOYMENT_ID
    INSTANCE_TYPE = EndpointParameters.INSTANCE_TYPE
    INSTANCE_COUNT = EndpointParameters.INSTANCE_COUNT
    SCHEDULE_EXPRESSION = "BatchScheduleExpression"  # EventBridge Scheduler expression (UTC)
    DATA_QUALITY_STATISTICS_URI = "DataQualityStatisticsUri"  # both empty: no Model Monitor schedule
    DATA_QUALITY_CONSTRAINTS_URI = "DataQualityConstraintsUri"


def batch_prefix(endpoint_name: str) -> str:
    """Key prefix of a batch stage in the target's data-capture bucket: ``input/``, ``output/``, ``capture/``."""
    return f"{endpoint_name}/batch/"


#: The batch pipeline's parameters: the S3 prefix a run reads, and the one its output goes under
#: (``<prefix><pipeline execution id>/``).
BATCH_INPUT_URI = "InputUri"
BATCH_OUTPUT_PREFIX = "OutputPrefix"


def batch_smoke_prefix(endpoint_name: str, deployment_id: str) -> str:
    """Key prefix of a deployment's smoke run (``input/``, ``output/``), outside the scheduled ``input/``."""
    return f"{batch_prefix(endpoint_name)}smoke/{deployment_id}/"


def async_prefix(endpoint_name: str) -> str:
    """Key prefix of an asynchronous endpoint in the target's data-capture bucket: ``output/``,
    ``failures/`` (SageMaker writes them) and ``input/`` (the integration tester's requests)."""
    return f"{endpoint_name}/async/"


#: Suffix of the alarm of a batch stage's failed runs, and of its pipeline and schedule names.
BATCH_FAILURES_ALARM_SUFFIX = "-batch-failures"
BATCH_RESOURCE_SUFFIX = "-batch"


class MonitorParameters:
    """CloudFormation parameters of the Model Monitor template (``stacks/model_monitor.py``).

    An empty URI leaves the corresponding schedule out.
    """

    ENDPOINT_NAME = "EndpointName"
    DEPLOYMENT_ID = "DeploymentId"
    SCHEDULE_EXPRESSION = "ScheduleExpression"
    INSTANCE_TYPE = "MonitoringInstanceType"
    DATA_QUALITY_STATISTICS_URI = "DataQualityStatisticsUri"
    DATA_QUALITY_CONSTRAINTS_URI = "DataQualityConstraintsUri"
    MODEL_QUALITY_CONSTRAINTS_URI = "ModelQualityConstraintsUri"
    GROUND_TRUTH_URI = "GroundTruthS3Uri"
    PROBLEM_TYPE = "ProblemType"
    INFERENCE_ATTRIBUTE = "InferenceAttribute"
    PROBABILITY_ATTRIBUTE = "ProbabilityAttribute"
    PROBABILITY_THRESHOLD = "ProbabilityThreshold"
    BIAS_CONFIG_URI = "BiasConfigUri"
    BIAS_CONSTRAINTS_URI = "BiasConstraintsUri"
    EXPLAINABILITY_CONFIG_URI = "ExplainabilityConfigUri"
    EXPLAINABILITY_CONSTRAINTS_URI = "ExplainabilityConstraintsUri"


def project_settings_partition(project: str) -> str:
    """Partition key of a project's items in the project-settings table (``<prefix>-project-settings``)."""
    return f"PROJECT#{project}"


#: Sort key of a project's retraining settings in the project-settings table.
RETRAINING_SORT_KEY = "RETRAINING"


class RetrainingFields:
    """Attributes of a project's ``RETRAINING`` item: what its team sets, and what the monitoring loop writes."""

    ENABLED = "enabled"  # boolean: start the pipeline when a Model Monitor violation alarm fires
    PIPELINE_NAME = "pipeline_name"  # optional: <project>-dev-training (default) or <project>-feature-training
    PIPELINE_PARAMETERS = "pipeline_parameters"  # optional map of pipeline parameter name -> string value
    COOLDOWN_HOURS = "cooldown_hours"  # optional: overrides the platform's operations.retraining_cooldown_hours
    LAST_STARTED_AT = "last_started_at"  # written by the monitoring loop: ISO time of the last start
    LAST_EVENT_ID = "last_event_id"  # written by the monitoring loop: the alarm event that started it
    LAST_EXECUTION_ARN = "last_execution_arn"  # written by the monitoring loop


#: How a project stage serves its model: an instance-backed, serverless or asynchronous endpoint (the
#: endpoint template), or scheduled batch transforms (the batch template). Both stacks are the stage's
#: ``<project>-<stage>-endpoint`` stack, so every handler follows any kind the same way.
DEPLOYMENT_KINDS = ("realtime", "serverless", "async", "batch")
ENDPOINT_KINDS = ("realtime", "serverless", "async")
#: Sort key of a project's deployment settings in the project-settings table: they choose the kind
#: over the platform's per-stage ``deployment_kind`` (``endpoint_overrides``).
DEPLOYMENT_SORT_KEY = "DEPLOYMENT"


class DeploymentFields:
    """Attributes of a project's ``DEPLOYMENT`` item; a stage's entry in ``stages`` wins over ``kind``."""

    KIND = "kind"  # optional: one of DEPLOYMENT_KINDS, for every stage
    STAGES = "stages"  # optional map of stage -> one of DEPLOYMENT_KINDS


#: Stages whose project template trains (``<project>-<stage>-training``, see the tabular-xgboost template).
TRAINING_STAGES = ("feature", "dev")


def training_pipeline_name(project: str, stage: str = "dev") -> str:
    """The SageMaker pipeline a project's template creates for a branch stage (``churn-dev-training``)."""
    return f"{project}-{stage}-training"


#: Suffix of the Model Monitor violation alarms (``<endpoint>-<kind>-violations``): the alarms that
#: can start retraining, unlike the endpoint's error and latency alarms.
VIOLATIONS_ALARM_SUFFIX = "-violations"

#: Stages whose versions wait for the model approver (feature versions the data scientists approve).
APPROVER_STAGES = ("dev", "prod", "champion", "challenger")
#: The kinds of notification the notifier sends (the ``kind`` message attribute).
NOTIFY_APPROVAL_PENDING = "approval-pending"
NOTIFY_PIPELINE_FAILED = "pipeline-failed"
NOTIFY_BUILD_FAILED = "build-failed"
#: Suffix of the alarm that scales an asynchronous endpoint out from zero instances: an autoscaling
#: signal, forwarded like every endpoint alarm but nothing to tell a team about.
SCALE_OUT_FROM_ZERO_ALARM_SUFFIX = "-backlog-without-capacity"

#: SNS message attributes every platform alert carries when it concerns a project: teams subscribe to
#: the alert topic with a filter policy on them (``kind`` on the notifier's notifications).
ALERT_ATTRIBUTES = ("project", "stage", "account", "kind")


#: Suffixes of an endpoint variant's rollback alarms: 5xx errors, model latency.
ALARM_SUFFIXES = ("-5xx-errors", "-model-latency")
#: Infix of the challenger variant's alarms on the champion's endpoint (shadow and split modes):
#: ``<project>-champion-endpoint-challenger-5xx-errors``.
CHALLENGER_ALARM_INFIX = "-challenger"


def variant_alarm_names(endpoint_name: str, infix: str = "") -> tuple[str, str]:
    """The 5xx-error and model-latency alarms of a variant of the endpoint ``endpoint_name`` (a template's
    parameter or a deployment's name): ``<endpoint><infix>-5xx-errors``, ``<endpoint><infix>-model-latency``."""
    errors, latency = (f"{endpoint_name}{infix}{suffix}" for suffix in ALARM_SUFFIXES)
    return errors, latency


def alarm_names(deployment: Deployment) -> tuple[str, str]:
    """The endpoint's 5xx-error and model-latency alarms: blue/green auto-rollback and CloudFormation
    rollback triggers both watch them."""
    return variant_alarm_names(deployment.endpoint_name)


def challenger_alarm_names(deployment: Deployment) -> tuple[str, str]:
    """The 5xx-error and model-latency alarms of the challenger variant on ``deployment``'s endpoint (the
    champion's): rollback triggers of a challenger's rollout only, never of the champion's."""
    return variant_alarm_names(deployment.endpoint_name, CHALLENGER_ALARM_INFIX)


#: Integration test cases of a project: items of the project-settings table with the project's
#: partition key and the sort key ``TEST_CASE#<name>``. The tester runs them against every endpoint
#: the project's stages deploy; only the test stage's result gates prod.
TEST_CASE_PREFIX = "TEST_CASE#"
#: A test case name: letters, digits, ``.``, ``_`` and ``-``, at most 64 characters.
TEST_CASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def test_case_sort_key(name: str) -> str:
    """Sort key of a project's test case in the project-settings table."""
    return f"{TEST_CASE_PREFIX}{name}"


class TestCaseFields:
    """Attributes of a test-case item (see ``integration_tester/cases.py`` for their meaning)."""

    __test__ = False  # not a pytest test class

    PAYLOAD = "payload"  # the request body, a string (CSV line, JSON document)
    CONTENT_TYPE = "content_type"
    ACCEPT = "accept"  # optional
    STAGES = "stages"  # optional list of stages; all stages when absent
    EXPECTED_STATUS = "expected_status"  # default 200; a 4xx the model must answer with is allowed
    LATENCY_BUDGET_MS = "latency_budget_ms"
    OUTPUT = "output"  # optional map: format (csv | json), count, minimum, maximum, pattern


class ProjectParameters:
    """What SageMaker Projects passes the project product's template, and what the template passes on
    to the project-template custom resource (``stacks/projects.py``, ``project_template.handler``)."""

    PROJECT_NAME = "SageMakerProjectName"  # CloudFormation parameters SageMaker fills in
    PROJECT_ID = "SageMakerProjectId"
    RESOURCE_TYPE = "Custom::ProjectTemplate"
    NAME_PROPERTY = "ProjectName"  # properties of the custom resource
    ID_PROPERTY = "ProjectId"
    #: GitHub only: the repository's Actions variables the workflow reads (name -> value).
    VARIABLES_PROPERTY = "RepositoryVariables"


#: Tags SageMaker uses to attribute resources to a project (and Studio to list them under it).
TAG_SAGEMAKER_PROJECT_NAME = "sagemaker:project-name"
TAG_SAGEMAKER_PROJECT_ID = "sagemaker:project-id"
#: Branches of a project's repository: ``prod`` is seeded from the template, ``dev`` starts from it.
PROD_BRANCH = "prod"
DEV_BRANCH = "dev"
#: Work branches: a push to ``feature-<anything>`` trains into ``<project>-feature``.
FEATURE_BRANCH_PREFIX = "feature-"
#: A project's CodeBuild project is ``<project>-ci`` (its build failures are recognised by this suffix).
CI_PROJECT_SUFFIX = "-ci"
#: The roles a project's stack creates, ``<project><suffix>`` under the platform's project role path.
PIPELINE_ROLE_SUFFIX = "-pipeline"
CI_ROLE_SUFFIX = "-ci"
CI_TRIGGER_ROLE_SUFFIX = "-ci-trigger"


#: The stage whose approvals are promotions of a challenger, and the stage that serves challengers.
CHAMPION_STAGE = "champion"
CHALLENGER_STAGE = "challenger"


class ComparisonFields:
    """Attributes of a champion/challenger comparison in the ledger (``PACKAGE#<dev package>`` / ``COMPARISON#``)."""

    PROJECT = "project"
    SOURCE_PACKAGE_ARN = "source_package_arn"  # the tested dev package both the challenger and its promotion copy
    CHAMPION_PACKAGE_ARN = "champion_package_arn"  # the champion it was compared with
    CHALLENGER_PACKAGE_ARN = "challenger_package_arn"
    MODE = "evaluation_mode"  # shadow | split | separate
    VERDICT = "verdict"  # BETTER_OR_EQUAL | WORSE | INSUFFICIENT_EVIDENCE
    REASONS = "reasons"
    NUMBERS = "numbers"  # per variant: requests, error rate, latency, labelled, metric; paired, agreement
    WINDOW_START = "window_start"
    WINDOW_END = "window_end"
    EVALUATED_AT = "evaluated_at"


class ChallengerParameters:
    """Parameters the champion/challenger endpoint template adds to ``EndpointParameters``
    (``stacks/champion_challenger_endpoint.py``): the challenger's served model and the evaluation mode."""

    EVALUATION_MODE = "EvaluationMode"  # SHADOW | SPLIT (SEPARATE deploys two endpoint templates instead)
    MODEL_PACKAGE_ARN = "ChallengerModelPackageArn"
    MODEL_DATA_KEY = "ChallengerModelDataKey"
    IMAGE = "ChallengerImage"
    CHAMPION_WEIGHT = "ChampionVariantWeight"  # split mode: live traffic in proportion to the two weights
    CHALLENGER_WEIGHT = "ChallengerVariantWeight"
    #: ``true`` when the change set rolls out a challenger: its alarms join the blue/green auto-rollback
    #: (``false`` on the champion's deployments, which the challenger's alarms never roll back).
    ROLLOUT = "ChallengerRollout"

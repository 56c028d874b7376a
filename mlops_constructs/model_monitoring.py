"""Model Monitor schedules on an endpoint's captured traffic, and an alarm on each schedule's violations.

Every monitor is a job definition (what to analyse against which baseline) and a monitoring schedule
(when), both built from CloudFormation parameters. Job definitions cannot be changed in place, so
they are named per deployment (``<EndpointName>-<DeploymentId>-<kind>``) and replaced on each
promotion; schedules keep their name (``<EndpointName>-<kind name>``) and switch to the new definition.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, CfnCondition, CfnMapping, Fn, Token
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from lambdas.contract import VIOLATIONS_ALARM_SUFFIX

#: Registry accounts of the prebuilt images by commercial region: (Model Monitor analyzer, Clarify).
#: Source: the SageMaker Python SDK's image_uri_config, sagemaker-core/src/sagemaker/core/
#: image_uri_config/model-monitor.json and clarify.json (aws/sagemaker-python-sdk@a24812666d25);
#: the Model Monitor accounts match the table in the SageMaker developer guide, "Amazon SageMaker
#: Model Monitor prebuilt container". Regions without both images (eu-south-2, il-central-1,
#: me-central-1 have no Clarify image) are left out: a deployment there fails at the change set.
MONITORING_IMAGE_REGISTRIES = {
    "af-south-1": ("875698925577", "811711786498"),
    "ap-east-1": ("001633400207", "098760798382"),
    "ap-northeast-1": ("574779866223", "377024640650"),
    "ap-northeast-2": ("709848358524", "263625296855"),
    "ap-northeast-3": ("990339680094", "912233562940"),
    "ap-south-1": ("126357580389", "452307495513"),
    "ap-southeast-1": ("245545462676", "834264404009"),
    "ap-southeast-2": ("563025443158", "007051062584"),
    "ap-southeast-3": ("669540362728", "705930551576"),
    "ca-central-1": ("536280801234", "675030665977"),
    "eu-central-1": ("048819808253", "017069133835"),
    "eu-central-2": ("590183933784", "730335477804"),
    "eu-north-1": ("895015795356", "763603941244"),
    "eu-south-1": ("933208885752", "638885417683"),
    "eu-west-1": ("468650794304", "131013547314"),
    "eu-west-2": ("749857270468", "440796970383"),
    "eu-west-3": ("680080141114", "341593696636"),
    "me-south-1": ("607024016150", "835444307964"),
    "sa-east-1": ("539772159869", "520018980103"),
    "us-east-1": ("156813124566", "205585389593"),
    "us-east-2": ("777275614652", "211330385671"),
    "us-west-1": ("890145073186", "740489534195"),
    "us-west-2": ("159807026194", "306415355426"),
}
#: Name of the mapping in the template (region -> ModelMonitor / Clarify registry account).
MAPPING_NAME = "MonitoringImageRegistries"
#: Repositories (and tag) of the two images, as the SDK builds their URIs.
MODEL_MONITOR_REPOSITORY = "sagemaker-model-monitor-analyzer"
CLARIFY_REPOSITORY = "sagemaker-clarify-processing:1.0"
#: Where the monitoring container reads captured requests and writes its reports (the SDK's paths).
ENDPOINT_INPUT_PATH = "/opt/ml/processing/input/endpoint"
OUTPUT_PATH = "/opt/ml/processing/output"
#: Hourly schedules allow runs of at most an hour.
MAX_RUNTIME_SECONDS = 3600
#: Per-feature and per-metric values the analysers publish to CloudWatch (``aws/sagemaker/Endpoints/
#: data-metrics``, ``model-metrics``, ``bias-metrics``, ``explainability-metrics``): useful to see
#: which feature drifted, billed as custom metrics. The SDK enables it by default too.
PUBLISH_METRICS = {"publish_cloudwatch_metrics": "Enabled"}


@dataclass(frozen=True)
class MonitorKind:
    """One of SageMaker's four monitoring types and the names the platform gives it."""

    monitoring_type: str
    """``MonitoringType`` of the schedule."""
    name: str
    """Suffix of the schedule and alarm names and of the output prefix."""
    abbreviation: str
    """Suffix of the per-deployment job definition name (three characters at most fit in 63)."""


DATA_QUALITY = MonitorKind("DataQuality", "data-quality", "dq")
MODEL_QUALITY = MonitorKind("ModelQuality", "model-quality", "mq")
MODEL_BIAS = MonitorKind("ModelBias", "model-bias", "mb")
MODEL_EXPLAINABILITY = MonitorKind("ModelExplainability", "explainability", "me")


class MonitoringImages(Construct):
    """The prebuilt Model Monitor and Clarify image URIs for the region the template is deployed in."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.mapping = CfnMapping(
            self,
            "Registries",
            mapping={
                region: {"ModelMonitor": model_monitor, "Clarify": clarify}
                for region, (model_monitor, clarify) in MONITORING_IMAGE_REGISTRIES.items()
            },
        )
        self.mapping.override_logical_id(MAPPING_NAME)
        self.model_monitor = self._image("ModelMonitor", MODEL_MONITOR_REPOSITORY)
        self.clarify = self._image("Clarify", CLARIFY_REPOSITORY)

    def _image(self, registry: str, repository: str) -> str:
        account = self.mapping.find_in_map(Aws.REGION, registry)
        return f"{account}.dkr.ecr.{Aws.REGION}.{Aws.URL_SUFFIX}/{repository}"


@dataclass(frozen=True)
class MonitoredEndpoint:
    """The endpoint to monitor and what its monitoring jobs run with, as template parameters."""

    endpoint_name: str
    deployment_id: str
    role_arn: str
    kms_key_arn: str
    output_bucket: str
    instance_type: str
    schedule_expression: str
    inference_attribute: str
    """Where the prediction is in the endpoint's output, or ``AWS::NoValue``."""
    probability_attribute: str
    """Where the probability is in the endpoint's output, or ``AWS::NoValue``."""
    probability_threshold: float
    """Above it a probability is the positive label (with ``probability_attribute`` only)."""
    batch_capture_uri: str | None = None
    """Batch kind: where the transform jobs capture their data (``DataCaptureConfig``); the monitors read
    it (``BatchTransformInput``) instead of an endpoint's capture, and no endpoint is named."""

    def job_definition_name(self, kind: MonitorKind) -> str:
        return f"{self.endpoint_name}-{self.deployment_id}-{kind.abbreviation}"

    def schedule_name(self, kind: MonitorKind) -> str:
        return f"{self.endpoint_name}-{kind.name}"


class MonitoringJobDefinitions(Construct):
    """Builds the job definitions of the four monitor kinds, sharing what they have in common.

    The four CloudFormation types differ in their top-level property names but share the shape of
    their inputs, outputs and resources, so the shared parts are built for whichever type is given.
    Every job runs on one instance with its volume and its output encrypted with the target's key,
    and writes to ``s3://<data-capture bucket>/<EndpointName>/monitoring/<kind name>``.

    The jobs run network isolated (no call in or out of the container; SageMaker itself brings the
    captured traffic, baselines and ground truth in and the reports out), except explainability: to
    compute SHAP values Clarify invokes the model on perturbed records through a shadow endpoint it
    creates from the analysis configuration's ``predictor``, calls to the SageMaker API made from
    inside the container (the SageMaker developer guide, "Give SageMaker Clarify jobs access to
    resources in your VPC", asks for network isolation to be off for jobs that get inferences). Data
    quality, model quality and bias only read the captured requests and predictions (the bias
    monitor's analysis configuration has no predictor), so they need no network.
    """

    def __init__(self, scope: Construct, construct_id: str, *, endpoint: MonitoredEndpoint) -> None:
        super().__init__(scope, construct_id)
        self.endpoint = endpoint
        self.images = MonitoringImages(self, "Images")

    def data_quality(self, *, statistics_uri: str, constraints_uri: str) -> sagemaker.CfnDataQualityJobDefinition:
        """Feature statistics of the captured requests against the training baseline."""
        job = sagemaker.CfnDataQualityJobDefinition
        return job(
            self,
            "DataQuality",
            job_definition_name=self.endpoint.job_definition_name(DATA_QUALITY),
            data_quality_app_specification=job.DataQualityAppSpecificationProperty(
                image_uri=self.images.model_monitor, environment=PUBLISH_METRICS
            ),
            data_quality_baseline_config=job.DataQualityBaselineConfigProperty(
                statistics_resource=job.StatisticsResourceProperty(s3_uri=statistics_uri),
                constraints_resource=job.ConstraintsResourceProperty(s3_uri=constraints_uri),
            ),
            data_quality_job_input=job.DataQualityJobInputProperty(**self._captured_input(job)),
            data_quality_job_output_config=self._output_config(job, DATA_QUALITY),
            **self._common(job),
        )

    def model_quality(
        self, *, problem_type: str, ground_truth_uri: str, constraints_uri: str
    ) -> sagemaker.CfnModelQualityJobDefinition:
        """Predictions merged with ground truth labels, scored against the evaluation baseline."""
        job = sagemaker.CfnModelQualityJobDefinition
        return job(
            self,
            "ModelQuality",
            job_definition_name=self.endpoint.job_definition_name(MODEL_QUALITY),
            model_quality_app_specification=job.ModelQualityAppSpecificationProperty(
                image_uri=self.images.model_monitor, problem_type=problem_type, environment=PUBLISH_METRICS
            ),
            model_quality_baseline_config=job.ModelQualityBaselineConfigProperty(
                constraints_resource=job.ConstraintsResourceProperty(s3_uri=constraints_uri)
            ),
            model_quality_job_input=job.ModelQualityJobInputProperty(
                endpoint_input=self._endpoint_input(job, predictions=True, labels=True),
                ground_truth_s3_input=job.MonitoringGroundTruthS3InputProperty(s3_uri=ground_truth_uri),
            ),
            model_quality_job_output_config=self._output_config(job, MODEL_QUALITY),
            **self._common(job),
        )

    def model_bias(
        self, *, config_uri: str, ground_truth_uri: str, constraints_uri: str
    ) -> sagemaker.CfnModelBiasJobDefinition:
        """Clarify's bias metrics of predictions and labels against the bias baseline."""
        job = sagemaker.CfnModelBiasJobDefinition
        return job(
            self,
            "ModelBias",
            job_definition_name=self.endpoint.job_definition_name(MODEL_BIAS),
            model_bias_app_specification=job.ModelBiasAppSpecificationProperty(
                image_uri=self.images.clarify, config_uri=config_uri, environment=PUBLISH_METRICS
            ),
            model_bias_baseline_config=job.ModelBiasBaselineConfigProperty(
                constraints_resource=job.ConstraintsResourceProperty(s3_uri=constraints_uri)
            ),
            model_bias_job_input=job.ModelBiasJobInputProperty(
                endpoint_input=self._endpoint_input(job, predictions=True, labels=True),
                ground_truth_s3_input=job.MonitoringGroundTruthS3InputProperty(s3_uri=ground_truth_uri),
            ),
            model_bias_job_output_config=self._output_config(job, MODEL_BIAS),
            **self._common(job),
        )

    def model_explainability(
        self, *, config_uri: str, constraints_uri: str
    ) -> sagemaker.CfnModelExplainabilityJobDefinition:
        """Clarify's feature attributions (SHAP) of the captured traffic against the baseline."""
        job = sagemaker.CfnModelExplainabilityJobDefinition
        return job(
            self,
            "ModelExplainability",
            job_definition_name=self.endpoint.job_definition_name(MODEL_EXPLAINABILITY),
            model_explainability_app_specification=job.ModelExplainabilityAppSpecificationProperty(
                image_uri=self.images.clarify, config_uri=config_uri, environment=PUBLISH_METRICS
            ),
            model_explainability_baseline_config=job.ModelExplainabilityBaselineConfigProperty(
                constraints_resource=job.ConstraintsResourceProperty(s3_uri=constraints_uri)
            ),
            model_explainability_job_input=job.ModelExplainabilityJobInputProperty(
                endpoint_input=self._endpoint_input(job, predictions=True)
            ),
            model_explainability_job_output_config=self._output_config(job, MODEL_EXPLAINABILITY),
            **self._common(job, network_isolated=False),
        )

    def _captured_input(self, job) -> dict:
        """The endpoint's captured traffic, or the batch transforms' captured records (CSV, no header)."""
        if self.endpoint.batch_capture_uri is None:
            return {"endpoint_input": self._endpoint_input(job)}
        return {
            "batch_transform_input": job.BatchTransformInputProperty(
                data_captured_destination_s3_uri=self.endpoint.batch_capture_uri,
                dataset_format=job.DatasetFormatProperty(csv=job.CsvProperty(header=False)),
                local_path=ENDPOINT_INPUT_PATH,
            )
        }

    def _endpoint_input(self, job, *, predictions: bool = False, labels: bool = False):
        """The endpoint's captured traffic; with ``predictions``, where to find them in its output; with
        ``labels`` (jobs comparing predictions with ground truth), how a probability becomes a label."""
        attributes = {}
        if predictions:
            attributes["inference_attribute"] = self.endpoint.inference_attribute
            attributes["probability_attribute"] = self.endpoint.probability_attribute
        if labels:
            attributes["probability_threshold_attribute"] = self.endpoint.probability_threshold
        return job.EndpointInputProperty(
            endpoint_name=self.endpoint.endpoint_name,
            local_path=ENDPOINT_INPUT_PATH,
            s3_input_mode="File",
            s3_data_distribution_type="FullyReplicated",
            **attributes,
        )

    def _output_config(self, job, kind: MonitorKind):
        return job.MonitoringOutputConfigProperty(
            kms_key_id=self.endpoint.kms_key_arn,
            monitoring_outputs=[
                job.MonitoringOutputProperty(
                    s3_output=job.S3OutputProperty(
                        s3_uri=f"s3://{self.endpoint.output_bucket}/{self.endpoint.endpoint_name}/monitoring/{kind.name}",
                        local_path=OUTPUT_PATH,
                        s3_upload_mode="EndOfJob",
                    )
                )
            ],
        )

    def _common(self, job, *, network_isolated: bool = True) -> dict:
        """Role, resources, network isolation and time limit, the same for every kind but explainability."""
        return {
            "role_arn": self.endpoint.role_arn,
            "network_config": job.NetworkConfigProperty(enable_network_isolation=network_isolated),
            "job_resources": job.MonitoringResourcesProperty(
                cluster_config=job.ClusterConfigProperty(
                    instance_count=1,
                    instance_type=self.endpoint.instance_type,
                    volume_size_in_gb=20,
                    volume_kms_key_id=self.endpoint.kms_key_arn,
                )
            ),
            "stopping_condition": job.StoppingConditionProperty(max_runtime_in_seconds=MAX_RUNTIME_SECONDS),
        }


class ScheduledMonitor(Construct):
    """A monitoring schedule for one job definition, and an alarm that fires when a run finds violations.

    Model Monitor has no CloudWatch metric that counts violations: what it publishes (with
    ``publish_cloudwatch_metrics``) are the monitored values themselves, one metric per feature or
    model metric (``feature_baseline_drift_<feature>`` in ``aws/sagemaker/Endpoints/data-metrics``,
    ``accuracy`` or ``mse`` in ``model-metrics``, ``bias_metric_<metric>`` with label and facet
    dimensions...), whose names and thresholds depend on the model and its baseline. What every
    monitor does report is the outcome of each run: its processing job ends with the exit message
    ``CompletedWithViolations: ...`` (the execution status Model Monitor shows), and SageMaker sends
    a ``SageMaker Processing Job State Change`` event whose detail is the job's description, with its
    ``ExitMessage`` and ``MonitoringScheduleArn``. So an EventBridge rule matches this schedule's runs
    that found violations, and the alarm watches the rule's ``MatchedEvents`` metric (``AWS/Events``,
    dimension ``RuleName``): it goes to ALARM within five minutes of such a run and back to OK after,
    one alarm state change per violating run, which is what the target account forwards to dev.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        kind: MonitorKind,
        endpoint: MonitoredEndpoint,
        job_definition: sagemaker.CfnDataQualityJobDefinition
        | sagemaker.CfnModelQualityJobDefinition
        | sagemaker.CfnModelBiasJobDefinition
        | sagemaker.CfnModelExplainabilityJobDefinition,
        condition: CfnCondition,
    ) -> None:
        super().__init__(scope, construct_id)
        self.schedule = sagemaker.CfnMonitoringSchedule(
            self,
            "Schedule",
            monitoring_schedule_name=endpoint.schedule_name(kind),
            endpoint_name=endpoint.endpoint_name if endpoint.batch_capture_uri is None else None,
            monitoring_schedule_config=sagemaker.CfnMonitoringSchedule.MonitoringScheduleConfigProperty(
                monitoring_job_definition_name=endpoint.job_definition_name(kind),
                monitoring_type=kind.monitoring_type,
                schedule_config=sagemaker.CfnMonitoringSchedule.ScheduleConfigProperty(
                    schedule_expression=endpoint.schedule_expression
                ),
            ),
        )
        self.schedule.add_resource_dependency(job_definition)
        self.violations = events.CfnRule(
            self,
            "Violations",
            description=f"Runs of the {kind.name} schedule that found violations",
            event_pattern={
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Processing Job State Change"],
                "detail": {
                    "MonitoringScheduleArn": [self.schedule.attr_monitoring_schedule_arn],
                    "ExitMessage": [{"prefix": "CompletedWithViolations"}],
                },
            },
            state="ENABLED",
        )
        self.alarm = matched_events_alarm(
            self,
            "ViolationsAlarm",
            rule=self.violations,
            alarm_name=f"{endpoint.endpoint_name}-{kind.name}{VIOLATIONS_ALARM_SUFFIX}",
            description=f"A {kind.name} monitoring run found violations of the baseline constraints",
        )
        for resource in (job_definition, self.schedule, self.violations, self.alarm):
            resource.cfn_options.condition = condition


def matched_events_alarm(
    scope: Construct, construct_id: str, *, rule: events.CfnRule, alarm_name: str, description: str
) -> cloudwatch.CfnAlarm:
    """An alarm that fires within five minutes of an event ``rule`` matched (``AWS/Events`` ``MatchedEvents``)
    and returns to OK after: one alarm state change per matching event, which the target forwards to dev."""
    return cloudwatch.CfnAlarm(
        scope,
        construct_id,
        alarm_name=alarm_name,
        alarm_description=description,
        namespace="AWS/Events",
        metric_name="MatchedEvents",
        dimensions=[cloudwatch.CfnAlarm.DimensionProperty(name="RuleName", value=rule.ref)],
        statistic="Sum",
        period=300,
        evaluation_periods=1,
        threshold=1,
        comparison_operator="GreaterThanOrEqualToThreshold",
        treat_missing_data="notBreaching",
        actions_enabled=True,
    )


def attribute_or_nothing(condition: CfnCondition, value: str) -> str:
    """``value`` where ``condition`` holds, otherwise the property is left out."""
    return Token.as_string(Fn.condition_if(condition.logical_id, value, Aws.NO_VALUE))

"""Deployed by the promoter into a stage's account for the batch kind: scheduled transforms of one project."""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnCondition, CfnOutput, CfnParameter, Fn, Token
from aws_cdk import aws_events as events
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from lambdas.contract import (
    BATCH_FAILURES_ALARM_SUFFIX,
    BATCH_INPUT_URI,
    BATCH_OUTPUT_PREFIX,
    BATCH_RESOURCE_SUFFIX,
    SSM_BATCH_SCHEDULER_ROLE_ARN,
    BatchParameters,
    batch_prefix,
)
from mlops_constructs.deployable_template import OPTIONAL_S3_URI_PATTERN, DeployableTemplateStack
from mlops_constructs.endpoint import network_isolated_model
from mlops_constructs.model_monitoring import (
    DATA_QUALITY,
    MonitoredEndpoint,
    MonitoringJobDefinitions,
    ScheduledMonitor,
    matched_events_alarm,
)
from platform_config import EBS_ONLY_INSTANCE_TYPE_PATTERN, EndpointDefaults

#: The pipeline's one step, and the execution variable that makes each run's output prefix unique.
TRANSFORM_STEP = "Transform"
EXECUTION_ID = {"Get": "Execution.PipelineExecutionId"}

#: Model Monitor checks the captured batch records hourly (the latest captures since the last run).
MONITOR_SCHEDULE = "cron(0 * ? * * *)"


class BatchTransformStack(DeployableTemplateStack):
    """The batch template: the approved model scoring ``input/`` into ``output/`` on a schedule.

    Stack ``<project>-<stage>-endpoint`` like the endpoint template (every handler follows a stage's
    stack by that name); its resources are named after ``EndpointName`` although no endpoint exists.

    - the model: the promoter's verified copy, network isolated, named ``<EndpointName>-<DeploymentId>``;
    - a SageMaker pipeline ``<EndpointName>-batch`` of one transform step over
      ``s3://<data-capture bucket>/<EndpointName>/batch/input/`` (CSV, a record a line) writing to
      ``.../batch/output/<pipeline execution id>/``, volumes and output encrypted with the target's
      key, data capture to ``.../batch/capture/`` for Model Monitor. A pipeline rather than a direct
      ``CreateTransformJob`` from the scheduler: every run gets a unique job name and output prefix
      (a scheduler target cannot generate a valid job name), and SageMaker records each run;
    - an EventBridge Scheduler schedule starting the pipeline (``BatchScheduleExpression``), as the
      target's scheduler role (SSM), which may only start the platform's batch pipelines;
    - ``<EndpointName>-batch-failures``: a rule matching this pipeline's failed runs and an alarm on it,
      which the target forwards to dev like every endpoint alarm (the monitoring loop tells the team);
    - with data-quality baselines given, an hourly data-quality schedule over the captured records
      (``BatchTransformInput``) with its violations alarm.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, prefix: str, defaults: EndpointDefaults, **kwargs
    ) -> None:
        super().__init__(scope, construct_id, prefix=prefix, **kwargs)
        endpoint_name = self.endpoint_name_parameter(BatchParameters.ENDPOINT_NAME).value_as_string
        deployment_id = self.deployment_id_parameter(BatchParameters.DEPLOYMENT_ID).value_as_string
        served = self.served_model_parameters(prefix)
        instance_type = CfnParameter(
            self,
            BatchParameters.INSTANCE_TYPE,
            default=defaults.instance_type,
            allowed_pattern=EBS_ONLY_INSTANCE_TYPE_PATTERN,
            constraint_description="must be an instance type with EBS storage only (volumes are KMS-encrypted)",
            description="Instance type of the transform jobs and the monitoring job",
        ).value_as_string
        instance_count = CfnParameter(
            self,
            BatchParameters.INSTANCE_COUNT,
            type="Number",
            default=defaults.instance_count,
            min_value=1,
            max_value=20,
            description="Instances of each transform job",
        ).value_as_number
        schedule_expression = CfnParameter(
            self,
            BatchParameters.SCHEDULE_EXPRESSION,
            default=defaults.batch_schedule,
            allowed_pattern=r"^(cron\([^)]+\)|rate\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\))$",
            description="When the transform runs: an EventBridge Scheduler expression, in UTC",
        ).value_as_string
        statistics_uri, constraints_uri = (
            CfnParameter(
                self,
                name,
                default="",
                allowed_pattern=OPTIONAL_S3_URI_PATTERN,
                description="Data-quality baseline of the package; empty: no Model Monitor schedule",
            ).value_as_string
            for name in (BatchParameters.DATA_QUALITY_STATISTICS_URI, BatchParameters.DATA_QUALITY_CONSTRAINTS_URI)
        )
        scheduler_role_arn = self._target_parameter(
            "BatchSchedulerRoleArn",
            prefix,
            SSM_BATCH_SCHEDULER_ROLE_ARN,
            "Role the schedule starts the pipeline with, resolved from the deployment target's SSM parameter",
        )

        model = network_isolated_model(
            self,
            "Model",
            name=f"{endpoint_name}-{deployment_id}",
            execution_role_arn=self.execution_role_arn,
            image=served.image,
            model_data_url=served.model_data_url,
            model_package_arn=served.package_arn,
        )
        location = f"s3://{self.data_capture_bucket}/{batch_prefix(endpoint_name)}"
        pipeline_name = f"{endpoint_name}{BATCH_RESOURCE_SUFFIX}"
        self.pipeline = sagemaker.CfnPipeline(
            self,
            "Pipeline",
            pipeline_name=pipeline_name,
            pipeline_description="Scores the stage's batch input with its approved model",
            role_arn=self.execution_role_arn,
            pipeline_definition={
                "PipelineDefinitionBody": self.to_json_string(
                    pipeline_definition(
                        transform_request(
                            model_name=model.attr_model_name,
                            location=location,
                            kms_key_arn=self.kms_key_arn,
                            instance_type=instance_type,
                            instance_count=instance_count,
                        ),
                        location,
                    )
                )
            },
        )
        pipeline_arn = f"arn:{Aws.PARTITION}:sagemaker:{Aws.REGION}:{Aws.ACCOUNT_ID}:pipeline/{pipeline_name}"
        schedule = scheduler.CfnSchedule(
            self,
            "Schedule",
            name=pipeline_name,
            description="Starts the stage's batch transform pipeline",
            schedule_expression=schedule_expression,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=pipeline_arn,
                role_arn=scheduler_role_arn,
                sage_maker_pipeline_parameters=scheduler.CfnSchedule.SageMakerPipelineParametersProperty(
                    pipeline_parameter_list=[]
                ),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=3, maximum_event_age_in_seconds=3600
                ),
            ),
        )
        schedule.add_resource_dependency(self.pipeline)
        failed_runs = events.CfnRule(
            self,
            "FailedRuns",
            name=f"{endpoint_name}{BATCH_FAILURES_ALARM_SUFFIX}",
            description="Runs of the stage's batch transform pipeline that failed",
            event_pattern={
                "source": ["aws.sagemaker"],
                "detail-type": ["SageMaker Model Building Pipeline Execution Status Change"],
                "detail": {"pipelineArn": [pipeline_arn], "currentPipelineExecutionStatus": ["Failed"]},
            },
            state="ENABLED",
        )
        self.failures_alarm = matched_events_alarm(
            self,
            "FailedRunsAlarm",
            rule=failed_runs,
            alarm_name=f"{endpoint_name}{BATCH_FAILURES_ALARM_SUFFIX}",
            description="A batch transform run failed: its output is missing",
        )
        self._data_quality_monitor(
            endpoint_name, deployment_id, instance_type, location, statistics_uri, constraints_uri
        )

        CfnOutput(self, "PipelineName", value=pipeline_name)
        CfnOutput(self, "ModelName", value=model.attr_model_name)
        CfnOutput(self, "FailuresAlarmName", value=self.failures_alarm.ref)

    def _data_quality_monitor(
        self, endpoint_name, deployment_id, instance_type, location, statistics_uri, constraints_uri
    ) -> None:
        monitored = MonitoredEndpoint(
            endpoint_name=endpoint_name,
            deployment_id=deployment_id,
            role_arn=self.execution_role_arn,
            kms_key_arn=self.kms_key_arn,
            output_bucket=self.data_capture_bucket,
            instance_type=instance_type,
            schedule_expression=MONITOR_SCHEDULE,
            inference_attribute=Aws.NO_VALUE,
            probability_attribute=Aws.NO_VALUE,
            probability_threshold=Token.as_number(Aws.NO_VALUE),
            batch_capture_uri=f"{location}capture/",
        )
        jobs = MonitoringJobDefinitions(self, "JobDefinitions", endpoint=monitored)
        ScheduledMonitor(
            self,
            "DataQuality",
            kind=DATA_QUALITY,
            endpoint=monitored,
            job_definition=jobs.data_quality(statistics_uri=statistics_uri, constraints_uri=constraints_uri),
            condition=CfnCondition(
                self,
                "MonitorsDataQuality",
                expression=Fn.condition_and(
                    Fn.condition_not(Fn.condition_equals(statistics_uri, "")),
                    Fn.condition_not(Fn.condition_equals(constraints_uri, "")),
                ),
            ),
        )


def transform_request(
    *, model_name: str, location: str, kms_key_arn: str, instance_type: str, instance_count
) -> dict[str, Any]:
    """The transform step's ``CreateTransformJob`` arguments (the pipeline names the job)."""
    return {
        "ModelName": model_name,
        "BatchStrategy": "MultiRecord",
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": {"Get": f"Parameters.{BATCH_INPUT_URI}"}}
            },
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {
            "S3OutputPath": {
                "Std:Join": {"On": "", "Values": [{"Get": f"Parameters.{BATCH_OUTPUT_PREFIX}"}, EXECUTION_ID]}
            },
            "Accept": "text/csv",
            "AssembleWith": "Line",
            "KmsKeyId": kms_key_arn,
        },
        "TransformResources": {
            "InstanceType": instance_type,
            "InstanceCount": instance_count,
            "VolumeKmsKeyId": kms_key_arn,
        },
        "DataCaptureConfig": {
            "DestinationS3Uri": f"{location}capture/",
            "KmsKeyId": kms_key_arn,
            "GenerateInferenceId": True,
        },
    }


def pipeline_definition(transform: dict[str, Any], location: str) -> dict[str, Any]:
    """A SageMaker pipeline definition (schema 2020-12-01) of one transform step, reading ``input/`` and
    writing ``output/`` of ``location`` unless a run passes other prefixes (the scheduled runs take
    these defaults; the integration tester's smoke run passes ``contract.batch_smoke_prefix``'s)."""
    return {
        "Version": "2020-12-01",
        "Metadata": {},
        "Parameters": [
            {"Name": BATCH_INPUT_URI, "Type": "String", "DefaultValue": f"{location}input/"},
            {"Name": BATCH_OUTPUT_PREFIX, "Type": "String", "DefaultValue": f"{location}output/"},
        ],
        "Steps": [{"Name": TRANSFORM_STEP, "Type": "Transform", "Arguments": transform}],
    }


def parameter_values(settings: EndpointDefaults) -> dict[str, str]:
    """The batch template parameters a stage's settings translate to (the rest are set per deployment)."""
    return {
        BatchParameters.INSTANCE_TYPE: settings.instance_type,
        BatchParameters.INSTANCE_COUNT: str(settings.instance_count),
        BatchParameters.SCHEDULE_EXPRESSION: settings.batch_schedule,
    }

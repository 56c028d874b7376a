"""Deployed by the promoter next to an endpoint: the Model Monitor schedules of one project and stage."""

from __future__ import annotations

from aws_cdk import Aws, CfnCondition, CfnParameter, CfnRule, CfnRuleAssertion, Fn, ICfnConditionExpression, Token
from constructs import Construct

from lambdas.contract import MonitorParameters
from mlops_constructs.deployable_template import OPTIONAL_S3_URI_PATTERN, DeployableTemplateStack
from mlops_constructs.model_monitoring import (
    DATA_QUALITY,
    MODEL_BIAS,
    MODEL_EXPLAINABILITY,
    MODEL_QUALITY,
    MonitoredEndpoint,
    MonitoringJobDefinitions,
    ScheduledMonitor,
    attribute_or_nothing,
)
from platform_config import EBS_ONLY_INSTANCE_TYPE_PATTERN

PROBLEM_TYPES = ("BinaryClassification", "MulticlassClassification", "Regression")
#: Hourly, on the hour: SageMaker's finest monitoring schedule.
HOURLY = "cron(0 * ? * * *)"
#: The SDK's default monitoring instance.
DEFAULT_MONITORING_INSTANCE_TYPE = "ml.m5.xlarge"


class ModelMonitorStack(DeployableTemplateStack):
    """The monitor template: up to four Model Monitor schedules on an endpoint, each with an alarm.

    Parameters are those of ``contract.MonitorParameters`` plus the target account's role, key and
    bucket from SSM. Each monitor exists only when its baselines are given (CloudFormation
    conditions): data quality with statistics and constraints, model quality with ground truth and
    constraints, model bias with its Clarify analysis configuration, constraints and ground truth,
    explainability with its analysis configuration and constraints. A rule refuses a deployment that
    would monitor nothing. Serverless endpoints capture no data, so the promoter deploys this
    template for instance-backed endpoints only.
    """

    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, **kwargs) -> None:
        super().__init__(scope, construct_id, prefix=prefix, **kwargs)
        endpoint_name = self.endpoint_name_parameter(MonitorParameters.ENDPOINT_NAME).value_as_string
        deployment_id = self.deployment_id_parameter(MonitorParameters.DEPLOYMENT_ID).value_as_string
        schedule_expression = CfnParameter(
            self,
            MonitorParameters.SCHEDULE_EXPRESSION,
            default=HOURLY,
            allowed_pattern=r"^cron\([^)]+\)$",
            description="When the monitors run (a SageMaker cron expression, hourly at most)",
        ).value_as_string
        instance_type = CfnParameter(
            self,
            MonitorParameters.INSTANCE_TYPE,
            default=DEFAULT_MONITORING_INSTANCE_TYPE,
            allowed_pattern=EBS_ONLY_INSTANCE_TYPE_PATTERN,
            constraint_description="must be an instance type with EBS storage only (volumes are KMS-encrypted)",
            description="Instance type of the monitoring jobs",
        ).value_as_string
        statistics_uri = self._uri(MonitorParameters.DATA_QUALITY_STATISTICS_URI, "Data-quality baseline statistics")
        data_constraints_uri = self._uri(
            MonitorParameters.DATA_QUALITY_CONSTRAINTS_URI, "Data-quality baseline constraints"
        )
        quality_constraints_uri = self._uri(
            MonitorParameters.MODEL_QUALITY_CONSTRAINTS_URI, "Model-quality baseline constraints"
        )
        ground_truth_uri = self._uri(MonitorParameters.GROUND_TRUTH_URI, "Ground truth labels of captured requests")
        problem_type = CfnParameter(
            self,
            MonitorParameters.PROBLEM_TYPE,
            default=PROBLEM_TYPES[0],
            allowed_values=list(PROBLEM_TYPES),
            description="Kind of model, for the model-quality metrics",
        ).value_as_string
        inference_attribute = self._attribute(
            MonitorParameters.INFERENCE_ATTRIBUTE, "Index or JSONPath of the prediction in the endpoint's output"
        )
        probability_attribute = self._attribute(
            MonitorParameters.PROBABILITY_ATTRIBUTE, "Index or JSONPath of the probability in the endpoint's output"
        )
        probability_threshold = CfnParameter(
            self,
            MonitorParameters.PROBABILITY_THRESHOLD,
            type="Number",
            default=0.5,
            min_value=0,
            max_value=1,
            description="Probability above which a prediction counts as the positive label (binary classification)",
        ).value_as_number
        bias_config_uri = self._uri(MonitorParameters.BIAS_CONFIG_URI, "Clarify analysis configuration for bias")
        bias_constraints_uri = self._uri(MonitorParameters.BIAS_CONSTRAINTS_URI, "Model-bias baseline constraints")
        explainability_config_uri = self._uri(
            MonitorParameters.EXPLAINABILITY_CONFIG_URI, "Clarify analysis configuration for explainability"
        )
        explainability_constraints_uri = self._uri(
            MonitorParameters.EXPLAINABILITY_CONSTRAINTS_URI, "Explainability baseline constraints"
        )

        monitors_data_quality = _all_given(statistics_uri, data_constraints_uri)
        monitors_model_quality = _all_given(ground_truth_uri, quality_constraints_uri)
        monitors_model_bias = _all_given(ground_truth_uri, bias_config_uri, bias_constraints_uri)
        monitors_explainability = _all_given(explainability_config_uri, explainability_constraints_uri)
        CfnRule(
            self,
            "MonitorsSomething",
            assertions=[
                CfnRuleAssertion(
                    assert_=Fn.condition_or(
                        monitors_data_quality, monitors_model_quality, monitors_model_bias, monitors_explainability
                    ),
                    assert_description="Give the baseline URIs of at least one monitor",
                )
            ],
        )

        has_probability = self._given("HasProbabilityAttribute", probability_attribute)
        endpoint = MonitoredEndpoint(
            endpoint_name=endpoint_name,
            deployment_id=deployment_id,
            role_arn=self.execution_role_arn,
            kms_key_arn=self.kms_key_arn,
            output_bucket=self.data_capture_bucket,
            instance_type=instance_type,
            schedule_expression=schedule_expression,
            inference_attribute=attribute_or_nothing(
                self._given("HasInferenceAttribute", inference_attribute), inference_attribute
            ),
            probability_attribute=attribute_or_nothing(has_probability, probability_attribute),
            probability_threshold=Token.as_number(
                Fn.condition_if(has_probability.logical_id, probability_threshold, Aws.NO_VALUE)
            ),
        )
        jobs = MonitoringJobDefinitions(self, "JobDefinitions", endpoint=endpoint)
        ScheduledMonitor(
            self,
            "DataQuality",
            kind=DATA_QUALITY,
            endpoint=endpoint,
            job_definition=jobs.data_quality(statistics_uri=statistics_uri, constraints_uri=data_constraints_uri),
            condition=CfnCondition(self, "MonitorsDataQuality", expression=monitors_data_quality),
        )
        ScheduledMonitor(
            self,
            "ModelQuality",
            kind=MODEL_QUALITY,
            endpoint=endpoint,
            job_definition=jobs.model_quality(
                problem_type=problem_type, ground_truth_uri=ground_truth_uri, constraints_uri=quality_constraints_uri
            ),
            condition=CfnCondition(self, "MonitorsModelQuality", expression=monitors_model_quality),
        )
        ScheduledMonitor(
            self,
            "ModelBias",
            kind=MODEL_BIAS,
            endpoint=endpoint,
            job_definition=jobs.model_bias(
                config_uri=bias_config_uri, ground_truth_uri=ground_truth_uri, constraints_uri=bias_constraints_uri
            ),
            condition=CfnCondition(self, "MonitorsModelBias", expression=monitors_model_bias),
        )
        ScheduledMonitor(
            self,
            "ModelExplainability",
            kind=MODEL_EXPLAINABILITY,
            endpoint=endpoint,
            job_definition=jobs.model_explainability(
                config_uri=explainability_config_uri, constraints_uri=explainability_constraints_uri
            ),
            condition=CfnCondition(self, "MonitorsExplainability", expression=monitors_explainability),
        )

    def _uri(self, name: str, description: str) -> str:
        return CfnParameter(
            self,
            name,
            default="",
            allowed_pattern=OPTIONAL_S3_URI_PATTERN,
            max_length=1024,
            constraint_description="must be an s3:// URI, or empty",
            description=f"{description} (S3 URI; empty leaves the monitor that needs it out)",
        ).value_as_string

    def _attribute(self, name: str, description: str) -> str:
        return CfnParameter(
            self, name, default="", max_length=256, description=f"{description}; empty if none"
        ).value_as_string

    def _given(self, condition_name: str, value: str) -> CfnCondition:
        return CfnCondition(self, condition_name, expression=_all_given(value))


def _all_given(*values: str) -> ICfnConditionExpression:
    """True when none of ``values`` is empty."""
    given = [Fn.condition_not(Fn.condition_equals(value, "")) for value in values]
    return given[0] if len(given) == 1 else Fn.condition_and(*given)

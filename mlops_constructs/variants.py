"""A challenger model beside the champion on one endpoint: a shadow variant, or a weighted production variant.

Built onto a :class:`~mlops_constructs.endpoint.BlueGreenEndpoint` from CloudFormation parameters,
so one synthesized template serves both evaluation modes (``shadow`` and ``split``); the mode is a
condition. What SageMaker offers and the platform relies on:

- ``ShadowProductionVariants`` takes one variant beside exactly one production variant; the shadow
  receives copies of production requests and its answers are captured, never returned.
- The endpoint configuration's one ``DataCaptureConfig`` captures every variant, the shadow included,
  under ``<endpoint>/<variant>/`` prefixes: the comparison reads both from the same place.
- Blue/green deployments need the new configuration to keep the variant names, so the challenger
  variant is always named :data:`CHALLENGER_VARIANT_NAME`.
- CloudWatch reports ``AWS/SageMaker`` invocation metrics per variant, the shadow included (SageMaker's
  shadow-test dashboard compares them side by side): the challenger has rollback alarms of its own.
- Application Auto Scaling names any variant ``endpoint/<endpoint>/variant/<variant>``; the
  challenger's instance count is a scalable target like the champion's (for a shadow variant this is
  not verified offline, see ``docs/promotion.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, CfnCondition, Fn, Tags
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from lambdas.contract import CHALLENGER_ALARM_INFIX, TAG_MODEL_PACKAGE
from mlops_constructs.endpoint import DEPLOYMENT_ID_TAG, BlueGreenEndpoint, InvocationsAutoscaling, RollbackAlarms

#: The challenger's variant, shadow or production: constant across deployments (blue/green needs it).
CHALLENGER_VARIANT_NAME = "Challenger"
#: Suffix of the challenger's model name (``<EndpointName>-<DeploymentId>-c``, within 63 characters).
CHALLENGER_MODEL_SUFFIX = "-c"


@dataclass(frozen=True)
class ChallengerVariantProps:
    """The challenger's served model (a verified copy and its image) and how traffic reaches it."""

    endpoint_name: str
    deployment_id: str
    model_package_arn: str
    image: str
    model_data_url: str
    execution_role_arn: str
    instance_type: str
    instance_count: float
    shadow: CfnCondition
    """Shadow mode: the challenger gets a copy of every request; otherwise it is a production variant."""
    champion_weight: float
    challenger_weight: float
    latency_threshold_ms: float
    max_instance_count: float
    invocations_per_instance: float
    autoscaled: CfnCondition
    """The champion's variant is autoscaled: the challenger's is too, within the same bounds."""
    rollout: CfnCondition
    """This deployment rolls out the challenger: its alarms join the endpoint's blue/green auto-rollback."""


class ChallengerVariant(Construct):
    """The challenger's model, its variant on the champion's endpoint configuration, its alarms and autoscaling.

    In shadow mode the challenger is the configuration's shadow variant, with the champion's instance
    type and count, and the champion keeps all live traffic. In split mode it is a second production
    variant and live traffic divides in proportion to the two weights. The model runs network
    isolated from the promoter's verified copy, like the champion's.

    Its 5xx-error and latency alarms (``contract.challenger_alarm_names``) roll back a deployment that
    rolls the challenger out (``rollout``), never the champion's own deployments: a failing challenger
    must not hold back the champion. Under ``autoscaled`` its instance count tracks invocations per
    instance like the champion's.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, endpoint: BlueGreenEndpoint, props: ChallengerVariantProps
    ):
        super().__init__(scope, construct_id)
        self.model = sagemaker.CfnModel(
            self,
            "Model",
            model_name=f"{props.endpoint_name}-{props.deployment_id}{CHALLENGER_MODEL_SUFFIX}",
            execution_role_arn=props.execution_role_arn,
            enable_network_isolation=True,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=props.image, model_data_url=props.model_data_url
            ),
        )
        Tags.of(self.model).add(TAG_MODEL_PACKAGE, props.model_package_arn)
        Tags.of(self.model).add(DEPLOYMENT_ID_TAG, props.deployment_id)
        shadow = props.shadow.logical_id
        variant = {
            "VariantName": CHALLENGER_VARIANT_NAME,
            "ModelName": self.model.attr_model_name,
            "InstanceType": props.instance_type,
            "InitialInstanceCount": props.instance_count,
        }
        config = endpoint.endpoint_config
        # A shadow variant's weight relative to the production variant's is the share of requests copied
        # to it: equal weights copy every request.
        shadow_variant = {**variant, "InitialVariantWeight": 1}
        config.add_property_override(
            "ShadowProductionVariants", Fn.condition_if(shadow, [shadow_variant], Aws.NO_VALUE)
        )
        split_variant = {**variant, "InitialVariantWeight": props.challenger_weight}
        config.add_property_override("ProductionVariants.1", Fn.condition_if(shadow, Aws.NO_VALUE, split_variant))
        config.add_property_override(
            "ProductionVariants.0.InitialVariantWeight", Fn.condition_if(shadow, 1, props.champion_weight)
        )
        self.alarms = RollbackAlarms(
            self,
            "RollbackAlarms",
            endpoint_name=props.endpoint_name,
            latency_threshold_ms=props.latency_threshold_ms,
            variant_name=CHALLENGER_VARIANT_NAME,
            name_infix=CHALLENGER_ALARM_INFIX,
        )
        endpoint.add_rollback_alarms(self.alarms.alarms, condition=props.rollout)
        self.autoscaling = InvocationsAutoscaling(
            self,
            "Autoscaling",
            endpoint=endpoint.endpoint,
            min_capacity=props.instance_count,
            max_capacity=props.max_instance_count,
            invocations_per_instance=props.invocations_per_instance,
            condition=props.autoscaled,
            variant_name=CHALLENGER_VARIANT_NAME,
        )

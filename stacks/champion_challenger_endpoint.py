"""Deployed into prod in the advanced scenario: the champion's endpoint with the challenger beside it."""

from __future__ import annotations

from aws_cdk import CfnCondition, CfnParameter, CfnRule, CfnRuleAssertion, Fn
from constructs import Construct

from lambdas.contract import ChallengerParameters, EndpointParameters
from mlops_constructs.deployable_template import IMAGE_PATTERN, MODEL_DATA_KEY_PATTERN, MODEL_PACKAGE_ARN_PATTERN
from mlops_constructs.endpoint import BlueGreenEndpoint
from mlops_constructs.variants import ChallengerVariant, ChallengerVariantProps
from platform_config import ChampionChallengerSettings, EndpointDefaults
from stacks.endpoint import EndpointStack

EVALUATION_MODES = ("SHADOW", "SPLIT")


class ChampionChallengerEndpointStack(EndpointStack):
    """The endpoint template plus a challenger variant: ``EvaluationMode`` SHADOW or SPLIT.

    Everything of :class:`EndpointStack` (blue/green with rollback alarms on the champion's variant,
    autoscaling of the champion's variant, encrypted data capture of every variant) with the
    challenger's verified copy and image as parameters of their own, and the challenger's own alarms
    and autoscaling (:class:`ChallengerVariant`); ``ChallengerRollout`` says whether this deployment
    rolls the challenger out. Real-time only: a rule refuses another ``DeploymentKind``, since shadow
    and weighted variants are instance fleets here.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        defaults: EndpointDefaults,
        evaluation: ChampionChallengerSettings,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, prefix=prefix, defaults=defaults, **kwargs)
        endpoint: BlueGreenEndpoint = self.node.find_child("BlueGreenEndpoint")
        mode = CfnParameter(
            self,
            ChallengerParameters.EVALUATION_MODE,
            default="SPLIT" if evaluation.evaluation_mode == "split" else "SHADOW",
            allowed_values=list(EVALUATION_MODES),
            description="SHADOW: the challenger answers copies of requests (captured only); SPLIT: weighted traffic",
        ).value_as_string
        shadow = CfnCondition(self, "ShadowMode", expression=Fn.condition_equals(mode, "SHADOW"))
        package_arn = CfnParameter(
            self,
            ChallengerParameters.MODEL_PACKAGE_ARN,
            allowed_pattern=MODEL_PACKAGE_ARN_PATTERN,
            description="The challenger's approved model package (lineage)",
        ).value_as_string
        data_key = CfnParameter(
            self,
            ChallengerParameters.MODEL_DATA_KEY,
            allowed_pattern=MODEL_DATA_KEY_PATTERN,
            max_length=512,
            description="The promoter's verified copy of the challenger's model artifact in the model bucket",
        ).value_as_string
        image = CfnParameter(
            self,
            ChallengerParameters.IMAGE,
            allowed_pattern=IMAGE_PATTERN,
            max_length=255,
            description="The challenger's inference image, pinned by digest when its package registers one",
        ).value_as_string
        champion_weight, challenger_weight = (
            self._number(name, default, 1, 100, description)
            for name, default, description in (
                (
                    ChallengerParameters.CHAMPION_WEIGHT,
                    100 - evaluation.split_challenger_percent,
                    "SPLIT: the champion's share of live traffic, in proportion to the challenger's weight",
                ),
                (
                    ChallengerParameters.CHALLENGER_WEIGHT,
                    evaluation.split_challenger_percent,
                    "SPLIT: the challenger's share of live traffic, in proportion to the champion's weight",
                ),
            )
        )
        rollout = CfnCondition(
            self,
            "RollsOutChallenger",
            expression=Fn.condition_equals(
                CfnParameter(
                    self,
                    ChallengerParameters.ROLLOUT,
                    default="false",
                    allowed_values=["true", "false"],
                    description="true when this deployment rolls the challenger out: its alarms roll it back too",
                ).value_as_string,
                "true",
            ),
        )
        CfnRule(
            self,
            "InstanceBackedOnly",
            assertions=[
                CfnRuleAssertion(
                    assert_=Fn.condition_equals(Fn.ref(EndpointParameters.DEPLOYMENT_KIND), "realtime"),
                    assert_description="A champion/challenger endpoint is instance-backed real-time: DeploymentKind "
                    "is realtime",
                )
            ],
        )
        model_bucket = self.node.find_child("ModelBucketName").value_as_string
        ChallengerVariant(
            self,
            "Challenger",
            endpoint=endpoint,
            props=ChallengerVariantProps(
                endpoint_name=Fn.ref(EndpointParameters.ENDPOINT_NAME),
                deployment_id=Fn.ref(EndpointParameters.DEPLOYMENT_ID),
                model_package_arn=package_arn,
                image=image,
                model_data_url=f"s3://{model_bucket}/{data_key}",
                execution_role_arn=self.execution_role_arn,
                instance_type=Fn.ref(EndpointParameters.INSTANCE_TYPE),
                instance_count=self._parameter_value(EndpointParameters.INSTANCE_COUNT),
                shadow=shadow,
                champion_weight=champion_weight,
                challenger_weight=challenger_weight,
                latency_threshold_ms=self._parameter_value(EndpointParameters.LATENCY_THRESHOLD_MS),
                max_instance_count=self._parameter_value(EndpointParameters.MAX_INSTANCE_COUNT),
                invocations_per_instance=self._parameter_value(EndpointParameters.INVOCATIONS_PER_INSTANCE),
                autoscaled=self.node.find_child("Autoscaled"),
                rollout=rollout,
            ),
        )

    def _parameter_value(self, name: str) -> float:
        """A numeric parameter of the endpoint template, shared by the challenger's variant."""
        return self.node.find_child(name).value_as_number

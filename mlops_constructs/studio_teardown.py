"""A teardown that never blocks: each Studio user profile's apps and spaces go before the profile does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import CustomResource, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from mlops_constructs.compliance import acknowledge_wildcards
from mlops_constructs.functions import PlatformFunction
from mlops_constructs.messaging import AlertTopic, DeadLetterQueue

RESOURCE_TYPE = "Custom::StudioTeardown"
#: Deleting apps takes minutes; the function answers before its own timeout, whatever is left.
FUNCTION_TIMEOUT = Duration.minutes(15)
CUSTOM_RESOURCE_TIMEOUT = Duration.minutes(16)


class StudioTeardown(Construct):
    """The ``studio_teardown`` function and one ``Custom::StudioTeardown`` resource per user profile.

    Each resource depends on its profile, so CloudFormation deletes it first: the function then deletes
    the profile's apps and the spaces it owns and waits for them, and the profile (then the domain)
    deletes cleanly. It never fails a delete. The domain's home EFS is left alone (SageMaker retains it).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        prefix: str,
        domain: sagemaker.CfnDomain,
        user_profiles: Mapping[str, sagemaker.CfnUserProfile],
        encryption_key: kms.IKey,
        alert_emails: Sequence[str],
        powertools_version: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.alerts = AlertTopic(
            self, "Alerts", topic_name=f"{prefix}-studio-alerts", encryption_key=encryption_key, emails=alert_emails
        )
        self.dead_letters = DeadLetterQueue(
            self,
            "DeadLetters",
            alarm_name=f"{prefix}-studio-teardown-dead-letters",
            encryption_key=encryption_key,
            alarm_action=self.alerts.alarm_action,
        )
        self.function = PlatformFunction(
            self,
            "Function",
            handler="studio_teardown.handler.handler",
            description="Deletes a Studio user profile's apps and spaces before CloudFormation deletes the profile",
            alarm_name=f"{prefix}-studio-teardown-errors",
            alarm_action=self.alerts.alarm_action,
            powertools_version=powertools_version,
            timeout=FUNCTION_TIMEOUT,
            environment={},
        )
        # CloudFormation invokes custom resources asynchronously; the handler answers every request itself.
        self.function.function.configure_async_invoke(
            on_failure=destinations.SqsDestination(self.dead_letters.queue), retry_attempts=0
        )
        stack = Stack.of(self)

        def arn(resource: str) -> str:
            return (
                f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}:{resource}/{domain.attr_domain_id}/*"
            )

        role = self.function.role
        role.add_to_policy(
            iam.PolicyStatement(
                sid="FindAppsAndSpaces", actions=["sagemaker:ListApps", "sagemaker:ListSpaces"], resources=["*"]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="DeleteAppsAndSpacesOfTheDomain",
                actions=["sagemaker:DeleteApp", "sagemaker:DeleteSpace"],
                resources=[arn("app"), arn("space")],
            )
        )
        acknowledge_wildcards(
            self,
            {
                "Resource::*": "SageMaker's ListApps and ListSpaces support no resource-level permissions.",
                "Resource::arn:<AWS::Partition>:sagemaker:*:app/<*DomainId>/*": "Apps of this domain's profiles "
                "and spaces, named by SageMaker and users.",
                "Resource::arn:<AWS::Partition>:sagemaker:*:space/<*DomainId>/*": "Spaces of this domain, named "
                "by their users.",
                "Action::kms:GenerateDataKey*": "Data keys of the Studio key only, to dead-letter a lost invocation.",
                "Action::kms:ReEncrypt*": "Re-encryption with the Studio key only (SQS grant).",
            },
        )
        self.resources = {}
        for name, profile in user_profiles.items():
            resource = CustomResource(
                self,
                f"Profile-{name}",
                service_token=self.function.function.function_arn,
                resource_type=RESOURCE_TYPE,
                properties={"DomainId": domain.attr_domain_id, "UserProfileName": profile.user_profile_name},
                service_timeout=CUSTOM_RESOURCE_TIMEOUT,
            )
            resource.node.add_dependency(profile)
            self.resources[name] = resource

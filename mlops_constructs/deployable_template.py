"""What every template the promoter deploys into a deployment-target account has in common.

The promoter in the dev account starts ``CreateChangeSet`` with the synthesized template as
``TemplateBody`` in another account, so these templates must stand alone: no CDK bootstrap, no
assets, no CDKMetadata, no account or region baked in (pseudo parameters only), and no IAM resources
(the change set needs no ``CAPABILITY_IAM``). What each target account provides (the SageMaker
execution role, the KMS key, the data-capture bucket) is read from the SSM parameters the
deployment-target stack publishes, through SSM-typed template parameters the promoter never passes.
"""

from __future__ import annotations

from aws_cdk import BootstraplessSynthesizer, CfnParameter, Stack
from constructs import Construct

from lambdas import contract

#: ``<project>-<stage>-endpoint`` exactly as the contract derives it, so every name built from it
#: stays within SageMaker's 63 characters: at most 24 + 1 + 10 + 9 = 44 characters.
ENDPOINT_NAME_PATTERN = (
    f"^{contract.PROJECT_NAME.pattern.removeprefix('^').removesuffix('$')}"
    f"-({'|'.join(contract.STAGES)}){contract.ENDPOINT_SUFFIX}$"
)
#: ``v<model package version>-<8 hex digits>``, unique per promotion attempt (see the contract). At
#: most 15 characters, so ``<EndpointName>-<DeploymentId>`` plus a three-character suffix fits in 63.
DEPLOYMENT_ID_PATTERN = r"^v[0-9]{1,5}-[0-9a-f]{8}$"
#: An S3 URI or nothing (an empty URI leaves the feature that needs it out).
OPTIONAL_S3_URI_PATTERN = r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+)?$"


class DeployableTemplateStack(Stack):
    """A self-contained template for ``CreateChangeSet`` in a deployment-target account.

    Synthesized without bootstrap (no assets, no bootstrap-version rule) or CDKMetadata, and without
    an environment. Exposes the target account's execution role, KMS key and data-capture bucket as
    SSM-typed parameters that default to the names ``contract.target_parameter`` gives them.
    """

    def __init__(self, scope: Construct, construct_id: str, *, prefix: str, **kwargs) -> None:
        super().__init__(
            scope, construct_id, synthesizer=BootstraplessSynthesizer(), analytics_reporting=False, **kwargs
        )
        self.execution_role_arn = self._target_parameter(
            "SageMakerExecutionRoleArn",
            prefix,
            contract.SSM_EXECUTION_ROLE_ARN,
            "SageMaker execution role of this account, resolved from the deployment target's SSM parameter",
        )
        self.kms_key_arn = self._target_parameter(
            "TargetKmsKeyArn",
            prefix,
            contract.SSM_KMS_KEY_ARN,
            "KMS key of this account for volumes, data capture and monitoring output (from SSM)",
        )
        self.data_capture_bucket = self._target_parameter(
            "DataCaptureBucketName",
            prefix,
            contract.SSM_DATA_CAPTURE_BUCKET,
            "Data-capture bucket of this account, resolved from the deployment target's SSM parameter",
        )

    def _target_parameter(self, logical_id: str, prefix: str, ssm_name: str, description: str) -> str:
        return CfnParameter(
            self,
            logical_id,
            type="AWS::SSM::Parameter::Value<String>",
            default=contract.target_parameter(prefix, ssm_name),
            description=description,
        ).value_as_string

    def endpoint_name_parameter(self, logical_id: str) -> CfnParameter:
        """The deployment's endpoint, ``<project>-<stage>-endpoint``; every resource name derives from it."""
        return CfnParameter(
            self,
            logical_id,
            type="String",
            allowed_pattern=ENDPOINT_NAME_PATTERN,
            max_length=63,
            constraint_description="must be <project>-<stage>-endpoint as the platform's contract derives it",
            description="Name of the SageMaker endpoint of this project and stage",
        )

    def deployment_id_parameter(self, logical_id: str) -> CfnParameter:
        """Unique per promotion attempt; resources SageMaker cannot update in place are named with it."""
        return CfnParameter(
            self,
            logical_id,
            type="String",
            allowed_pattern=DEPLOYMENT_ID_PATTERN,
            constraint_description="must be v<model package version, up to 5 digits>-<8 hex digits>",
            description="Identifier of this promotion attempt, v<version>-<8 hex>",
        )

"""What every template the promoter deploys into a deployment-target account has in common.

The promoter in the dev account starts ``CreateChangeSet`` with the synthesized template as
``TemplateBody`` in another account, so these templates must stand alone: no CDK bootstrap, no
assets, no CDKMetadata, no account or region baked in (pseudo parameters only), and no IAM resources
(the change set needs no ``CAPABILITY_IAM``). What each target account provides (the SageMaker
execution role, the KMS key, the data-capture bucket) is read from the SSM parameters the
deployment-target stack publishes, through SSM-typed template parameters the promoter never passes.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import BootstraplessSynthesizer, CfnParameter, Stack
from constructs import Construct

from lambdas import contract
from lambdas.contract import EndpointParameters

#: ``<project>-<stage>-endpoint`` exactly as the contract derives it, so every name built from it
#: stays within SageMaker's 63 characters: at most 24 + 1 + 10 + 9 = 44 characters.
ENDPOINT_NAME_PATTERN = (
    f"^{contract.PROJECT_NAME.pattern.removeprefix('^').removesuffix('$')}"
    f"-({'|'.join(contract.STAGES)}){contract.ENDPOINT_SUFFIX}$"
)
#: ``v<model package version>-<8 hex digits>``, unique per promotion attempt (see the contract). At
#: most 15 characters, so ``<EndpointName>-<DeploymentId>`` plus a three-character suffix fits in 63.
DEPLOYMENT_ID_PATTERN = r"^v[0-9]{1,5}-[0-9a-f]{8}$"
#: A key of the target account's model bucket, as the promoter names its verified copies
#: (``<project>/<stage>/v<version>/<ETag>/model.tar.gz``).
MODEL_DATA_KEY_PATTERN = r"^[a-z0-9-]+/[a-z]+/v[0-9]+/[0-9a-f]{32}(-[0-9]+)?/model\.tar\.gz$"
#: An image in an ECR registry, by tag or pinned by digest.
IMAGE_PATTERN = (
    r"^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$"
)
#: A versioned model package of a group, possibly in another account (the dev account's registry).
MODEL_PACKAGE_ARN_PATTERN = (
    r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:[0-9]{12}:model-package/[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}/[0-9]+$"
)
#: An S3 URI or nothing (an empty URI leaves the feature that needs it out).
OPTIONAL_S3_URI_PATTERN = r"^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+)?$"


@dataclass(frozen=True)
class ServedModelParameters:
    """What a template serves: the promoter's verified copy of a package's artifact, and its image."""

    package_arn: str
    model_data_url: str
    image: str


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

    def served_model_parameters(self, prefix: str) -> ServedModelParameters:
        """The approved package (lineage), its verified copy in this account's model bucket, and its image."""
        package_arn = CfnParameter(
            self,
            EndpointParameters.MODEL_PACKAGE_ARN,
            allowed_pattern=MODEL_PACKAGE_ARN_PATTERN,
            constraint_description="must be the ARN of a versioned model package",
            description="Approved model package the model was verified against (lineage; a dev registry version)",
        ).value_as_string
        model_data_key = CfnParameter(
            self,
            EndpointParameters.MODEL_DATA_KEY,
            allowed_pattern=MODEL_DATA_KEY_PATTERN,
            max_length=512,
            constraint_description="must be a verified copy's key, <project>/<stage>/v<version>/<ETag>/model.tar.gz",
            description="The promoter's verified copy of the package's model artifact in this account's model bucket",
        ).value_as_string
        image = CfnParameter(
            self,
            EndpointParameters.IMAGE,
            allowed_pattern=IMAGE_PATTERN,
            max_length=255,
            constraint_description="must be an ECR image, by tag or @sha256 digest",
            description="The package's inference image, pinned by digest when the package registers one",
        ).value_as_string
        model_bucket = self._target_parameter(
            "ModelBucketName",
            prefix,
            contract.SSM_MODEL_BUCKET,
            "Model bucket of this account (verified copies only), resolved from the deployment target's SSM parameter",
        )
        return ServedModelParameters(package_arn, f"s3://{model_bucket}/{model_data_key}", image)

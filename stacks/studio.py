"""Dev account: VPC-only SageMaker Studio with the persona roles and a profile per person."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from lambdas.contract import PIPELINE_ROLE_SUFFIX
from mlops_constructs.naming import PlatformNames
from mlops_constructs.package_mirror import PackageMirror
from mlops_constructs.personas import PersonaRoles
from mlops_constructs.storage import PlatformKey
from mlops_constructs.studio import StudioDomain
from mlops_constructs.studio_teardown import StudioTeardown
from platform_config import PlatformConfig


class StudioStack(Stack):
    """The Studio domain, its KMS key, the four persona roles, the configured user profiles (with the
    teardown of their apps and spaces), and the private package mirror (CodeArtifact, encrypted with the
    Studio key) that JupyterLab's pip uses. (Each project's pipeline execution role comes with the
    project: ``stacks/projects.py``.)"""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: PlatformConfig,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        artifact_key: kms.IKey,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        names = PlatformNames(config)
        self.key = PlatformKey(
            self, "StudioKey", alias=f"alias/{config.prefix}/studio", description="Encrypts Studio home storage"
        )
        self.personas = PersonaRoles(
            self,
            "Personas",
            prefix=config.prefix,
            project_pipeline_roles=names.project_role_arn(f"*{PIPELINE_ROLE_SUFFIX}"),
            # By its deterministic name, so policies stay literal ARNs rather than cross-stack tokens.
            artifact_bucket=s3.Bucket.from_bucket_name(self, "ArtifactBucket", names.artifact_bucket),
            artifact_key=artifact_key,
            job_network_parameters=names.job_network_parameters,
            codecommit_repositories=config.projects.repository_provider == "codecommit",
        )
        self.package_mirror = PackageMirror(
            self,
            "PackageMirror",
            domain_name=names.package_domain,
            repository_name=names.package_repository,
            encryption_key=self.key,
        )
        for role in self.personas.roles.values():
            for statement in self.package_mirror.read_statements():
                role.add_to_policy(statement)
        pip_mirror = self.package_mirror.pip_lifecycle_config(self, "PipMirrorLifecycle", f"{config.prefix}-pip-mirror")
        self.studio = StudioDomain(
            self,
            "Studio",
            domain_name=f"{config.prefix}-studio",
            vpc=vpc,
            subnets=subnets,
            encryption_key=self.key,
            default_role=self.personas.roles["data_scientist"],
            persona_roles=self.personas.roles,
            users=config.users,
            idle_timeout_minutes=config.studio_idle_timeout_minutes,
            jupyter_lab_lifecycle_config_arn=pip_mirror.attr_studio_lifecycle_config_arn,
        )
        self.teardown = StudioTeardown(
            self,
            "Teardown",
            prefix=config.prefix,
            domain=self.studio.domain,
            user_profiles=self.studio.user_profiles,
            encryption_key=self.key,
            alert_emails=config.alert_emails,
            powertools_version=config.powertools_layer_version,
        )
        CfnOutput(self, "HomeEfsFileSystemId", value=self.studio.domain.attr_home_efs_file_system_id)

"""A VPC-only SageMaker Studio domain with one user profile per configured person."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from platform_config import Persona, StudioUser

#: Studio (JupyterLab, Code Editor) apps use these ports between each other and to the home EFS.
_NFS = ec2.Port.tcp(2049)
_STUDIO_APPS = ec2.Port.tcp_range(8192, 65535)


class StudioDomain(Construct):
    """The Studio domain: VpcOnly networking, IAM auth, KMS-encrypted home storage, idle shutdown.

    Apps idle for ``idle_timeout_minutes`` are shut down (users may choose a longer timeout up to
    eight hours, never none), which is where most Studio cost hides. Each user profile runs with its
    persona's role, so what a person can do follows from the persona they are configured with.
    ``jupyter_lab_lifecycle_config_arn`` runs whenever a JupyterLab app starts (the platform's sets up
    pip for the package mirror).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        domain_name: str,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        encryption_key: kms.IKey,
        default_role: iam.IRole,
        persona_roles: Mapping[Persona, iam.IRole],
        users: Sequence[StudioUser],
        idle_timeout_minutes: int,
        jupyter_lab_lifecycle_config_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "AppsSecurityGroup",
            vpc=vpc,
            description="Studio apps: NFS to their home EFS, traffic between apps, HTTPS to VPC endpoints",
            allow_all_outbound=False,
        )
        for port, purpose in ((_NFS, "home EFS"), (_STUDIO_APPS, "between Studio apps")):
            self.security_group.add_ingress_rule(self.security_group, port, purpose)
            self.security_group.add_egress_rule(self.security_group, port, purpose)
        # The subnets have no route to the internet: HTTPS reaches only the VPC endpoints and the S3
        # gateway endpoint, whose addresses are not in the VPC's range.
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "VPC and S3 gateway endpoints")

        idle_shutdown = sagemaker.CfnDomain.AppLifecycleManagementProperty(
            idle_settings=sagemaker.CfnDomain.IdleSettingsProperty(
                lifecycle_management="ENABLED",
                idle_timeout_in_minutes=idle_timeout_minutes,
                min_idle_timeout_in_minutes=60,
                max_idle_timeout_in_minutes=max(idle_timeout_minutes, 480),
            )
        )
        self.domain = sagemaker.CfnDomain(
            self,
            "Domain",
            domain_name=domain_name,
            auth_mode="IAM",
            app_network_access_type="VpcOnly",
            vpc_id=vpc.vpc_id,
            subnet_ids=[subnet.subnet_id for subnet in subnets],
            kms_key_id=encryption_key.key_arn,
            default_user_settings=sagemaker.CfnDomain.UserSettingsProperty(
                execution_role=default_role.role_arn,
                security_groups=[self.security_group.security_group_id],
                studio_web_portal="ENABLED",
                default_landing_uri="studio::",
                jupyter_lab_app_settings=sagemaker.CfnDomain.JupyterLabAppSettingsProperty(
                    app_lifecycle_management=idle_shutdown,
                    **(
                        dict(
                            default_resource_spec=sagemaker.CfnDomain.ResourceSpecProperty(
                                lifecycle_config_arn=jupyter_lab_lifecycle_config_arn
                            ),
                            lifecycle_config_arns=[jupyter_lab_lifecycle_config_arn],
                        )
                        if jupyter_lab_lifecycle_config_arn
                        else {}
                    ),
                ),
                code_editor_app_settings=sagemaker.CfnDomain.CodeEditorAppSettingsProperty(
                    app_lifecycle_management=idle_shutdown
                ),
            ),
            default_space_settings=sagemaker.CfnDomain.DefaultSpaceSettingsProperty(
                execution_role=default_role.role_arn,
                security_groups=[self.security_group.security_group_id],
            ),
        )
        self.user_profiles = {
            user.name: sagemaker.CfnUserProfile(
                self,
                f"User-{user.name}",
                domain_id=self.domain.attr_domain_id,
                user_profile_name=user.name,
                user_settings=sagemaker.CfnUserProfile.UserSettingsProperty(
                    execution_role=persona_roles[user.persona].role_arn,
                    security_groups=[self.security_group.security_group_id],
                ),
                tags=[{"key": "mlops:persona", "value": user.persona}],
            )
            for user in users
        }

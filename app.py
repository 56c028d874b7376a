#!/usr/bin/env python3
"""The platform's CDK app: reads the configuration and places each stack in its account.

Deployment order matters across accounts because IAM and KMS policies only accept principals that
exist: the deployment targets (which create the named SageMaker execution roles) come before the dev
artifact store whose policies name those roles. ``cdk deploy --all`` follows these dependencies.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import aws_cdk as cdk

from lambdas.contract import PIPELINE_ROLE_SUFFIX
from mlops_constructs.compliance import apply_compliance_checks
from mlops_constructs.naming import PlatformNames
from platform_config import AccountName, ConfigError, PlatformConfig, load_config
from stacks.artifact_store import ArtifactStoreStack
from stacks.batch import BatchTransformStack
from stacks.champion_challenger_endpoint import ChampionChallengerEndpointStack
from stacks.deployment_target import DeploymentTargetStack
from stacks.endpoint import EndpointStack
from stacks.model_monitor import ModelMonitorStack
from stacks.network import NetworkStack
from stacks.operations import OperationsStack
from stacks.projects import ProjectsStack
from stacks.promotion import PromotionStack
from stacks.studio import StudioStack


@dataclass
class Platform:
    """The stacks of one installation, by account, for tests and for wiring."""

    config: PlatformConfig
    network: NetworkStack
    artifact_store: ArtifactStoreStack
    studio: StudioStack
    promotion: PromotionStack
    operations: OperationsStack
    projects: ProjectsStack
    endpoint_template: EndpointStack
    monitor_template: ModelMonitorStack
    batch_template: BatchTransformStack
    targets: dict[AccountName, DeploymentTargetStack] = field(default_factory=dict)
    champion_challenger_template: ChampionChallengerEndpointStack | None = None

    @property
    def stacks(self) -> list[cdk.Stack]:
        """The stacks ``cdk deploy --all`` deploys (the deployable templates are not among them)."""
        return [
            self.network,
            self.artifact_store,
            self.studio,
            self.promotion,
            self.operations,
            self.projects,
            *self.targets.values(),
        ]


def build_platform(app: cdk.App, config: PlatformConfig) -> Platform:
    """Add every stack of the platform to ``app`` and apply the compliance checks."""
    names = PlatformNames(config)

    def env(account: AccountName) -> cdk.Environment:
        settings = getattr(config.accounts, account)
        return cdk.Environment(account=settings.account_id, region=settings.region)

    def stack_props(account: AccountName, purpose: str, description: str) -> dict:
        return dict(stack_name=names.stack_name(account, purpose), env=env(account), description=description)

    targets = {
        account: DeploymentTargetStack(
            app,
            names.stack_name(account, "target"),
            names=names,
            account=account,
            alert_emails=config.alert_emails,
            cleanup_role_arn=names.role_arn("dev", names.endpoint_cleanup_role) if account == "dev" else None,
            comparison_role_arn=names.role_arn("dev", names.challenger_comparison_role) if account == "prod" else None,
            **stack_props(account, "target", f"MLOps platform: deployment target in the {account} account"),
        )
        for account in ("dev", "test", "prod")
    }
    network = NetworkStack(
        app,
        names.stack_name("dev", "network"),
        names=names,
        cidr=config.vpc_cidr,
        codecommit_endpoints=config.projects.repository_provider == "codecommit",
        **stack_props("dev", "network", "MLOps platform: isolated VPC with endpoints for Studio"),
    )
    artifact_store = ArtifactStoreStack(
        app,
        names.stack_name("dev", "artifacts"),
        names=names,
        artifact_readers=[
            names.role_arn(account, role)
            for account in targets
            for role in (names.sagemaker_execution_role(account), names.deploy_role(account))
        ],
        project_pipeline_roles=names.project_role_arn(f"*{PIPELINE_ROLE_SUFFIX}"),
        **stack_props("dev", "artifacts", "MLOps platform: artifact store (KMS key, versioned buckets)"),
    )
    for target in targets.values():
        artifact_store.add_stack_dependency(target, "the artifact store's policies name the targets' execution roles")
    studio = StudioStack(
        app,
        names.stack_name("dev", "studio"),
        config=config,
        vpc=network.network.vpc,
        subnets=network.network.subnets.subnets,
        artifact_key=artifact_store.key,
        **stack_props("dev", "studio", "MLOps platform: VPC-only SageMaker Studio with persona roles"),
    )

    # The templates the promoter deploys into the stage accounts with CreateChangeSet. A nested stage
    # keeps them out of `cdk deploy --all` (which selects only the app's top-level stacks); they are
    # synthesized, checked and tested with everything else, into cdk.out/assembly-DeployableTemplates/.
    templates = cdk.Stage(app, "DeployableTemplates")
    endpoint_template = EndpointStack(
        templates,
        "Endpoint",
        prefix=config.prefix,
        defaults=config.endpoint,
        description="MLOps platform: a project's SageMaker endpoint with blue/green deployment and rollback alarms",
    )
    monitor_template = ModelMonitorStack(
        templates,
        "ModelMonitor",
        prefix=config.prefix,
        description="MLOps platform: a project's Model Monitor schedules with violation alarms",
    )
    champion_challenger_template = ChampionChallengerEndpointStack(
        templates,
        "ChampionChallengerEndpoint",
        prefix=config.prefix,
        defaults=config.endpoint_for("prod"),
        evaluation=config.champion_challenger,
        description="MLOps platform: a champion's endpoint with its challenger as a shadow or weighted variant",
    )

    batch_template = BatchTransformStack(
        templates,
        "BatchTransform",
        prefix=config.prefix,
        defaults=config.endpoint,
        description="MLOps platform: a project's scheduled batch transforms, failure alarm and data-quality monitor",
    )

    # Tags added to the app do not reach into a nested stage, so the stage is tagged on its own.
    for scope in (app, templates):
        cdk.Tags.of(scope).add("mlops:platform", config.prefix)
    # Synthesized now so the promotion stack can ship the template files as assets; the app's own
    # synthesis reuses this assembly (and runs the compliance checks over it).
    template_files = templates.synth()
    promotion = PromotionStack(
        app,
        names.stack_name("dev", "promotion"),
        config=config,
        endpoint_template_file=template_files.get_stack_artifact(endpoint_template.artifact_id).template_full_path,
        monitor_template_file=template_files.get_stack_artifact(monitor_template.artifact_id).template_full_path,
        batch_template_file=template_files.get_stack_artifact(batch_template.artifact_id).template_full_path,
        champion_challenger_template_file=template_files.get_stack_artifact(
            champion_challenger_template.artifact_id
        ).template_full_path,
        **stack_props("dev", "promotion", "MLOps platform: promotion of approved models, with its ledger"),
    )
    for target in targets.values():
        target.add_stack_dependency(promotion, "the deploy roles trust the promoter role, which must exist")
    operations = OperationsStack(
        app,
        names.stack_name("dev", "operations"),
        config=config,
        key=promotion.key,
        alerts=promotion.alerts,
        bus=promotion.bus,
        ledger=promotion.ledger,
        project_settings=promotion.project_settings,
        handler_environment=promotion.handler_environment,
        **stack_props("dev", "operations", "MLOps platform: feature endpoint clean-up and the monitoring loop"),
    )
    targets["dev"].add_stack_dependency(operations, "the dev deploy role trusts the clean-up role, which must exist")
    targets["prod"].add_stack_dependency(operations, "the evaluator role trusts the comparison role, which must exist")
    projects = ProjectsStack(
        app,
        names.stack_name("dev", "projects"),
        config=config,
        persona_roles=studio.personas.roles,
        **stack_props("dev", "projects", "MLOps platform: SageMaker projects from Studio (Service Catalog)"),
    )
    for target in targets.values():
        projects.add_stack_dependency(target, "model group policies name the targets' roles, which must exist")
    apply_compliance_checks(app)
    return Platform(
        config=config,
        network=network,
        artifact_store=artifact_store,
        studio=studio,
        promotion=promotion,
        operations=operations,
        projects=projects,
        endpoint_template=endpoint_template,
        monitor_template=monitor_template,
        batch_template=batch_template,
        targets=targets,
        champion_challenger_template=champion_challenger_template,
    )


def main() -> None:
    app = cdk.App()
    try:
        config = load_config(app.node.get_all_context())
    except ConfigError as error:
        sys.exit(f"Invalid configuration: {error}")
    build_platform(app, config)
    app.synth()


if __name__ == "__main__":
    main()

"""Deterministic names of the resources one account must find in another.

Stacks in different accounts cannot reference each other's outputs, so everything named across an
account boundary (buckets, roles, the event bus) follows these conventions, derived from the
configuration alone. Everything else keeps CloudFormation-generated names.
"""

from __future__ import annotations

from dataclasses import dataclass

from platform_config import AccountName, PlatformConfig

#: Artifact-store key prefixes. Pipelines write under ``projects/<project>/``; only that prefix is
#: readable from the deployment targets, so raw data under ``data/`` never leaves the dev account.
DATA_PREFIX = "data/"
PROJECTS_PREFIX = "projects/"
#: Where people (not pipelines) write their own experiments' outputs in the artifact store: only the
#: projects' pipeline execution roles write model artifacts under ``projects/``, where registered models live.
SCRATCH_PREFIX = "scratch/"
#: What a model artifact's key ends with (SageMaker serves ``.tar.gz`` archives): under ``projects/``,
#: only the projects' pipeline execution roles write such keys.
MODEL_ARTIFACT_SUFFIX = ".tar.gz"


@dataclass(frozen=True)
class PlatformNames:
    """Names derived from the platform configuration."""

    config: PlatformConfig

    @property
    def prefix(self) -> str:
        return self.config.prefix

    @property
    def region(self) -> str:
        return self.config.accounts.dev.region

    @property
    def partition(self) -> str:
        if self.region.startswith("cn-"):
            return "aws-cn"
        if self.region.startswith("us-gov-"):
            return "aws-us-gov"
        return "aws"

    def account_id(self, account: AccountName) -> str:
        return getattr(self.config.accounts, account).account_id

    def stack_name(self, account: AccountName, purpose: str) -> str:
        """``<prefix>-<account>-<purpose>``, e.g. ``mlops-dev-network``."""
        return f"{self.prefix}-{account}-{purpose}"

    @property
    def artifact_bucket(self) -> str:
        """The dev bucket holding model artifacts, baselines and pipeline outputs."""
        return f"{self.prefix}-artifacts-{self.account_id('dev')}-{self.region}"

    @property
    def artifact_key_alias(self) -> str:
        return f"alias/{self.prefix}/artifacts"

    def data_capture_bucket(self, account: AccountName) -> str:
        """The bucket in a deployment-target account receiving endpoint data capture."""
        return f"{self.prefix}-data-capture-{self.account_id(account)}-{self.region}"

    def model_artifact_bucket(self, account: AccountName) -> str:
        """The bucket in a deployment-target account holding the verified copies of the models it serves."""
        return f"{self.prefix}-models-{self.account_id(account)}-{self.region}"

    @property
    def project_role_path(self) -> str:
        """The IAM path of every role a project's stack creates (pipeline, CI, trigger): only roles
        under it, with :attr:`project_role_boundary`, may be created by the projects' launch role."""
        return f"/{self.prefix}-projects/"

    def project_role_arn(self, role_name: str) -> str:
        """The ARN of a per-project role (``role_name`` may be a pattern such as ``*-pipeline``)."""
        return f"arn:{self.partition}:iam::{self.account_id('dev')}:role{self.project_role_path}{role_name}"

    @property
    def project_role_boundary(self) -> str:
        """The customer managed policy that caps every per-project role (their permissions boundary)."""
        return f"{self.prefix}-project-role-boundary"

    @property
    def project_role_boundary_arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account_id('dev')}:policy/{self.project_role_boundary}"

    @property
    def job_subnets_parameter(self) -> str:
        """The dev SSM parameter (StringList) with the isolated subnets project pipelines run their jobs in."""
        return f"/{self.prefix}/jobs/subnet-ids"

    @property
    def job_security_group_parameter(self) -> str:
        """The dev SSM parameter with the security group project pipelines run their jobs with."""
        return f"/{self.prefix}/jobs/security-group-id"

    @property
    def job_network_parameters(self) -> tuple[str, str]:
        return (self.job_subnets_parameter, self.job_security_group_parameter)

    @property
    def package_domain(self) -> str:
        """The dev CodeArtifact domain of the private package mirror."""
        return self.prefix

    @property
    def package_repository(self) -> str:
        """The CodeArtifact repository people install Python packages from (PyPI behind it)."""
        return "pypi"

    def sagemaker_execution_role(self, account: AccountName) -> str:
        """The role SageMaker endpoints and monitoring jobs run as in a deployment-target account."""
        return f"{self.prefix}-{account}-sagemaker-execution"

    def sagemaker_execution_role_arn(self, account: AccountName) -> str:
        return self.role_arn(account, self.sagemaker_execution_role(account))

    def batch_scheduler_role(self, account: AccountName) -> str:
        """The role EventBridge Scheduler starts the batch templates' pipelines with in a target account."""
        return f"{self.prefix}-{account}-batch-scheduler"

    def deploy_role(self, account: AccountName) -> str:
        """The role the promoter assumes in a deployment-target account to deploy stacks."""
        return f"{self.prefix}-{account}-deployer"

    def cloudformation_role(self, account: AccountName) -> str:
        """The role CloudFormation runs the endpoint and monitor stacks with in a target account."""
        return f"{self.prefix}-{account}-cfn-execution"

    def endpoint_tester_role(self, account: AccountName) -> str:
        """The role the dev integration tester assumes in a deployment-target account to invoke endpoints."""
        return f"{self.prefix}-{account}-endpoint-tester"

    def event_forwarding_role(self, account: AccountName) -> str:
        """The role EventBridge sends a target account's platform events to the dev promotion bus with:
        the only principal the bus accepts them from."""
        return f"{self.prefix}-{account}-event-forwarding"

    @property
    def integration_tester_role(self) -> str:
        """The dev integration tester Lambda's role: the only principal the endpoint-tester roles trust."""
        return f"{self.prefix}-integration-tester"

    @property
    def promoter_role(self) -> str:
        """The dev promoter Lambda's role: the only principal the deploy roles trust."""
        return f"{self.prefix}-promoter"

    @property
    def endpoint_cleanup_role(self) -> str:
        """The dev clean-up Lambda's role: the dev deploy role trusts it besides the promoter role."""
        return f"{self.prefix}-endpoint-cleanup"

    @property
    def challenger_comparison_role(self) -> str:
        """The dev champion/challenger comparison Lambda's role: the only principal the evaluator role trusts."""
        return f"{self.prefix}-challenger-comparison"

    def challenger_evaluator_role(self, account: AccountName) -> str:
        """The role the comparison assumes in prod to read the variants' metrics and data capture."""
        return f"{self.prefix}-{account}-challenger-evaluator"

    @property
    def champion_challenger_namespace(self) -> str:
        """The CloudWatch namespace of the comparison's numbers on the prod dashboard."""
        return f"{self.prefix}/ChampionChallenger"

    @property
    def project_settings_table(self) -> str:
        """The dev table of per-project operational settings (integration test cases, retraining)."""
        return f"{self.prefix}-project-settings"

    @property
    def project_template_function(self) -> str:
        """The dev Lambda that sets up a new project; the project product names it by ARN."""
        return f"{self.prefix}-project-template"

    @property
    def project_template_function_arn(self) -> str:
        return (
            f"arn:{self.partition}:lambda:{self.region}:{self.account_id('dev')}:function:"
            f"{self.project_template_function}"
        )

    @property
    def promotion_bus(self) -> str:
        """The dev event bus the deployment targets forward stack, endpoint and alarm events to."""
        return f"{self.prefix}-promotion"

    @property
    def promotion_bus_arn(self) -> str:
        return f"arn:{self.partition}:events:{self.region}:{self.account_id('dev')}:event-bus/{self.promotion_bus}"

    def role_arn(self, account: AccountName, role_name: str) -> str:
        return f"arn:{self.partition}:iam::{self.account_id(account)}:role/{role_name}"

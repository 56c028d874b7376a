"""Dev account: the isolated network VPC-only Studio and SageMaker jobs run in."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from mlops_constructs.job_network import JobNetwork
from mlops_constructs.naming import PlatformNames
from mlops_constructs.network import IsolatedNetwork

#: The interface endpoints VPC-only Studio needs (see the README for why each and its cost). SageMaker
#: pulls job and app images itself, not through the VPC, so no ECR endpoints are needed.
STUDIO_ENDPOINTS = {
    "SageMakerApi": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_API,
    "SageMakerRuntime": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME,
    "SageMakerStudio": ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_STUDIO,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "CloudWatchLogs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "ServiceCatalog": ec2.InterfaceVpcEndpointAwsService.SERVICE_CATALOG,
    # The private package mirror: its API (tokens, endpoints) and its repositories (pip). CodeArtifact
    # requires private DNS on the repositories endpoint for the usual URLs to resolve to it.
    "CodeArtifactApi": ec2.InterfaceVpcEndpointAwsService.CODEARTIFACT_API,
    "CodeArtifactRepositories": ec2.InterfaceVpcEndpointAwsService.CODEARTIFACT_REPOSITORIES,
}

#: Added when projects keep their code in CodeCommit: its API and git over HTTPS from Studio.
CODECOMMIT_ENDPOINTS = {
    "CodeCommit": ec2.InterfaceVpcEndpointAwsService.CODECOMMIT,
    "CodeCommitGit": ec2.InterfaceVpcEndpointAwsService.CODECOMMIT_GIT,
}


class NetworkStack(Stack):
    """The VPC of the dev account: isolated subnets in two AZs, endpoints, flow logs, and the network
    SageMaker jobs run in (its subnets and security group published as SSM parameters).

    ``codecommit_endpoints`` adds the CodeCommit endpoints (projects' repositories in CodeCommit).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        names: PlatformNames,
        cidr: str,
        codecommit_endpoints: bool = False,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        endpoints = {**STUDIO_ENDPOINTS, **(CODECOMMIT_ENDPOINTS if codecommit_endpoints else {})}
        self.network = IsolatedNetwork(self, "Network", cidr=cidr, interface_endpoints=endpoints)
        self.jobs = JobNetwork(
            self,
            "Jobs",
            vpc=self.network.vpc,
            subnets=self.network.subnets.subnets,
            subnets_parameter=names.job_subnets_parameter,
            security_group_parameter=names.job_security_group_parameter,
        )

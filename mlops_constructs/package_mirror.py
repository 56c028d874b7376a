"""A private mirror of PyPI for the isolated VPC: a CodeArtifact domain and repository, and how Studio uses it."""

from __future__ import annotations

import base64
from pathlib import Path

from aws_cdk import RemovalPolicy, Stack, Token
from aws_cdk import aws_codeartifact as codeartifact
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

#: The JupyterLab lifecycle script that writes pip's index URL with a fresh token (and keeps it fresh).
PIP_MIRROR_SCRIPT = Path(__file__).resolve().parent / "scripts" / "pip_mirror.sh"


class PackageMirror(Construct):
    """A KMS-encrypted CodeArtifact domain with two repositories: ``<repository>-upstream`` holds the
    ``public:pypi`` external connection and caches what it fetched, ``<repository>`` is what people
    install from (its upstream is the first). Both are retained with the domain: packages installed once
    stay installable. :meth:`read_statements` lets a role install from it and nothing more.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        domain_name: str,
        repository_name: str,
        encryption_key: kms.IKey,
    ) -> None:
        super().__init__(scope, construct_id)
        self.domain = codeartifact.CfnDomain(
            self, "Domain", domain_name=domain_name, encryption_key=encryption_key.key_arn
        )
        self.upstream = codeartifact.CfnRepository(
            self,
            "PyPiUpstream",
            domain_name=self.domain.attr_name,
            repository_name=f"{repository_name}-upstream",
            description="Public PyPI, fetched on demand and kept",
            external_connections=["public:pypi"],
        )
        self.repository = codeartifact.CfnRepository(
            self,
            "PyPi",
            domain_name=self.domain.attr_name,
            repository_name=repository_name,
            description="What Studio, jobs and CI install Python packages from",
            upstreams=[self.upstream.attr_name],
        )
        for resource in (self.domain, self.upstream, self.repository):
            resource.apply_removal_policy(RemovalPolicy.RETAIN)
        stack = Stack.of(self)
        if Token.is_unresolved(stack.account) or Token.is_unresolved(stack.region):
            raise ValueError(
                "the package mirror's stack needs a concrete account and region (its Studio script names them)"
            )
        self.domain_owner, self.region = stack.account, stack.region

    def read_statements(self) -> list[iam.PolicyStatement]:
        """Install packages from the mirror: a token for the domain, the repository's endpoint and its
        packages; the bearer token CodeArtifact's token is minted from. No publishing, no administration."""
        return [
            iam.PolicyStatement(
                sid="PackageMirrorToken",
                actions=["codeartifact:GetAuthorizationToken"],
                resources=[self.domain.attr_arn],
            ),
            iam.PolicyStatement(
                sid="PackageMirrorRead",
                actions=["codeartifact:GetRepositoryEndpoint", "codeartifact:ReadFromRepository"],
                resources=[self.repository.attr_arn],
            ),
            iam.PolicyStatement(
                sid="PackageMirrorBearerToken",
                actions=["sts:GetServiceBearerToken"],
                resources=["*"],
                conditions={"StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"}},
            ),
        ]

    def pip_lifecycle_config(
        self, scope: Construct, construct_id: str, name: str
    ) -> sagemaker.CfnStudioLifecycleConfig:
        """The JupyterLab lifecycle configuration pointing pip at this mirror (``PIP_MIRROR_SCRIPT``)."""
        shebang, body = PIP_MIRROR_SCRIPT.read_text().split("\n", 1)
        settings = {
            "MIRROR_DOMAIN": self.domain.domain_name,
            "MIRROR_DOMAIN_OWNER": self.domain_owner,
            "MIRROR_REPOSITORY": self.repository.repository_name,
            "MIRROR_REGION": self.region,
        }
        script = "\n".join([shebang, *(f"{key}={value}" for key, value in settings.items()), body])
        return sagemaker.CfnStudioLifecycleConfig(
            scope,
            construct_id,
            studio_lifecycle_config_name=name,
            studio_lifecycle_config_app_type="JupyterLab",
            studio_lifecycle_config_content=base64.b64encode(script.encode()).decode(),
        )

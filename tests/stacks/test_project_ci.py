"""A project's own roles and CI, as its stack deploys them for project ``churn``: what the triggers
match, what each role may do within the permissions boundary, who may assume the CI role, and what
the launch role may create."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aws_cdk as cdk
import botocore.session
import pytest
from botocore.validate import ParamValidator

from demo.runtime import matches
from lambdas.contract import DEV_BRANCH, FEATURE_BRANCH_PREFIX, PROD_BRANCH, ProjectParameters
from mlops_constructs.naming import PlatformNames
from platform_config import load_config
from stacks.projects import GITHUB_OIDC_HOST, PULL_REQUEST_BRANCH, ProjectProductStack
from tests.conftest import default_context
from tests.iam_evaluation import Request, is_allowed, resource_policy_statements
from tests.lambdas.events import codecommit_pull_request_change, codecommit_reference_change
from tests.template_deployments import (
    DEV_ACCOUNT,
    PRODUCT_STACK_NAME,
    PROJECT,
    REGION,
    Deployment,
    product_deployment,
    product_roles,
    role_statements,
)

BUCKET = f"arn:aws:s3:::mlops-artifacts-{DEV_ACCOUNT}-{REGION}"
BOUNDARY = f"arn:aws:iam::{DEV_ACCOUNT}:policy/mlops-project-role-boundary"
ROLES = f"arn:aws:iam::{DEV_ACCOUNT}:role/mlops-projects"
OIDC_PROVIDER = f"arn:aws:iam::{DEV_ACCOUNT}:oidc-provider/{GITHUB_OIDC_HOST}"


def sagemaker(resource: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{DEV_ACCOUNT}:{resource}"


@pytest.fixture(scope="module")
def product_body(platform, assembly) -> dict:
    return json.loads(Path(assembly.directory, platform.projects.product_stack.template_file).read_text())


@pytest.fixture(scope="module")
def deployment(product_body) -> Deployment:
    return Deployment.of(product_body, PRODUCT_STACK_NAME, DEV_ACCOUNT, product_deployment())


@pytest.fixture(scope="module")
def roles(product_body):
    return product_roles(product_body, DEV_ACCOUNT)


@pytest.fixture(scope="module")
def boundary(platform, template_of) -> list[dict]:
    template = template_of(platform.projects).to_json()
    (logical_id,) = [
        lid
        for lid, resource in template["Resources"].items()
        if resource["Properties"].get("ManagedPolicyName") == "mlops-project-role-boundary"
    ]
    env = {"partition": "aws", "region": REGION, "account": DEV_ACCOUNT}
    return resource_policy_statements(template, logical_id, env)


@pytest.fixture(scope="module")
def launch_role(platform, template_of) -> list[dict]:
    projects = platform.projects
    return role_statements(projects, template_of(projects).to_json(), projects.launch_role)


def _rule(deployment: Deployment, name: str) -> dict:
    (properties,) = [
        deployment.properties(lid)
        for lid, resource in deployment.resources().items()
        if resource["Type"] == "AWS::Events::Rule" and deployment.properties(lid)["Name"] == name
    ]
    return properties


# --- CodeCommit triggers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "built"),
    [
        (codecommit_reference_change(PROJECT, "feature-better-trees"), True),
        (codecommit_reference_change(PROJECT, "feature-x", event="referenceCreated"), True),
        (codecommit_reference_change(PROJECT, DEV_BRANCH), True),
        (codecommit_reference_change(PROJECT, PROD_BRANCH), True),
        (codecommit_reference_change(PROJECT, "main"), False),
        (codecommit_reference_change(PROJECT, "features-x"), False),
        (codecommit_reference_change(PROJECT, "prod", event="referenceCreated", reference_type="tag"), False),
        (codecommit_reference_change(PROJECT, "dev", event="referenceDeleted"), False),
        (codecommit_reference_change("fraud", DEV_BRANCH), False),
        (codecommit_pull_request_change(PROJECT, "feature-x"), False),
    ],
)
def test_pushes_to_feature_dev_and_prod_start_the_build_and_nothing_else(deployment, event, built):
    assert matches(_rule(deployment, "churn-ci-push")["EventPattern"], event) is built


@pytest.mark.parametrize(
    ("event", "built"),
    [
        (codecommit_pull_request_change(PROJECT, "feature-x"), True),
        (codecommit_pull_request_change(PROJECT, "feature-x", event="pullRequestSourceBranchUpdated"), True),
        (
            codecommit_pull_request_change(PROJECT, "feature-x", event="pullRequestStatusChanged", status="Closed"),
            False,
        ),
        (codecommit_pull_request_change("fraud", "feature-x"), False),
        (codecommit_reference_change(PROJECT, "feature-x"), False),
    ],
)
def test_pull_requests_start_a_build(deployment, event, built):
    assert matches(_rule(deployment, "churn-ci-pull-request")["EventPattern"], event) is built


def _start_build_request(target: dict, event: dict) -> dict:
    """The StartBuild input EventBridge sends: the input template with the input paths filled in."""
    transformer = target["InputTransformer"]
    text = transformer["InputTemplate"]
    for name, path in transformer["InputPathsMap"].items():
        value = event
        for key in path.removeprefix("$.").split("."):
            value = value[key]
        text = text.replace(f"<{name}>", value)
    return json.loads(text)


def _valid_start_build(request: dict) -> None:
    """EventBridge calls StartBuild with the transformed input: it must be a valid StartBuild request."""
    shape = botocore.session.get_session().get_service_model("codebuild").operation_model("StartBuild").input_shape
    report = ParamValidator().validate({"projectName": "churn-ci", **request}, shape)
    assert not report.has_errors(), report.generate_report()


def test_a_push_builds_the_pushed_commit_with_its_branch(deployment):
    event = codecommit_reference_change(PROJECT, "feature-better-trees")
    (target,) = _rule(deployment, "churn-ci-push")["Targets"]
    request = _start_build_request(target, event)
    _valid_start_build(request)
    assert request["sourceVersion"] == event["detail"]["commitId"]
    assert request["environmentVariablesOverride"] == [
        {"name": "BRANCH", "value": "feature-better-trees", "type": "PLAINTEXT"}
    ]


def test_a_pull_request_builds_its_source_commit_and_only_tests(deployment):
    event = codecommit_pull_request_change(PROJECT, "feature-x")
    (target,) = _rule(deployment, "churn-ci-pull-request")["Targets"]
    request = _start_build_request(target, event)
    _valid_start_build(request)
    assert request["sourceVersion"] == event["detail"]["sourceCommit"]
    (branch,) = request["environmentVariablesOverride"]
    # pipelines.run runs nothing for a branch other than feature-*, dev and prod: the build only tests
    assert branch["name"] == "BRANCH" and branch["value"] == PULL_REQUEST_BRANCH
    assert PULL_REQUEST_BRANCH not in (DEV_BRANCH, PROD_BRANCH)
    assert not PULL_REQUEST_BRANCH.startswith(FEATURE_BRANCH_PREFIX)


def test_triggers_retry_then_dead_letter_and_may_only_start_the_projects_build(deployment, roles):
    for name in ("churn-ci-push", "churn-ci-pull-request"):
        (target,) = _rule(deployment, name)["Targets"]
        assert target["DeadLetterConfig"]["Arn"] == f"arn:aws:sqs:{REGION}:{DEV_ACCOUNT}:mlops-project-ci-dead-letters"
        assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
        assert target["RoleArn"] == f"{ROLES}/churn-ci-trigger"
    trigger = roles["churn-ci-trigger"].statements
    build = f"arn:aws:codebuild:{REGION}:{DEV_ACCOUNT}:project/"
    assert is_allowed(trigger, Request("codebuild:StartBuild", build + "churn-ci"))
    assert not is_allowed(trigger, Request("codebuild:StartBuild", build + "fraud-ci"))


def test_the_build_runs_the_repositorys_buildspec_as_the_ci_role(deployment, platform):
    (logical_id,) = [lid for lid, r in deployment.resources().items() if r["Type"] == "AWS::CodeBuild::Project"]
    build = deployment.properties(logical_id)
    assert build["Name"] == "churn-ci"  # build failures are recognised by the -ci suffix
    assert build["Source"] == {
        "Type": "CODECOMMIT",
        "Location": f"https://git-codecommit.{REGION}.amazonaws.com/v1/repos/churn",
        "BuildSpec": "buildspec.yml",
    }
    assert build["ServiceRole"] == f"{ROLES}/churn-ci"
    assert build["TimeoutInMinutes"] == platform.config.projects.ci_build_timeout_minutes >= 4 * 60
    assert build["EncryptionKey"] == "alias/mlops/project-ci"
    logs = build["LogsConfig"]["CloudWatchLogs"]
    assert logs == {"Status": "ENABLED", "GroupName": "/mlops/projects/ci", "StreamName": "churn"}
    variables = {v["Name"]: v["Value"] for v in build["Environment"]["EnvironmentVariables"]}
    assert variables == {
        "PROJECT_NAME": "churn",
        "AWS_REGION": REGION,
        "ARTIFACT_BUCKET": f"mlops-artifacts-{DEV_ACCOUNT}-{REGION}",
        "SAGEMAKER_PIPELINE_ROLE_ARN": f"{ROLES}/churn-pipeline",
        "PLATFORM_PREFIX": "mlops",
    }


def test_build_logs_are_encrypted_and_retained(platform, template_of):
    projects = template_of(platform.projects)
    found = projects.find_resources("AWS::Logs::LogGroup", {"Properties": {"LogGroupName": "/mlops/projects/ci"}})
    (group,) = found.values()
    assert group["Properties"]["RetentionInDays"] == 365 and "KmsKeyId" in group["Properties"]
    assert group["DeletionPolicy"] == "Retain"


# --- Per-project roles within the boundary -----------------------------------------------------------------


def _may(role, boundary: list[dict], action: str, resource: str, context: dict | None = None) -> bool:
    """What IAM allows a role with a permissions boundary: both its policy and the boundary must allow."""
    request = Request(action, resource, context or {})
    return is_allowed(role.statements, request) and is_allowed(boundary, request)


PENDING = {"sagemaker:ModelApprovalStatus": "PendingManualApproval"}


@pytest.mark.parametrize("role_name", ["churn-pipeline", "churn-ci"])
def test_project_roles_reach_their_project_and_no_other(roles, boundary, role_name):
    role = roles[role_name]
    assert role.boundary == BOUNDARY
    assert role.arn == f"{ROLES}/{role_name}"
    for action in ("s3:PutObject", "s3:GetObject"):
        assert _may(role, boundary, action, f"{BUCKET}/projects/churn/churn-dev-training/code/x.py")
        assert not _may(role, boundary, action, f"{BUCKET}/projects/fraud/fraud-dev-training/code/x.py")
    assert _may(role, boundary, "s3:GetObject", f"{BUCKET}/data/churn/dataset.csv")
    assert not _may(role, boundary, "s3:PutObject", f"{BUCKET}/data/churn/dataset.csv")
    assert not _may(role, boundary, "s3:PutObject", f"{BUCKET}/scratch/x")
    for group in ("churn-dev", "churn-prod"):
        assert _may(role, boundary, "sagemaker:CreateModelPackage", sagemaker(f"model-package/{group}/3"), PENDING)
    assert not _may(role, boundary, "sagemaker:CreateModelPackage", sagemaker("model-package/fraud-dev/3"), PENDING)
    approved = {"sagemaker:ModelApprovalStatus": "Approved"}
    assert not _may(role, boundary, "sagemaker:CreateModelPackage", sagemaker("model-package/churn-dev/3"), approved)
    assert not _may(role, boundary, "sagemaker:UpdateModelPackage", sagemaker("model-package/churn-dev/3"))
    assert not _may(role, boundary, "sagemaker:StartPipelineExecution", sagemaker("pipeline/fraud-dev-training"))
    kms = f"arn:aws:kms:{REGION}:{DEV_ACCOUNT}:key/0f1e2d3c"
    assert _may(role, boundary, "kms:Decrypt", kms, {"kms:ViaService": f"s3.{REGION}.amazonaws.com"})
    assert not _may(role, boundary, "kms:Decrypt", kms)


def test_the_ci_role_runs_the_projects_pipelines_as_its_pipeline_role(roles, boundary):
    ci = roles["churn-ci"]
    assert _may(ci, boundary, "sagemaker:StartPipelineExecution", sagemaker("pipeline/churn-dev-training"))
    assert _may(ci, boundary, "sagemaker:CreatePipeline", sagemaker("pipeline/churn-feature-training"))
    to_sagemaker = {"iam:PassedToService": "sagemaker.amazonaws.com"}
    assert _may(ci, boundary, "iam:PassRole", f"{ROLES}/churn-pipeline", to_sagemaker)
    assert not _may(ci, boundary, "iam:PassRole", f"{ROLES}/fraud-pipeline", to_sagemaker)
    assert not _may(ci, boundary, "iam:PassRole", f"{ROLES}/churn-ci", to_sagemaker)
    repository = f"arn:aws:codecommit:{REGION}:{DEV_ACCOUNT}:"
    assert _may(ci, boundary, "codecommit:GitPull", repository + "churn")
    assert not _may(ci, boundary, "codecommit:GitPull", repository + "fraud")


def test_the_boundary_caps_whatever_policy_a_project_role_is_given(boundary):
    everything = type("Role", (), {"statements": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})()
    for action, resource in (
        ("iam:CreateRole", f"arn:aws:iam::{DEV_ACCOUNT}:role/admin"),
        ("iam:PassRole", f"arn:aws:iam::{DEV_ACCOUNT}:role/mlops-promoter"),
        ("s3:PutObject", f"{BUCKET}/scratch/x"),
        ("s3:GetObject", f"arn:aws:s3:::mlops-models-{DEV_ACCOUNT}-{REGION}/x"),
        ("sagemaker:UpdateModelPackage", sagemaker("model-package/churn-prod/3")),
        ("sagemaker:CreateEndpoint", sagemaker("endpoint/churn-dev-endpoint")),
        ("codecommit:GitPush", f"arn:aws:codecommit:{REGION}:{DEV_ACCOUNT}:churn"),
    ):
        assert not _may(everything, boundary, action, resource), action


# --- The launch role creates only bounded roles under the path ------------------------------------------------


def test_the_launch_role_creates_project_roles_only_with_the_boundary_and_under_the_path(launch_role):
    with_boundary = {"iam:PermissionsBoundary": BOUNDARY}
    for action in ("iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:DeleteRole"):
        assert is_allowed(launch_role, Request(action, f"{ROLES}/churn-ci", with_boundary)), action
        assert not is_allowed(launch_role, Request(action, f"{ROLES}/churn-ci")), action  # no boundary
        other = {"iam:PermissionsBoundary": f"arn:aws:iam::{DEV_ACCOUNT}:policy/AdministratorAccess"}
        assert not is_allowed(launch_role, Request(action, f"{ROLES}/churn-ci", other)), action
        for outside in ("role/churn-ci", "role/service-role/churn-ci", "role/mlops-promoter"):
            resource = f"arn:aws:iam::{DEV_ACCOUNT}:{outside}"
            assert not is_allowed(launch_role, Request(action, resource, with_boundary)), (action, outside)


def test_the_launch_role_never_removes_or_changes_the_boundary(launch_role):
    assert not is_allowed(launch_role, Request("iam:DeleteRolePermissionsBoundary", f"{ROLES}/churn-ci"))
    for action in ("iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:SetDefaultPolicyVersion"):
        assert not is_allowed(launch_role, Request(action, BOUNDARY)), action


def test_the_launch_role_passes_only_the_ci_and_trigger_roles_to_their_services(launch_role):
    def passes(role: str, service: str) -> bool:
        return is_allowed(launch_role, Request("iam:PassRole", role, {"iam:PassedToService": service}))

    assert passes(f"{ROLES}/churn-ci", "codebuild.amazonaws.com")
    assert passes(f"{ROLES}/churn-ci-trigger", "events.amazonaws.com")
    assert not passes(f"{ROLES}/churn-pipeline", "codebuild.amazonaws.com")
    assert not passes(f"{ROLES}/churn-ci", "sagemaker.amazonaws.com")
    assert not passes(f"arn:aws:iam::{DEV_ACCOUNT}:role/mlops-promoter", "codebuild.amazonaws.com")


# --- GitHub --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def github_product(tmp_path_factory) -> dict:
    """The product template of an installation on GitHub that imports an existing OIDC provider."""
    context = {
        **default_context(),
        "platform.projects.repository_provider": "github",
        "platform.projects.github_organization": "acme-ml",
        "platform.projects.github_oidc_provider_arn": OIDC_PROVIDER,
    }
    config = load_config(context)
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("github-product")), context=context)
    parent = cdk.Stack(app, "Projects", env=cdk.Environment(account=DEV_ACCOUNT, region=REGION))
    cdk.CfnWaitConditionHandle(parent, "Placeholder")  # a stack needs a resource to be valid
    product = ProjectProductStack(
        parent,
        "Product",
        service_token=PlatformNames(config).project_template_function_arn,
        names=PlatformNames(config),
        settings=config.projects,
    )
    assembly = app.synth()
    return json.loads(Path(assembly.directory, product.template_file).read_text())


def _assume(role, subject: str, *, audience: str = "sts.amazonaws.com") -> bool:
    context = {f"{GITHUB_OIDC_HOST}:aud": audience, f"{GITHUB_OIDC_HOST}:sub": subject}
    request = Request("sts:AssumeRoleWithWebIdentity", role.arn, context, principal=OIDC_PROVIDER)
    return is_allowed(role.trust, request)


@pytest.mark.parametrize(
    ("subject", "allowed"),
    [
        ("repo:acme-ml/churn:ref:refs/heads/dev", True),
        ("repo:acme-ml/churn:ref:refs/heads/prod", True),
        ("repo:acme-ml/churn:ref:refs/heads/feature-better-trees", True),
        ("repo:acme-ml/fraud:ref:refs/heads/dev", False),
        ("repo:someone/churn:ref:refs/heads/dev", False),
        ("repo:acme-ml/churn:ref:refs/heads/main", False),
        ("repo:acme-ml/churn:ref:refs/tags/v1", False),
        ("repo:acme-ml/churn:pull_request", False),
        ("repo:acme-ml/churn:environment:production", False),
    ],
)
def test_only_the_repositorys_branches_assume_the_github_ci_role(github_product, subject, allowed):
    ci = product_roles(github_product, DEV_ACCOUNT)["churn-ci"]
    assert _assume(ci, subject) is allowed


def test_the_github_ci_role_wants_the_sts_audience_and_a_web_identity(github_product):
    ci = product_roles(github_product, DEV_ACCOUNT)["churn-ci"]
    assert not _assume(ci, "repo:acme-ml/churn:ref:refs/heads/dev", audience="https://github.com/acme-ml")
    request = Request("sts:AssumeRole", ci.arn, principal=OIDC_PROVIDER)
    assert not is_allowed(ci.trust, request)


def test_github_projects_get_their_actions_variables_and_no_codebuild(github_product):
    deployment = Deployment.of(github_product, PRODUCT_STACK_NAME, DEV_ACCOUNT, product_deployment())
    kinds = {resource["Type"] for resource in deployment.resources().values()}
    assert kinds == {"AWS::IAM::Role", ProjectParameters.RESOURCE_TYPE}
    variables = deployment.properties("ProjectTemplate")[ProjectParameters.VARIABLES_PROPERTY]
    assert {key: value for key, value in variables.items() if not key.endswith("_ARN")} == {
        "PROJECT_NAME": "churn",
        "AWS_REGION": REGION,
        "ARTIFACT_BUCKET": f"mlops-artifacts-{DEV_ACCOUNT}-{REGION}",
        "PLATFORM_PREFIX": "mlops",
    }
    assert variables["CI_ROLE_ARN"] == f"{ROLES}/churn-ci"
    assert variables["SAGEMAKER_PIPELINE_ROLE_ARN"] == f"{ROLES}/churn-pipeline"
    workflow = (
        Path(__file__).parents[2] / "project_templates/tabular-xgboost/.github/workflows/pipeline.yml"
    ).read_text()
    assert set(re.findall(r"vars\.([A-Z_]+)", workflow)) >= set(variables)


def test_the_platform_creates_the_github_oidc_provider_unless_one_is_configured(github_projects, github_product):
    github_projects.has_resource_properties(
        "AWS::IAM::OIDCProvider",
        {"Url": f"https://{GITHUB_OIDC_HOST}", "ClientIdList": ["sts.amazonaws.com"]},
    )
    (trust,) = product_roles(github_product, DEV_ACCOUNT)["churn-ci"].trust
    assert trust["Principal"] == {"Federated": OIDC_PROVIDER}  # the configured provider, not a new one

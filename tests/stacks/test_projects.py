"""Projects stack: the Studio-visible product, its launch role, the shared function and its files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from aws_cdk.assertions import Match, Template

from lambdas.contract import ProjectParameters
from mlops_constructs.personas import PROJECT_CREATORS
from stacks.projects import LAUNCH_ROLE_NAME, STUDIO_VISIBILITY_TAG
from tests.conftest import ROOT
from tests.iam_evaluation import Request, identity_statements, is_allowed

FUNCTION_ARN = "arn:aws:lambda:eu-west-1:111111111111:function:mlops-project-template"


@pytest.fixture(scope="module")
def projects(platform, template_of):
    return template_of(platform.projects)


@pytest.fixture(scope="module")
def product_template(platform, assembly) -> Template:
    """The template a project launches, as the product's provisioning artifact points to it."""
    return Template.from_json(
        json.loads(Path(assembly.directory, platform.projects.product_stack.template_file).read_text())
    )


def _statements(projects: Template, sid: str) -> list[dict]:
    found = []
    for policy in projects.find_resources("AWS::IAM::Policy").values():
        found += [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s.get("Sid") == sid]
    return found


def test_portfolio_is_shared_with_the_roles_that_create_projects(platform, projects):
    associations = projects.find_resources("AWS::ServiceCatalog::PortfolioPrincipalAssociation")
    assert len(associations) == len(PROJECT_CREATORS)
    rendered = json.dumps(associations)
    for persona in PROJECT_CREATORS:
        role_id = platform.studio.resolve(platform.studio.personas.roles[persona].node.default_child.logical_id)
        assert role_id in rendered
    assert "DataEngineer" not in rendered and "ModelApprover" not in rendered


def test_product_is_visible_in_studio_and_in_the_portfolio(projects):
    projects.has_resource_properties(
        "AWS::ServiceCatalog::CloudFormationProduct",
        {
            "Name": "mlops-tabular-xgboost",
            "Tags": Match.array_with([{"Key": STUDIO_VISIBILITY_TAG, "Value": "true"}]),
            "ProvisioningArtifactParameters": [Match.object_like({"Info": {"LoadTemplateFromURL": Match.any_value()}})],
        },
    )
    projects.resource_count_is("AWS::ServiceCatalog::PortfolioProductAssociation", 1)


def test_product_template_takes_sagemakers_parameters_and_calls_the_shared_function(product_template):
    assert set(product_template.to_json()["Parameters"]) == {
        ProjectParameters.PROJECT_NAME,
        ProjectParameters.PROJECT_ID,
    }
    product_template.has_resource_properties(
        ProjectParameters.RESOURCE_TYPE,
        {
            "ServiceToken": FUNCTION_ARN,
            "ServiceTimeout": "600",
            ProjectParameters.NAME_PROPERTY: {"Ref": ProjectParameters.PROJECT_NAME},
            ProjectParameters.ID_PROPERTY: {"Ref": ProjectParameters.PROJECT_ID},
        },
    )
    # CodeCommit: the repository's variables live on the build project, not in the repository
    assert (
        ProjectParameters.VARIABLES_PROPERTY
        not in product_template.to_json()["Resources"]["ProjectTemplate"]["Properties"]
    )


def test_deleting_a_project_removes_its_roles_and_ci_and_keeps_what_the_function_keeps(product_template):
    """Everything per project but the custom resource is a plain resource of the project's stack, deleted
    with it; the custom resource's Delete keeps the repository and groups (the function's tests)."""
    resources = product_template.to_json()["Resources"]
    kinds = sorted(resource["Type"] for resource in resources.values())
    assert kinds == sorted(
        ["AWS::IAM::Role"] * 3
        + ["AWS::CodeBuild::Project", "AWS::Events::Rule", "AWS::Events::Rule", ProjectParameters.RESOURCE_TYPE]
    )
    assert not [lid for lid, r in resources.items() if r.get("DeletionPolicy", "Delete") != "Delete"]


def test_the_function_is_named_as_the_product_calls_it(projects):
    projects.has_resource_properties(
        "AWS::Lambda::Function",
        {"FunctionName": "mlops-project-template", "Handler": "project_template.handler.handler", "Timeout": 300},
    )


def test_launch_constraint_uses_the_role_sagemaker_expects(projects):
    projects.has_resource_properties(
        "AWS::IAM::Role",
        {
            "RoleName": LAUNCH_ROLE_NAME,
            "Path": "/service-role/",
            "AssumeRolePolicyDocument": Match.object_like(
                {"Statement": [Match.object_like({"Principal": {"Service": "servicecatalog.amazonaws.com"}})]}
            ),
        },
    )
    roles = projects.find_resources("AWS::IAM::Role", {"Properties": {"RoleName": LAUNCH_ROLE_NAME}})
    projects.has_resource_properties(
        "AWS::ServiceCatalog::LaunchRoleConstraint",
        {"RoleArn": {"Fn::GetAtt": [next(iter(roles)), "Arn"]}},
    )


def test_launch_role_is_scoped(projects):
    roles = projects.find_resources("AWS::IAM::Role", {"Properties": {"RoleName": LAUNCH_ROLE_NAME}})
    role = next(iter(roles.values()))
    assert "ManagedPolicyArns" not in role["Properties"]  # no IAMFullAccess or any managed policy
    statements = [
        s
        for policy in projects.find_resources("AWS::IAM::Policy").values()
        if policy["Properties"]["Roles"] == [{"Ref": next(iter(roles))}]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    allowed = [s for s in statements if s["Effect"] == "Allow"]
    actions = {a for s in allowed for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert not any(a.endswith("*") for a in actions)
    iam_resources = {json.dumps(s["Resource"]) for s in allowed if any(a.startswith("iam:") for a in s["Action"])}
    assert iam_resources and all("role/mlops-projects/" in resource for resource in iam_resources)
    invoke = next(s for s in statements if s["Sid"] == "InvokeProjectTemplateFunction")
    assert invoke["Resource"] == FUNCTION_ARN
    stacks = next(s for s in statements if s["Sid"] == "ProjectStacks")
    assert stacks["Resource"] == "arn:aws:cloudformation:eu-west-1:111111111111:stack/SC-*"
    templates = next(s for s in statements if s["Sid"] == "ReadProductTemplates")
    assert templates["Condition"] == {"StringEquals": {"s3:ExistingObjectTag/servicecatalog:provisioning": "true"}}


def test_function_reads_exactly_its_template_files(platform, projects):
    asset = platform.projects.template_files
    (statement,) = _statements(projects, "ReadTemplateFiles")
    assert statement["Action"] == "s3:GetObject"
    assert platform.projects.resolve(statement["Resource"]) == (
        f"arn:aws:s3:::{platform.projects.resolve(asset.s3_bucket_name)}/{asset.s3_object_key}"
    )


def test_function_is_told_the_scenario_and_who_reads_the_groups(projects):
    function = next(iter(projects.find_resources("AWS::Lambda::Function").values()))
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["STAGES"] == "feature,dev,prod"
    assert variables["REPOSITORY_PROVIDER"] == "codecommit" and variables["ON_DELETE"] == "retain"
    assert json.loads(variables["MODEL_READER_ROLE_ARNS"]) == [
        "arn:aws:iam::222222222222:role/mlops-test-sagemaker-execution",
        "arn:aws:iam::222222222222:role/mlops-test-cfn-execution",
        "arn:aws:iam::333333333333:role/mlops-prod-sagemaker-execution",
        "arn:aws:iam::333333333333:role/mlops-prod-cfn-execution",
    ]


def test_lost_invocations_are_dead_lettered_and_never_retried(projects):
    projects.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "MaximumRetryAttempts": 0,
            "DestinationConfig": {
                "OnFailure": {"Destination": {"Fn::GetAtt": [Match.string_like_regexp("DeadLetters"), "Arn"]}}
            },
        },
    )
    projects.has_resource_properties(
        "AWS::CloudWatch::Alarm", {"AlarmName": "mlops-project-template-dead-letters", "Threshold": 1}
    )
    projects.has_resource_properties("AWS::CloudWatch::Alarm", {"AlarmName": "mlops-project-template-errors"})


def test_template_asset_holds_exactly_the_git_tracked_files(platform, assembly):
    """No .venv, caches or untracked files reach projects: the asset is what git tracks."""
    template = f"project_templates/{platform.config.projects.template}"
    staged = Path(assembly.directory, platform.projects.template_files.asset_path)
    shipped = sorted(str(path.relative_to(staged)) for path in staged.rglob("*") if path.is_file())
    tracked = subprocess.run(
        ["git", "ls-files", template], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert shipped == sorted(path.removeprefix(f"{template}/") for path in tracked)


@pytest.fixture(scope="module")
def persona_statements(platform, template_of):
    template = template_of(platform.studio).to_json()
    env = {"partition": "aws", "region": "eu-west-1", "account": "111111111111"}
    return {
        persona: identity_statements(template, platform.studio.resolve(role.node.default_child.logical_id), env)
        for persona, role in platform.studio.personas.roles.items()
    }


PROJECT = "arn:aws:sagemaker:eu-west-1:111111111111:project/churn"
PRODUCT = "arn:aws:catalog:eu-west-1:111111111111:product/prod-4x7uhmbnmqy2a"
REPOSITORY = "arn:aws:codecommit:eu-west-1:111111111111:churn"


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("sagemaker:CreateProject", PROJECT),
        ("sagemaker:DeleteProject", PROJECT),
        ("servicecatalog:ProvisionProduct", PRODUCT),
        ("servicecatalog:DescribeProduct", PRODUCT),
        ("servicecatalog:DescribeProductView", "*"),  # no resource-level permissions
        ("servicecatalog:SearchProducts", "*"),
        ("servicecatalog:DescribeRecord", "*"),
        ("codecommit:GitPull", REPOSITORY),
    ],
)
def test_project_creators_create_projects_from_studio_and_others_do_not(persona_statements, action, resource):
    for persona, statements in persona_statements.items():
        assert is_allowed(statements, Request(action, resource)) is (persona in PROJECT_CREATORS), persona


def test_no_persona_administers_the_catalog(persona_statements):
    for statements in persona_statements.values():
        for action in ("servicecatalog:CreateProduct", "servicecatalog:AssociatePrincipalWithPortfolio"):
            assert not is_allowed(statements, Request(action, "arn:aws:catalog:eu-west-1:111111111111:portfolio/p"))
        assert not is_allowed(statements, Request("servicecatalog:DescribeProductAsAdmin", PRODUCT))


def test_only_mlops_engineers_change_a_codecommit_prod_branch(persona_statements):
    def push(branch: str) -> Request:
        return Request("codecommit:GitPush", REPOSITORY, {"codecommit:References": f"refs/heads/{branch}"})

    assert is_allowed(persona_statements["data_scientist"], push("dev"))
    assert is_allowed(persona_statements["data_scientist"], push("feature-x"))
    assert not is_allowed(persona_statements["data_scientist"], push("prod"))
    assert is_allowed(persona_statements["mlops_engineer"], push("prod"))


def test_an_existing_launch_role_is_used_by_name_and_not_created(github_projects):
    assert github_projects.find_resources("AWS::IAM::Role", {"Properties": {"RoleName": LAUNCH_ROLE_NAME}}) == {}
    github_projects.has_resource_properties(
        "AWS::ServiceCatalog::LaunchRoleConstraint",
        {"RoleArn": f"arn:aws:iam::111111111111:role/service-role/{LAUNCH_ROLE_NAME}"},
    )


def test_github_installation_reads_only_its_token_secret(github_projects):
    (statement,) = _statements(github_projects, "ReadGitHubToken")
    assert statement["Resource"] == "arn:aws:secretsmanager:eu-west-1:111111111111:secret:mlops/github-token-??????"
    assert _statements(github_projects, "ProjectRepositories") == []  # no CodeCommit rights
    function = next(iter(github_projects.find_resources("AWS::Lambda::Function").values()))
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["GITHUB_ORGANIZATION"] == "acme-ml" and variables["GITHUB_API_URL"] == "https://api.github.com"
    assert variables["ON_DELETE"] == "archive"


def test_function_checks_projects_with_sagemaker_and_only_projects(platform, projects):
    (statement,) = _statements(projects, "VerifyProjects")
    assert statement["Action"] == "sagemaker:DescribeProject"
    assert platform.projects.resolve(statement["Resource"]) == "arn:aws:sagemaker:eu-west-1:111111111111:project/*"

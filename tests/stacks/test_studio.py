"""Studio stack: VPC-only domain, idle shutdown, persona roles and who may approve what."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk.assertions import Match

from tests.iam_evaluation import Request, identity_statements, is_allowed, resource_statements_for
from tests.template_deployments import product_roles

REGION, ACCOUNT = "eu-west-1", "111111111111"


def model_package(group: str, version: int = 3) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{group}/{version}"


@pytest.fixture(scope="module")
def studio(platform, template_of):
    return template_of(platform.studio)


@pytest.fixture(scope="module")
def persona_statements(platform, studio):
    """The effective identity statements of each persona role, resolved for the dev account."""
    template = studio.to_json()
    env = {"partition": "aws", "region": REGION, "account": ACCOUNT}
    return {
        persona: identity_statements(template, platform.studio.resolve(role.node.default_child.logical_id), env)
        for persona, role in platform.studio.personas.roles.items()
    }


def test_domain_is_vpc_only_with_iam_auth_and_kms(studio):
    studio.has_resource_properties(
        "AWS::SageMaker::Domain",
        {
            "AppNetworkAccessType": "VpcOnly",
            "AuthMode": "IAM",
            "KmsKeyId": Match.object_like({"Fn::GetAtt": Match.array_with([Match.string_like_regexp("StudioKey")])}),
            "SubnetIds": Match.any_value(),
        },
    )


def test_idle_apps_shut_down(studio):
    idle = {
        "AppLifecycleManagement": {
            "IdleSettings": Match.object_like({"LifecycleManagement": "ENABLED", "IdleTimeoutInMinutes": 60})
        }
    }
    studio.has_resource_properties(
        "AWS::SageMaker::Domain",
        {
            "DefaultUserSettings": Match.object_like(
                {
                    "JupyterLabAppSettings": Match.object_like(idle),
                    "CodeEditorAppSettings": idle,
                    "StudioWebPortal": "ENABLED",
                    "DefaultLandingUri": "studio::",
                }
            )
        },
    )


def test_one_profile_per_person_with_their_persona_role(platform, studio):
    for user in platform.config.users:
        role = platform.studio.personas.roles[user.persona]
        studio.has_resource_properties(
            "AWS::SageMaker::UserProfile",
            {
                "UserProfileName": user.name,
                "UserSettings": Match.object_like(
                    {
                        "ExecutionRole": {
                            "Fn::GetAtt": [platform.studio.resolve(role.node.default_child.logical_id), "Arn"]
                        }
                    }
                ),
                "Tags": Match.array_with([{"Key": "mlops:persona", "Value": user.persona}]),
            },
        )


def test_apps_security_group_has_no_ingress_from_outside_itself(studio):
    groups = studio.find_resources("AWS::EC2::SecurityGroup")
    apps = next(g for logical_id, g in groups.items() if "AppsSecurityGroup" in logical_id)
    assert "SecurityGroupIngress" not in apps["Properties"]  # ingress rules are self-references only
    for ingress in studio.find_resources("AWS::EC2::SecurityGroupIngress").values():
        assert ingress["Properties"]["SourceSecurityGroupId"] == ingress["Properties"]["GroupId"]


@pytest.mark.parametrize("group", ["churn-dev", "churn-prod", "churn-champion", "churn-challenger"])
@pytest.mark.parametrize("persona", ["data_scientist", "data_engineer", "mlops_engineer"])
def test_only_the_approver_changes_status_of_governed_groups(persona_statements, persona, group):
    request = Request(
        "sagemaker:UpdateModelPackage", model_package(group), {"sagemaker:ModelApprovalStatus": "Approved"}
    )
    assert not is_allowed(persona_statements[persona], request)
    assert is_allowed(persona_statements["model_approver"], request)


def test_data_scientist_approves_feature_packages_only(persona_statements):
    approve = "sagemaker:UpdateModelPackage"
    assert is_allowed(persona_statements["data_scientist"], Request(approve, model_package("churn-feature")))
    assert not is_allowed(persona_statements["data_scientist"], Request(approve, model_package("churn-dev")))
    # A project whose name ends in a stage word does not confuse the scoping.
    assert not is_allowed(persona_statements["data_scientist"], Request(approve, model_package("feature-prod")))
    assert is_allowed(persona_statements["data_scientist"], Request(approve, model_package("prod-feature")))


def test_data_scientist_registers_pending_packages_but_never_approved_ones(persona_statements):
    create = "sagemaker:CreateModelPackage"
    statements = persona_statements["data_scientist"]
    pending = {"sagemaker:ModelApprovalStatus": "PendingManualApproval"}
    approved = {"sagemaker:ModelApprovalStatus": "Approved"}
    assert is_allowed(statements, Request(create, model_package("churn-dev"), pending))
    assert not is_allowed(statements, Request(create, model_package("churn-dev"), approved))
    assert is_allowed(statements, Request(create, model_package("churn-feature"), approved))
    assert not is_allowed(persona_statements["model_approver"], Request(create, model_package("churn-dev"), pending))


def test_approver_cannot_run_jobs_or_write_artifacts(persona_statements):
    approver = persona_statements["model_approver"]
    assert not is_allowed(
        approver, Request("sagemaker:CreateTrainingJob", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/x")
    )
    assert not is_allowed(
        approver, Request("s3:PutObject", "arn:aws:s3:::mlops-artifacts-111111111111-eu-west-1/projects/a")
    )
    assert is_allowed(
        approver, Request("s3:GetObject", "arn:aws:s3:::mlops-artifacts-111111111111-eu-west-1/projects/a")
    )


def test_raw_data_is_written_by_data_engineers_only(persona_statements):
    put = Request("s3:PutObject", "arn:aws:s3:::mlops-artifacts-111111111111-eu-west-1/data/customers.csv")
    assert is_allowed(persona_statements["data_engineer"], put)
    for persona in ("data_scientist", "mlops_engineer", "model_approver"):
        assert not is_allowed(persona_statements[persona], put)


def test_job_runners_pass_only_their_own_role_to_sagemaker(platform, persona_statements):
    roles = platform.studio.personas.roles
    for persona in ("data_engineer", "data_scientist", "mlops_engineer"):
        own = f"<{platform.studio.resolve(roles[persona].node.default_child.logical_id)}.Arn>"
        other = f"<{platform.studio.resolve(roles['model_approver'].node.default_child.logical_id)}.Arn>"
        to_sagemaker = {"iam:PassedToService": "sagemaker.amazonaws.com"}
        assert is_allowed(persona_statements[persona], Request("iam:PassRole", own, to_sagemaker))
        assert not is_allowed(persona_statements[persona], Request("iam:PassRole", other, to_sagemaker))
        assert not is_allowed(
            persona_statements[persona], Request("iam:PassRole", own, {"iam:PassedToService": "ec2.amazonaws.com"})
        )


# --- Registered model artifacts: only the projects' pipeline roles write them ---------------------------------------

BUCKET = "arn:aws:s3:::mlops-artifacts-111111111111-eu-west-1"
REGISTERED_MODEL = f"{BUCKET}/projects/churn/training/9f1c2ab/model.tar.gz"


@pytest.fixture(scope="module")
def artifact_access(platform, studio, template_of):
    """``allowed(role_name, identity_statements, action, object_arn)``: identity and the artifact bucket's policy
    together, as IAM evaluates a request within the dev account."""
    store = template_of(platform.artifact_store).to_json()
    [policy] = [
        r
        for r in store["Resources"].values()
        if r["Type"] == "AWS::S3::BucketPolicy" and "Artifacts" in r["Properties"]["Bucket"]["Ref"]
    ]
    env = {"partition": "aws", "region": REGION, "account": ACCOUNT}

    bucket_arn = f"<{policy['Properties']['Bucket']['Ref']}.Arn>"

    def allowed(role_name: str, statements: list[dict], action: str, resource: str) -> bool:
        principal = f"arn:aws:iam::{ACCOUNT}:role/{role_name}"
        document = policy["Properties"]["PolicyDocument"]
        # The bucket's own policy names it by attribute; the personas' policies by its literal name.
        bucket_statements = json.loads(
            json.dumps(resource_statements_for(document, principal, store, env)).replace(bucket_arn, BUCKET)
        )
        context = {"aws:SecureTransport": "true"}
        return is_allowed(statements + bucket_statements, Request(action, resource, context, principal))

    return allowed


@pytest.fixture(scope="module")
def project_roles(platform, assembly):
    """The roles a project's stack creates, deployed for project ``churn``."""
    body = json.loads(Path(assembly.directory, platform.projects.product_stack.template_file).read_text())
    return product_roles(body, ACCOUNT)


@pytest.mark.parametrize("persona", ["data_engineer", "data_scientist", "mlops_engineer", "model_approver"])
@pytest.mark.parametrize("action", ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"])
def test_no_persona_writes_or_deletes_registered_model_artifacts(artifact_access, persona_statements, persona, action):
    role_name = f"mlops-{persona.replace('_', '-')}"
    assert not artifact_access(role_name, persona_statements[persona], action, REGISTERED_MODEL)


@pytest.mark.parametrize("persona", ["data_scientist", "mlops_engineer"])
def test_model_builders_write_scratch_and_job_code_but_no_model_artifact(artifact_access, persona_statements, persona):
    role_name, statements = f"mlops-{persona.replace('_', '-')}", persona_statements[persona]
    assert artifact_access(role_name, statements, "s3:GetObject", REGISTERED_MODEL)
    assert artifact_access(role_name, statements, "s3:PutObject", f"{BUCKET}/scratch/alice/model.tar.gz")
    assert artifact_access(role_name, statements, "s3:DeleteObject", f"{BUCKET}/scratch/alice/model.tar.gz")
    code = f"{BUCKET}/projects/churn/churn-dev-training/code/0a1b/evaluate.py"  # what defining a pipeline uploads
    assert artifact_access(role_name, statements, "s3:PutObject", code)
    assert not artifact_access(role_name, statements, "s3:DeleteObject", code)
    assert not artifact_access(role_name, statements, "s3:PutObject", f"{BUCKET}/projects/churn/other/model.tar.gz")
    assert not artifact_access(role_name, statements, "s3:PutObject", f"{BUCKET}/data/customers.csv")


def test_the_projects_pipeline_role_writes_and_deletes_its_registered_model_artifacts(artifact_access, project_roles):
    pipeline = project_roles["churn-pipeline"]
    role_name = pipeline.arn.split(":role/")[1]
    for action in ("s3:PutObject", "s3:DeleteObject", "s3:GetObject"):
        assert artifact_access(role_name, pipeline.statements, action, REGISTERED_MODEL)
    assert artifact_access(role_name, pipeline.statements, "s3:GetObject", f"{BUCKET}/data/x.csv")
    assert not artifact_access(role_name, pipeline.statements, "s3:PutObject", f"{BUCKET}/projects/fraud/model.tar.gz")


def test_the_projects_ci_role_uploads_job_code_but_no_model_artifact(artifact_access, project_roles):
    ci = project_roles["churn-ci"]
    role_name = ci.arn.split(":role/")[1]
    assert artifact_access(role_name, ci.statements, "s3:PutObject", f"{BUCKET}/projects/churn/code/evaluate.py")
    assert not artifact_access(role_name, ci.statements, "s3:PutObject", REGISTERED_MODEL)
    assert not artifact_access(role_name, ci.statements, "s3:DeleteObject", REGISTERED_MODEL)


def test_a_broad_policy_attached_to_a_persona_still_cannot_touch_registered_models(artifact_access):
    everything = [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]
    assert not artifact_access("mlops-data-scientist", everything, "s3:PutObject", REGISTERED_MODEL)
    assert not artifact_access("mlops-data-scientist", everything, "s3:DeleteObjectVersion", REGISTERED_MODEL)


def test_model_builders_may_pass_the_projects_pipeline_roles_to_sagemaker_and_data_engineers_may_not(
    persona_statements, project_roles
):
    to_sagemaker = {"iam:PassedToService": "sagemaker.amazonaws.com"}
    pass_pipeline_role = Request("iam:PassRole", project_roles["churn-pipeline"].arn, to_sagemaker)
    pass_ci_role = Request("iam:PassRole", project_roles["churn-ci"].arn, to_sagemaker)
    for persona, allowed in (("data_scientist", True), ("mlops_engineer", True), ("data_engineer", False)):
        assert is_allowed(persona_statements[persona], pass_pipeline_role) is allowed
        assert not is_allowed(persona_statements[persona], pass_ci_role)


def test_no_shared_pipeline_role_is_left(studio):
    assert not studio.find_resources("AWS::IAM::Role", {"Properties": {"RoleName": "mlops-pipeline-execution"}})
    assert not studio.find_resources("AWS::SSM::Parameter")


# --- Jobs stay in the VPC ------------------------------------------------------------------------------------

TRAINING_JOB = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/churn-train-1"
IN_VPC = {"sagemaker:VpcSubnets": "subnet-0a1b2c3d", "sagemaker:VpcSecurityGroupIds": "sg-0a1b2c3d"}


@pytest.mark.parametrize("persona", ["data_scientist", "mlops_engineer", "churn-pipeline"])
def test_training_jobs_start_only_inside_the_vpc(persona_statements, project_roles, persona):
    statements = project_roles[persona].statements if persona == "churn-pipeline" else persona_statements[persona]
    assert is_allowed(statements, Request("sagemaker:CreateTrainingJob", TRAINING_JOB, IN_VPC))
    assert not is_allowed(statements, Request("sagemaker:CreateTrainingJob", TRAINING_JOB))
    subnets_only = {"sagemaker:VpcSubnets": "subnet-0a1b2c3d"}
    assert not is_allowed(statements, Request("sagemaker:CreateTrainingJob", TRAINING_JOB, subnets_only))


def test_data_engineers_process_only_inside_the_vpc(persona_statements):
    job = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:processing-job/churn-prepare-1"
    assert is_allowed(persona_statements["data_engineer"], Request("sagemaker:CreateProcessingJob", job, IN_VPC))
    assert not is_allowed(persona_statements["data_engineer"], Request("sagemaker:CreateProcessingJob", job))


def test_the_vpc_guardrail_outlasts_a_broad_policy(persona_statements):
    everything = [{"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"}]
    statements = persona_statements["data_scientist"] + everything
    for action in ("CreateHyperParameterTuningJob", "CreateMonitoringSchedule", "CreateModel", "CreateAutoMLJobV2"):
        assert not is_allowed(statements, Request(f"sagemaker:{action}", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:x/y"))
        assert is_allowed(
            statements, Request(f"sagemaker:{action}", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:x/y", IN_VPC)
        )


def test_job_runners_read_the_job_network_parameters(persona_statements):
    for name in ("subnet-ids", "security-group-id"):
        parameter = Request("ssm:GetParameters", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/mlops/jobs/{name}")
        for persona in ("data_engineer", "data_scientist", "mlops_engineer"):
            assert is_allowed(persona_statements[persona], parameter)
        assert not is_allowed(persona_statements["model_approver"], parameter)


# --- Teardown that never blocks --------------------------------------------------------------------------------


def test_each_profile_is_cleared_of_apps_and_spaces_before_it_is_deleted(platform, studio):
    teardowns = studio.find_resources("Custom::StudioTeardown")
    profiles = studio.find_resources("AWS::SageMaker::UserProfile")
    assert len(teardowns) == len(platform.config.users) == len(profiles)
    domain = platform.studio.resolve(platform.studio.studio.domain.logical_id)
    for teardown in teardowns.values():
        name = teardown["Properties"]["UserProfileName"]
        [profile_id] = [i for i, p in profiles.items() if p["Properties"]["UserProfileName"] == name]
        assert profile_id in teardown["DependsOn"]  # so CloudFormation deletes the teardown first
        assert teardown["Properties"]["DomainId"] == {"Fn::GetAtt": [domain, "DomainId"]}
        assert int(teardown["Properties"]["ServiceTimeout"]) <= 960


def test_the_teardown_deletes_only_apps_and_spaces_of_the_domain(platform, studio):
    env = {"partition": "aws", "region": REGION, "account": ACCOUNT}
    role = platform.studio.teardown.function.role
    domain = platform.studio.resolve(platform.studio.studio.domain.logical_id)
    statements = identity_statements(
        studio.to_json(),
        platform.studio.resolve(role.node.default_child.logical_id),
        env,
        {f"{domain}.DomainId": "d-1"},
    )
    app = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:app/d-1/alice/jupyterlab/default"
    assert is_allowed(statements, Request("sagemaker:DeleteApp", app))
    assert is_allowed(
        statements, Request("sagemaker:DeleteSpace", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:space/d-1/lab")
    )
    assert not is_allowed(statements, Request("sagemaker:DeleteApp", app.replace("d-1", "d-2")))
    for action in ("DeleteUserProfile", "DeleteDomain"):
        assert not is_allowed(statements, Request(f"sagemaker:{action}", "*"))
    assert not any("elasticfilesystem" in json.dumps(s) for s in statements)  # home storage is never touched

"""The private package mirror: CodeArtifact behind the VPC endpoints, read-only for personas, and the
JupyterLab lifecycle script that points pip at it (run here against a fake ``aws`` command)."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
from aws_cdk.assertions import Match

from tests.iam_evaluation import Request, identity_statements, is_allowed

REGION, ACCOUNT = "eu-west-1", "111111111111"
DOMAIN_ARN = f"arn:aws:codeartifact:{REGION}:{ACCOUNT}:domain/mlops"
REPOSITORY_ARN = f"arn:aws:codeartifact:{REGION}:{ACCOUNT}:repository/mlops/pypi"
PACKAGE_ARN = f"arn:aws:codeartifact:{REGION}:{ACCOUNT}:package/mlops/pypi/pypi//pandas"


@pytest.fixture(scope="module")
def studio(platform, template_of):
    return template_of(platform.studio)


@pytest.fixture(scope="module")
def persona_statements(platform, studio):
    """Each persona's statements, with the mirror's GetAtt ARNs given their real values."""
    mirror = platform.studio.package_mirror
    attributes = {
        f"{platform.studio.resolve(mirror.domain.logical_id)}.Arn": DOMAIN_ARN,
        f"{platform.studio.resolve(mirror.repository.logical_id)}.Arn": REPOSITORY_ARN,
    }
    env = {"partition": "aws", "region": REGION, "account": ACCOUNT}
    return {
        persona: identity_statements(
            studio.to_json(), platform.studio.resolve(role.node.default_child.logical_id), env, attributes
        )
        for persona, role in platform.studio.personas.roles.items()
    }


def test_the_mirror_is_encrypted_retained_and_fetches_from_public_pypi(platform, studio):
    key = platform.studio.resolve(platform.studio.key.node.default_child.logical_id)
    studio.has_resource(
        "AWS::CodeArtifact::Domain",
        {
            "Properties": {"DomainName": "mlops", "EncryptionKey": {"Fn::GetAtt": [key, "Arn"]}},
            "DeletionPolicy": "Retain",
        },
    )
    upstream = platform.studio.resolve(platform.studio.package_mirror.upstream.logical_id)
    studio.has_resource(
        "AWS::CodeArtifact::Repository",
        {
            "Properties": Match.object_like(
                {"RepositoryName": "pypi-upstream", "ExternalConnections": ["public:pypi"]}
            ),
            "DeletionPolicy": "Retain",
        },
    )
    studio.has_resource(
        "AWS::CodeArtifact::Repository",
        {
            "Properties": Match.object_like(
                {"RepositoryName": "pypi", "Upstreams": [{"Fn::GetAtt": [upstream, "Name"]}]}
            ),
            "DeletionPolicy": "Retain",
        },
    )


def test_the_vpc_reaches_the_mirror_through_private_dns_endpoints(platform, template_of):
    network = template_of(platform.network)
    for service in ("codeartifact.api", "codeartifact.repositories"):
        network.has_resource_properties(
            "AWS::EC2::VPCEndpoint",
            {
                "ServiceName": f"com.amazonaws.{REGION}.{service}",
                "VpcEndpointType": "Interface",
                "PrivateDnsEnabled": True,
            },
        )


@pytest.mark.parametrize("persona", ["data_engineer", "data_scientist", "mlops_engineer", "model_approver"])
def test_personas_install_from_the_mirror_and_never_publish(persona_statements, persona):
    statements = persona_statements[persona]
    bearer = {"sts:AWSServiceName": "codeartifact.amazonaws.com"}
    assert is_allowed(statements, Request("codeartifact:GetAuthorizationToken", DOMAIN_ARN))
    assert is_allowed(statements, Request("sts:GetServiceBearerToken", "*", bearer))
    assert is_allowed(statements, Request("codeartifact:GetRepositoryEndpoint", REPOSITORY_ARN))
    assert is_allowed(statements, Request("codeartifact:ReadFromRepository", REPOSITORY_ARN))
    assert not is_allowed(statements, Request("codeartifact:PublishPackageVersion", PACKAGE_ARN))
    assert not is_allowed(statements, Request("codeartifact:PutPackageMetadata", PACKAGE_ARN))
    assert not is_allowed(statements, Request("codeartifact:DeletePackageVersions", PACKAGE_ARN))
    assert not is_allowed(statements, Request("codeartifact:UpdateRepository", REPOSITORY_ARN))
    assert not is_allowed(
        statements, Request("sts:GetServiceBearerToken", "*", {"sts:AWSServiceName": "other.amazonaws.com"})
    )


# --- The JupyterLab lifecycle configuration ------------------------------------------------------------------


@pytest.fixture(scope="module")
def lifecycle_script(platform, studio) -> str:
    [config] = studio.find_resources("AWS::SageMaker::StudioLifecycleConfig").values()
    assert config["Properties"]["StudioLifecycleConfigAppType"] == "JupyterLab"
    return base64.b64decode(config["Properties"]["StudioLifecycleConfigContent"]).decode()


def test_every_jupyterlab_app_starts_with_the_pip_mirror_script(platform, studio):
    lifecycle = platform.studio.resolve(next(iter(studio.find_resources("AWS::SageMaker::StudioLifecycleConfig"))))
    arn = {"Fn::GetAtt": [lifecycle, "StudioLifecycleConfigArn"]}
    studio.has_resource_properties(
        "AWS::SageMaker::Domain",
        {
            "DefaultUserSettings": Match.object_like(
                {
                    "JupyterLabAppSettings": Match.object_like(
                        {"DefaultResourceSpec": {"LifecycleConfigArn": arn}, "LifecycleConfigArns": [arn]}
                    )
                }
            )
        },
    )


def test_the_script_is_valid_bash(lifecycle_script, tmp_path):
    script = tmp_path / "lifecycle.sh"
    script.write_text(lifecycle_script)
    subprocess.run(["bash", "-n", str(script)], check=True)


FAKE_AWS = """#!/bin/bash
echo "$*" >> "$FAKE_LOG"
case "$2" in
  get-authorization-token) echo "token-$FAKE_TOKEN" ;;
  get-repository-endpoint) echo "https://mlops-111111111111.d.codeartifact.eu-west-1.amazonaws.com/pypi/pypi/" ;;
  *) exit 2 ;;
esac
"""
#: Records the background refresh instead of starting it.
FAKE_NOHUP = """#!/bin/bash
echo "nohup $*" >> "$FAKE_LOG"
"""


def run_lifecycle(script_text: str, tmp_path: Path, token: str = "1") -> tuple[subprocess.CompletedProcess, str]:
    bin_dir, home = tmp_path / "bin", tmp_path / "home"
    bin_dir.mkdir(exist_ok=True)
    home.mkdir(exist_ok=True)
    for name, text in (("aws", FAKE_AWS), ("nohup", FAKE_NOHUP)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    script = tmp_path / "lifecycle.sh"
    script.write_text(script_text)
    log = tmp_path / "calls.log"
    environment = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": str(home),
        "FAKE_LOG": str(log),
        "FAKE_TOKEN": token,
    }
    result = subprocess.run(["bash", str(script)], env=environment, capture_output=True, text=True, timeout=30)
    deadline = time.monotonic() + 10  # the refresh starts in the background: wait for the fake nohup's record
    while "nohup" not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.05)
    return result, log.read_text() if log.exists() else ""


def test_the_script_writes_the_pip_index_with_a_token_and_schedules_its_refresh(lifecycle_script, tmp_path):
    result, calls = run_lifecycle(lifecycle_script, tmp_path)
    assert result.returncode == 0, result.stderr
    config = tmp_path / "home" / ".config" / "pip" / "pip.conf"
    assert config.read_text() == (
        "[global]\n"
        "index-url = https://aws:token-1@mlops-111111111111.d.codeartifact.eu-west-1.amazonaws.com/pypi/pypi/simple/\n"
    )
    assert stat.S_IMODE(config.stat().st_mode) == 0o600  # the token is a credential
    token_call, endpoint_call, refresh = calls.splitlines()
    assert token_call == (
        f"codeartifact get-authorization-token --region {REGION} --domain mlops --domain-owner {ACCOUNT} "
        "--duration-seconds 43200 --query authorizationToken --output text"
    )
    assert (
        endpoint_call.startswith("codeartifact get-repository-endpoint")
        and "--repository pypi --format pypi" in endpoint_call
    )
    assert refresh.startswith("nohup bash -c while sleep") and "write_pip_config" in refresh


def test_a_refresh_replaces_the_token(lifecycle_script, tmp_path):
    run_lifecycle(lifecycle_script, tmp_path, token="1")
    run_lifecycle(lifecycle_script, tmp_path, token="2")
    config = (tmp_path / "home" / ".config" / "pip" / "pip.conf").read_text()
    assert "aws:token-2@" in config and "token-1" not in config
    assert [p.name for p in (tmp_path / "home" / ".config" / "pip").iterdir()] == ["pip.conf"]


def test_an_app_starts_even_when_the_first_login_fails(lifecycle_script, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text("#!/bin/bash\nexit 255\n")
    (bin_dir / "aws").chmod(0o755)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path), "FAKE_LOG": str(tmp_path / "log")}
    (bin_dir / "nohup").write_text(FAKE_NOHUP)
    (bin_dir / "nohup").chmod(0o755)
    script = tmp_path / "lifecycle.sh"
    script.write_text(lifecycle_script)
    result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and "pip mirror not configured yet" in result.stderr
    assert not (tmp_path / ".config" / "pip" / "pip.conf").exists()

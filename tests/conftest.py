"""Shared fixtures: one synthesized platform per test session (synthesis takes seconds)."""

from __future__ import annotations

import gc
import json
import os
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

ROOT = Path(__file__).resolve().parents[1]


def run_in_repository(command: list[str], *, timeout: float) -> str:
    """``command`` run from the repository's root; it must succeed (its output is the failure's message).
    Returns what it printed on standard output."""
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def default_context() -> dict:
    """The context ``cdk synth`` sees with no overrides: cdk.json plus the committed look-ups."""
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    context.update(json.loads((ROOT / "cdk.context.json").read_text()))
    return context


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory):
    """The whole platform with the default configuration, synthesized once (compliance checks included)."""
    return _synthesize(tmp_path_factory, default_context(), validate=_first_worker())


@pytest.fixture(scope="session")
def advanced_assembly(tmp_path_factory):
    """The cloud assembly of the platform in the advanced scenario (champions and challengers), for the
    advanced demo; synthesized on first use only."""
    return _synthesize(tmp_path_factory, {**default_context(), "platform.scenario": "advanced"})[1]


def _first_worker() -> bool:
    """Whether this is the only or the first of pytest-xdist's workers."""
    return os.environ.get("PYTEST_XDIST_WORKER", "gw0") == "gw0"


def _synthesize(tmp_path_factory, context: dict, *, validate: bool = True):
    """The platform built from ``context``, and its cloud assembly.

    ``validate``: run the CDK's built-in CloudFormation validation, as ``cdk synth`` does (about 60 % of a
    synthesis). It changes no template, so one worker's synthesis of the default app runs it and the other
    workers' identical copies skip it; the advanced app is synthesized once, validated.
    """
    import aws_cdk as cdk

    from app import build_platform
    from platform_config import load_config

    # What the CDK CLI adds to every synth: resource path metadata (cfn-lint recognises CDK templates by
    # it), asset metadata and the CDKMetadata resource, so the session's templates are the CLI's.
    context = {
        **context,
        "aws:cdk:enable-path-metadata": True,
        "aws:cdk:enable-asset-metadata": True,
        "aws:cdk:version-reporting": True,
    }
    app = cdk.App(
        outdir=str(tmp_path_factory.mktemp("cdk.out")), context=context, builtin_cloud_formation_validation=validate
    )
    platform = build_platform(app, load_config(context))
    assembly = app.synth()
    freeze_long_lived()  # the app and what building it imported
    return platform, assembly


def freeze_long_lived() -> None:
    """Leave every object alive now out of the garbage collector's full passes (``gc.freeze``).

    For what lives as long as the test session: the collector would otherwise scan it again at each of
    its full passes, which the moto tests, allocating much, trigger every test or two.
    """
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def platform(synthesized):
    """The stacks of the default installation (see ``app.Platform``)."""
    return synthesized[0]


@pytest.fixture(scope="session")
def assembly(synthesized):
    """The cloud assembly the default installation synthesizes to."""
    return synthesized[1]


@pytest.fixture(scope="session")
def template_of(assembly):
    """``template_of(stack)``: the assertions view of a synthesized stack, cached per stack."""
    from aws_cdk.assertions import Template

    cache: dict[str, Template] = {}

    def get(stack):
        if stack.artifact_id not in cache:
            artifact = assembly.get_stack_artifact(stack.artifact_id)
            cache[stack.artifact_id] = Template.from_json(artifact.template)
        return cache[stack.artifact_id]

    return get


@pytest.fixture(scope="session")
def all_templates(assembly) -> dict[str, dict]:
    """Every synthesized template of the platform as plain JSON, by stack name."""
    return _templates_of(assembly)


def _templates_of(assembly) -> dict[str, dict]:
    """Every template of ``assembly`` as plain JSON, by stack name."""
    return {artifact.stack_name: artifact.template for artifact in _stack_artifacts(assembly)}


def _stack_artifacts(assembly) -> list:
    """The stacks of the assembly, those of its nested assemblies (the deployable templates) included."""
    stacks = list(assembly.stacks)
    for nested in assembly.nested_assemblies:
        stacks.extend(nested.nested_assembly.stacks)
    return stacks


#: What the templates' pseudo parameters resolve to in a stack synthesized without an environment
#: (the deployable endpoint and monitor templates, deployed into any target account).
UNBOUND_ENVIRONMENT = {"account": "123456789012", "region": "eu-west-1", "partition": "aws"}


@pytest.fixture(scope="session")
def stack_environments(assembly) -> dict[str, dict[str, str]]:
    """The account, region and partition each template's pseudo parameters resolve to, by stack name."""
    return _environments_of(assembly)


def _environments_of(assembly) -> dict[str, dict[str, str]]:
    """The account, region and partition each template of ``assembly`` resolves its pseudo parameters to."""
    environments = {}
    for artifact in _stack_artifacts(assembly):
        account, region = artifact.environment.account, artifact.environment.region
        bound = account.isdigit()
        environments[artifact.stack_name] = (
            {"account": account, "region": region, "partition": "aws"} if bound else dict(UNBOUND_ENVIRONMENT)
        )
    return environments


@pytest.fixture(scope="session")
def synthesized_roles(all_templates, stack_environments):
    """The synthesized roles with their policies, to check the calls of the handlers (tests/handler_permissions.py)."""
    from tests.handler_permissions import SynthesizedRoles

    return SynthesizedRoles(all_templates, stack_environments)


@pytest.fixture(scope="session")
def advanced_roles(advanced_assembly):
    """The roles of the advanced scenario's app, as :func:`synthesized_roles` for the default one."""
    from tests.handler_permissions import SynthesizedRoles

    return SynthesizedRoles(_templates_of(advanced_assembly), _environments_of(advanced_assembly))


@pytest.fixture(scope="session")
def github_projects(tmp_path_factory):
    """The projects stack alone for an installation switched to GitHub and the console's launch role.

    The switch is the provider key and the organization only (the token secret takes its default
    name), as the README tells an installation whose account CodeCommit refuses.
    """
    import aws_cdk as cdk
    from aws_cdk import aws_iam as iam
    from aws_cdk.assertions import Template

    from mlops_constructs.personas import PROJECT_CREATORS
    from platform_config import load_config
    from stacks.projects import ProjectsStack

    context = {
        **default_context(),
        "platform.projects.repository_provider": "github",
        "platform.projects.github_organization": "acme-ml",
        "platform.projects.create_launch_role": "false",
        "platform.projects.on_delete": "archive",
    }
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("github")), context=context)
    env = cdk.Environment(account="111111111111", region="eu-west-1")
    roles_stack = cdk.Stack(app, "Roles", env=env)  # the Studio stack's part: the persona roles
    cdk.CfnWaitConditionHandle(roles_stack, "Placeholder")  # a stack needs a resource to be valid
    roles = {
        persona: iam.Role.from_role_name(roles_stack, persona, f"mlops-{persona.replace('_', '-')}")
        for persona in PROJECT_CREATORS
    }
    stack = ProjectsStack(app, "Projects", config=load_config(context), persona_roles=roles, env=env)
    return Template.from_stack(stack)


#: Tests that wait on a subprocess for many seconds (cfn-lint over the assemblies, the demos): run first, so
#: that under ``--dist loadfile`` the other worker goes on meanwhile, rather than one worker ending the
#: run alone with cfn-lint while the other is idle.
RUN_FIRST = ("tests/test_cfn_lint.py", "tests/test_demo.py", "tests/test_demo_advanced.py")


def pytest_collection_modifyitems(items) -> None:
    items.sort(key=lambda item: item.path.relative_to(ROOT).as_posix() not in RUN_FIRST)  # a stable sort

"""cdk-nag runs over the whole app: unacknowledged findings fail synthesis; acknowledgments are narrow."""

from __future__ import annotations

import json
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3

from mlops_constructs.compliance import acknowledge, acknowledge_wildcards, apply_compliance_checks


def _app_with(tmp_path, build) -> cdk.App:
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Probe", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    build(stack)
    apply_compliance_checks(app)
    return app


def _tls_bucket(stack):
    bucket = s3.Bucket(stack, "Bucket", enforce_ssl=True)
    return bucket


def test_platform_synthesizes_with_zero_findings(assembly):
    """The session fixture synthesized with the checks on: any finding would have raised there."""
    report_file = Path(assembly.directory) / "validation-report.json"
    reports = json.loads(report_file.read_text())["pluginReports"] if report_file.exists() else []
    assert [(r["pluginName"], r["violations"]) for r in reports if r["violations"]] == []
    assert all(report["conclusion"] == "success" for report in reports)


def test_unacknowledged_finding_fails_synthesis(tmp_path):
    app = _app_with(tmp_path, _tls_bucket)  # no server access logs: AwsSolutions-S1
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = (tmp_path / "validation-report.json").read_text()
    assert "AwsSolutions-S1" in report


def test_acknowledged_finding_passes(tmp_path):
    def build(stack):
        acknowledge(_tls_bucket(stack), "AwsSolutions-S1", "probe bucket for this test")

    _app_with(tmp_path, build).synth()


def _role_with(stack, resources):
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=resources))
    return role


def test_wildcard_acknowledgment_covers_matching_findings_only(tmp_path):
    def build(stack):
        role = _role_with(stack, ["arn:aws:s3:::probe/reports/*", "arn:aws:s3:::probe/secrets/*"])
        acknowledge_wildcards(role, {"Resource::arn:aws:s3:::probe/reports/*": "reports are public to the team"})

    app = _app_with(tmp_path, build)
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = (tmp_path / "validation-report.json").read_text()
    assert "secrets/*" in report
    assert "reports/*" not in report


def test_wildcard_acknowledgment_resolves_account_specific_arns(tmp_path):
    def build(stack):
        arn = stack.format_arn(service="sagemaker", resource="training-job", resource_name="*")
        acknowledge_wildcards(_role_with(stack, [arn]), {"Resource::arn:*:sagemaker:*:training-job/*": "jobs"})

    _app_with(tmp_path, build).synth()

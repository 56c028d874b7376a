"""Network stack: isolated subnets only, the S3 gateway, private-DNS interface endpoints, flow logs."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from stacks.network import CODECOMMIT_ENDPOINTS, STUDIO_ENDPOINTS


@pytest.fixture(scope="module")
def network(platform, template_of):
    return template_of(platform.network)


def test_no_path_to_the_internet(network):
    assert network.find_resources("AWS::EC2::InternetGateway") == {}
    assert network.find_resources("AWS::EC2::NatGateway") == {}
    for subnet in network.find_resources("AWS::EC2::Subnet").values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False


def test_two_availability_zones_from_the_committed_lookup(network):
    zones = {s["Properties"]["AvailabilityZone"] for s in network.find_resources("AWS::EC2::Subnet").values()}
    assert zones == {"eu-west-1a", "eu-west-1b"}


def test_vpc_uses_the_configured_cidr(network, platform):
    network.has_resource_properties("AWS::EC2::VPC", {"CidrBlock": platform.config.vpc_cidr})


def test_s3_gateway_and_only_the_listed_interface_endpoints(network):
    network.has_resource_properties(
        "AWS::EC2::VPCEndpoint",
        {"VpcEndpointType": "Gateway", "ServiceName": Match.object_like({"Fn::Join": Match.any_value()})},
    )
    interface = [
        e
        for e in network.find_resources("AWS::EC2::VPCEndpoint").values()
        if e["Properties"].get("VpcEndpointType") == "Interface"
    ]
    # The default installation keeps project repositories in CodeCommit, which Studio reaches privately too.
    assert len(interface) == len(STUDIO_ENDPOINTS) + len(CODECOMMIT_ENDPOINTS)
    assert all(e["Properties"]["PrivateDnsEnabled"] is True for e in interface)


def test_endpoints_accept_https_from_the_vpc_only(network, platform):
    network.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "SecurityGroupIngress": [
                Match.object_like({"CidrIp": platform.config.vpc_cidr, "FromPort": 443, "ToPort": 443})
            ]
        },
    )


def test_flow_logs_capture_all_traffic(network):
    network.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "ALL", "ResourceType": "VPC"})
    network.has_resource("AWS::Logs::LogGroup", {"DeletionPolicy": "Retain"})


def test_jobs_run_in_the_isolated_subnets_with_their_own_security_group(network, platform):
    subnets = network.find_resources("AWS::EC2::Subnet")
    network.has_resource_properties(
        "AWS::SSM::Parameter",
        {"Name": "/mlops/jobs/subnet-ids", "Type": "StringList", "Value": Match.any_value()},
    )
    [subnet_list] = [
        p["Properties"]["Value"]
        for p in network.find_resources("AWS::SSM::Parameter").values()
        if p["Properties"]["Name"] == "/mlops/jobs/subnet-ids"
    ]
    assert sorted(ref["Ref"] for ref in subnet_list["Fn::Join"][1]) == sorted(subnets)
    jobs_group = platform.network.resolve(platform.network.jobs.security_group.security_group_id)
    network.has_resource_properties(
        "AWS::SSM::Parameter", {"Name": "/mlops/jobs/security-group-id", "Type": "String", "Value": jobs_group}
    )


def test_job_instances_talk_to_each_other_and_to_nothing_else_but_https(network, platform):
    group_id = platform.network.resolve(platform.network.jobs.security_group.node.default_child.logical_id)
    group = network.find_resources("AWS::EC2::SecurityGroup")[group_id]["Properties"]
    assert "SecurityGroupIngress" not in group
    assert group["SecurityGroupEgress"] == [
        {
            "CidrIp": "0.0.0.0/0",
            "Description": "VPC and S3 gateway endpoints",
            "FromPort": 443,
            "IpProtocol": "tcp",
            "ToPort": 443,
        }
    ]
    rules = [
        r["Properties"]
        for kind in ("AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress")
        for r in network.find_resources(kind).values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}
    ]
    assert len(rules) == 2
    for rule in rules:
        peer = rule.get("SourceSecurityGroupId") or rule.get("DestinationSecurityGroupId")
        assert peer == {"Fn::GetAtt": [group_id, "GroupId"]} and rule["IpProtocol"] == "-1"

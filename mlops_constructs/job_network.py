"""SageMaker jobs inside the isolated VPC: where they run, and a guardrail that they never run outside it.

The platform publishes the isolated subnets and a security group for jobs as SSM parameters, which
project pipelines read when they define their steps (so a project's repository holds no ids), and
:func:`jobs_stay_in_vpc` denies creating a job without a VPC configuration to any role it is added to.

Which Create actions carry the ``sagemaker:VpcSubnets`` and ``sagemaker:VpcSecurityGroupIds`` condition
keys (IAM service authorization reference): training, processing, hyper-parameter tuning and AutoML jobs,
monitoring schedules and the four monitoring job definitions, and models. ``CreateTransformJob`` carries
none: a transform job runs in the VPC of the model it names, so denying ``CreateModel`` without a VPC
configuration keeps transform jobs (and Clarify's shadow endpoints) in the VPC too.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ssm as ssm
from constructs import Construct

#: The SageMaker actions whose requests say whether the job runs in a VPC (``sagemaker:Vpc*`` keys).
VPC_BOUND_ACTIONS = (
    "sagemaker:CreateTrainingJob",
    "sagemaker:CreateProcessingJob",
    "sagemaker:CreateHyperParameterTuningJob",
    "sagemaker:CreateAutoMLJob",
    "sagemaker:CreateAutoMLJobV2",
    "sagemaker:CreateMonitoringSchedule",
    "sagemaker:CreateDataQualityJobDefinition",
    "sagemaker:CreateModelQualityJobDefinition",
    "sagemaker:CreateModelBiasJobDefinition",
    "sagemaker:CreateModelExplainabilityJobDefinition",
    "sagemaker:CreateModel",
)
VPC_CONDITION_KEYS = ("sagemaker:VpcSubnets", "sagemaker:VpcSecurityGroupIds")


def jobs_stay_in_vpc(sid_prefix: str = "JobsStayInVpc") -> list[iam.PolicyStatement]:
    """Explicit denies of every VPC-bound SageMaker Create action whose request lacks subnets or
    security groups: one statement per key, since the keys of one ``Null`` block must all hold."""
    return [
        iam.PolicyStatement(
            sid=f"{sid_prefix}{key.split(':')[1]}",
            effect=iam.Effect.DENY,
            actions=list(VPC_BOUND_ACTIONS),
            resources=["*"],
            conditions={"Null": {key: "true"}},
        )
        for key in VPC_CONDITION_KEYS
    ]


def read_job_network(parameter_arns: Sequence[str]) -> iam.PolicyStatement:
    """Reading the SSM parameters that name the jobs' subnets and security group: whoever defines a
    project's pipeline (people in Studio, the project's CI) reads them."""
    return iam.PolicyStatement(
        sid="ReadJobNetwork", actions=["ssm:GetParameter", "ssm:GetParameters"], resources=list(parameter_arns)
    )


class JobNetwork(Construct):
    """The security group SageMaker jobs run with in the isolated subnets, and the SSM parameters
    naming both (``subnets_parameter``: a StringList of subnet ids; ``security_group_parameter``).

    Job instances talk to each other (distributed training, inter-container traffic encryption uses
    IPsec: UDP 500 and ESP) and reach AWS over HTTPS through the VPC endpoints and the S3 gateway.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: Sequence[ec2.ISubnet],
        subnets_parameter: str,
        security_group_parameter: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="SageMaker jobs: traffic between the instances of a job, HTTPS to VPC and S3 gateway endpoints",
            allow_all_outbound=False,
        )
        self.security_group.add_ingress_rule(self.security_group, ec2.Port.all_traffic(), "between a job's instances")
        self.security_group.add_egress_rule(self.security_group, ec2.Port.all_traffic(), "between a job's instances")
        # No route leads out of the VPC: HTTPS reaches only the interface endpoints and the S3 gateway
        # endpoint, whose addresses (S3's prefix list) are not in the VPC's range.
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "VPC and S3 gateway endpoints")
        ssm.StringListParameter(
            self,
            "SubnetsParameter",
            parameter_name=subnets_parameter,
            string_list_value=[subnet.subnet_id for subnet in subnets],
            description="Isolated subnets SageMaker jobs run in (NetworkConfig subnets of project pipelines)",
        )
        ssm.StringParameter(
            self,
            "SecurityGroupParameter",
            parameter_name=security_group_parameter,
            string_value=self.security_group.security_group_id,
            description="Security group SageMaker jobs run with (NetworkConfig of project pipelines)",
        )

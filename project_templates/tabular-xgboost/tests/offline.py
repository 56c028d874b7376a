"""The fake AWS world of the tests: no account, no network.

Importing this module (conftest does, before anything imports the SDK) points boto3 at fake
credentials, so every AWS call must go to moto, and turns off the SDK's client-side role validation
(an IAM policy simulation that moto does not implement). Telemetry is off in the pipeline's session.
"""

from __future__ import annotations

import os
from pathlib import Path

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's account
BUCKET = f"mlops-artifacts-{ACCOUNT}-{REGION}"
PROJECT = "churn"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/mlops-data-scientist"
ROOT = Path(__file__).resolve().parents[1]
#: What the platform's network stack publishes under ``/mlops/jobs/``.
JOB_SUBNETS = ("subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002")
JOB_SECURITY_GROUP = "sg-0a1b2c3d4e5f60003"

os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_SESSION_TOKEN="testing",
    AWS_DEFAULT_REGION=REGION,
    SAGEMAKER_VALIDATE_ROLE="false",
)

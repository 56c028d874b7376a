"""The AWS clients of a Lambda environment: created once, on first use, from one boto3 session.

Every handler reaches AWS through :class:`Clients`, its own account's services as attributes and a
target account's through an assumed role, so the clients (and their connections) are reused across
invocations and tests can hand the handlers a session bound to moto.
"""

from __future__ import annotations

import boto3
from botocore.config import Config


class Clients:
    """The AWS clients of one Lambda environment, each created on first use and reused afterwards.

    Every client, including those assumed in target accounts, comes from ``session``, so tests can
    pass a session bound to moto (and register botocore event hooks on it).
    """

    def __init__(self, session: boto3.Session | None = None) -> None:
        self.session = session or boto3.Session()

    def __getattr__(self, name: str):
        """``clients.sagemaker``, ``clients.sagemaker_runtime``...: the service's client, created once."""
        if name.startswith("_"):
            raise AttributeError(name)
        client = self.session.client(name.replace("_", "-"))
        setattr(self, name, client)
        return client

    def in_account(
        self,
        service: str,
        *,
        role_arn: str,
        session_name: str,
        region: str,
        policy: str | None = None,
        config: Config | None = None,
    ):
        """A client of ``service`` acting as ``role_arn`` (an assumed role, usually in another account),
        limited further by the session ``policy`` (JSON) when one is given, with the client ``config``."""
        restriction = {"Policy": policy} if policy else {}
        credentials = self.sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name, **restriction)["Credentials"]
        return self.session.client(
            service,
            region_name=region,
            config=config,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

"""What the test processes share of botocore (``tests/botocore_sharing.py``) stays shared only where unchanged."""

from __future__ import annotations

import copy

import boto3
import botocore.hooks

from tests import botocore_sharing

botocore_sharing.install()


def _handlers(emitter: botocore.hooks.HierarchicalEmitter, event: str) -> list:
    return list(emitter._handlers.prefix_search(event))


def test_a_handler_added_to_a_copy_of_an_event_trie_is_its_own():
    def original(**_):
        return None

    def added(**_):
        return None

    session = botocore.hooks.HierarchicalEmitter()
    session.register("before-call.sqs.SendMessage", original)
    client = copy.copy(session)
    client.register("before-call.sqs.SendMessage", added)
    client.register("before-call.sqs", added)

    assert _handlers(session, "before-call.sqs.SendMessage") == [original]
    assert _handlers(client, "before-call.sqs.SendMessage") == [original, added, added]

    client.unregister("before-call.sqs.SendMessage", original)
    assert _handlers(session, "before-call.sqs.SendMessage") == [original]
    assert _handlers(client, "before-call.sqs.SendMessage") == [added, added]


def test_clients_of_one_session_keep_their_own_event_handlers_and_state():
    session = boto3.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="eu-west-1")
    first, second = session.client("sqs"), session.client("sqs", region_name="us-east-1")
    seen = []
    first.meta.events.register("before-parameter-build.sqs.SendMessage", lambda **_: seen.append("first"))

    assert first.meta.service_model is second.meta.service_model  # shared: read only
    assert first.meta.region_name == "eu-west-1" and second.meta.region_name == "us-east-1"
    assert _handlers(second.meta.events._emitter, "before-parameter-build.sqs.SendMessage") == _handlers(
        session._session.get_component("event_emitter")._emitter, "before-parameter-build.sqs.SendMessage"
    )
    assert len(_handlers(first.meta.events._emitter, "before-parameter-build.sqs.SendMessage")) == (
        len(_handlers(second.meta.events._emitter, "before-parameter-build.sqs.SendMessage")) + 1
    )

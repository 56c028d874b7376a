"""The base of the handlers fed EventBridge events through SQS: batches, idempotency, retries, logging.

The promoter, the tracker, the integration tester and the monitoring loop all consume an SQS queue of
EventBridge events; :class:`QueuedEventHandler` does for each of them what is the same: it processes
each event once per event id, reports failed records so SQS redelivers them (:class:`RetryLater` for a
message that cannot be handled yet), logs with the event id, and gives them the ledger and alerts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from alerts import Alerts
from clients import Clients
from envelope import event_of
from ledger import Ledger
from settings import CommonSettings

#: Sort key of the idempotency records; their partition key names the function.
IDEMPOTENCY_SORT_KEY = "sk"
IDEMPOTENCY_EXPIRY_ATTRIBUTE = "expiration"
#: An event redelivered within this time is recognised and not processed again.
IDEMPOTENCY_SECONDS = 24 * 3600


class RetryLater(Exception):
    """The message cannot be handled now but can be later: its SQS record is reported as failed and comes back."""


logger = Logger()


class QueuedEventHandler:
    """Base of the handlers fed EventBridge events through SQS.

    Each record is an event processed once per event id (Powertools idempotency, records in the
    ledger table under ``IDEMPOTENCY#<name>``); a record whose processing raises is reported as a
    batch item failure so SQS redelivers it (and after the queue's maximum receives moves it to the
    dead-letter queue); every log line carries the event id. Subclasses implement :meth:`process`.
    """

    #: Names the idempotency records and the log service of the subclass.
    name = ""

    def __init__(self, common: CommonSettings, clients: Clients) -> None:
        self.clients = clients
        self.ledger = Ledger(clients.dynamodb, common.ledger_table)
        self.alerts = Alerts(clients.sns, common.alert_topic_arn)
        self._processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self._idempotency = IdempotencyConfig(
            event_key_jmespath="id", raise_on_no_idempotency_key=True, expires_after_seconds=IDEMPOTENCY_SECONDS
        )
        persistence = DynamoDBPersistenceLayer(
            table_name=common.ledger_table,
            key_attr="pk",
            sort_key_attr=IDEMPOTENCY_SORT_KEY,
            static_pk_value=f"IDEMPOTENCY#{self.name}",
            expiry_attr=IDEMPOTENCY_EXPIRY_ATTRIBUTE,
            boto3_client=clients.dynamodb,
        )
        self._process_once = idempotent_function(
            data_keyword_argument="event",
            persistence_store=persistence,
            config=self._idempotency,
            key_prefix=f"{self.name}-event",
        )(self.process)

    def handle(self, event: dict[str, Any], context) -> dict[str, Any]:
        """Process an SQS batch; failed records (busy stacks, AWS errors) are reported for redelivery."""
        self._idempotency.register_lambda_context(context)
        return process_partial_response(
            event=event, record_handler=self._handle_record, processor=self._processor, context=context
        )

    def _handle_record(self, record: SQSRecord) -> None:
        event = event_of(record.body)
        event_id = event.get("id") if event else None
        if not isinstance(event_id, str) or not event_id:
            logger.warning("Dropped a message that is no EventBridge event", extra={"message_id": record.message_id})
            return
        logger.append_keys(event_id=event_id)
        try:
            self._process_once(event=event)
        except RetryLater as later:
            logger.info("Message will come back later", extra={"reason": str(later)})
            raise
        except Exception as error:
            # Powertools reports the record as failed but logs why only at debug level: without this line a
            # message that keeps failing would reach the dead-letter queue with its cause nowhere in the logs.
            logger.exception("Event processing failed; the message will come back", extra={"error": repr(error)})
            raise
        finally:
            logger.remove_keys(["event_id", "project", "stage"])

    def process(self, event: dict[str, Any]) -> dict[str, str]:
        """Apply one event; return a small summary (it is what the idempotency record stores)."""
        raise NotImplementedError

    @staticmethod
    def drop(reason: str, event: Mapping[str, Any] | None = None) -> dict[str, str]:
        """Log why an event is dropped (acknowledged, never retried)."""
        origin = {"source": event.get("source"), "type": event.get("detail-type")} if event else {}
        logger.warning("Dropped event", extra={"reason": reason, **origin})
        return {"result": "DROPPED", "reason": reason}

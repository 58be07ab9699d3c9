"""Errors raised by the banking-cdc provider; each message names the service or key at fault."""

from __future__ import annotations

from airflow.exceptions import AirflowException


class BankingCdcError(AirflowException):
    """Base class of this provider's errors."""


class KafkaConnectError(BankingCdcError):
    """The Kafka Connect REST API failed or answered with an error.

    :param message: What went wrong, naming the worker and the request.
    :param http_status: The HTTP status of the answer, if the worker answered.
    """

    def __init__(self, message: str, http_status: int | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status


class ServiceUnhealthyError(BankingCdcError):
    """A pipeline service failed its health check."""


class CaptureConfigError(BankingCdcError):
    """The capture configuration (``capture.yaml``) is invalid; the message names the key."""


class TopicMismatchError(BankingCdcError):
    """An existing Kafka topic does not match its declared partition count."""

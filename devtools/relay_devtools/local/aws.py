"""relay local's AWS: moto's server in this process, holding the queues (webhooks, calls and panics),
their DLQ, the tables and secrets that template.yaml declares, and the environment the real handlers
build their clients from, as in Lambda."""

from __future__ import annotations

import contextlib
import logging
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

from relay_devtools.files.secrets_file import SecretsFile
from relay_devtools.files.template import (
    QueueSettings,
    create_queue_into,
    create_queue_with_dlq,
    create_table,
    load_template,
)
from relay_devtools.local.moto_tuning import speed_up_routing, speed_up_sqs

REGION = "us-east-1"
# Env var each table's name goes to, by the table's logical id in template.yaml.
TABLE_ENV = {"UnitStateTable": "STATE_TABLE", "ReplayTable": "REPLAY_TABLE", "ArchiveTable": "ARCHIVE_TABLE"}


@dataclass
class LocalAws:
    server: ThreadedMotoServer
    endpoint: str
    queue_url: str = ""
    dlq_url: str = ""
    emergency_queue_url: str = ""

    @classmethod
    def start(cls, host: str, port: int, config: Path) -> LocalAws:
        """moto's server, and the environment that points every AWS client of this process at it."""
        # moto's werkzeug server logs every request (the consumer polls): keep the terminal for the relay.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        speed_up_sqs()
        speed_up_routing()
        server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        server.start()
        bound_host, bound_port = server.get_host_and_port()
        aws = cls(server, f"http://{bound_host}:{bound_port}")
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": aws.endpoint,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
                "POWERTOOLS_METRICS_NAMESPACE": "NorthcaRelayLocal",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "RELAY_CONFIG": str(config.resolve()),
                # The archive's and the pacing's calls are best effort, with Lambda's short timeouts;
                # moto on a busy laptop is slower than DynamoDB (relay.handlers.wiring).
                "RELAY_BEST_EFFORT_TIMEOUT": "5",
            }
        )
        return aws

    def declare(
        self,
        template: Path,
        queue: QueueSettings,
        visibility_timeout: int,
        secrets: SecretsFile,
        bundle: str | None = None,
    ) -> None:
        """The queue with its DLQ, the tables and the secrets, their names in the handlers' environment."""
        self.queue_url, self.dlq_url = create_queue_with_dlq(
            boto3.client("sqs"),
            "northca-relay",
            visibility_timeout=visibility_timeout,
            max_receive_count=queue.max_receive_count,
        )
        self.emergency_queue_url = create_queue_into(
            boto3.client("sqs"),
            "northca-relay-emergency-queue",
            self.dlq_url,
            visibility_timeout=visibility_timeout,
            max_receive_count=queue.max_receive_count,
        )
        os.environ.update(
            {
                "QUEUE_URL": self.queue_url,
                "DLQ_URL": self.dlq_url,
                "EMERGENCY_QUEUE_URL": self.emergency_queue_url,
                "MAX_RECEIVE_COUNT": str(queue.max_receive_count),
            }
        )
        self._create_tables(template)
        # The handlers build their clients from this environment once: forget any earlier stack's.
        from relay.handlers import wiring

        wiring.reset()
        put_secrets(secrets, bundle)

    @staticmethod
    def _create_tables(template_path: Path) -> None:
        dynamodb = boto3.client("dynamodb")
        template = load_template(template_path)
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::DynamoDB::Table":
                continue
            name = f"northca-relay-{logical_id}"
            create_table(dynamodb, template, logical_id, name)
            if logical_id in TABLE_ENV:
                os.environ[TABLE_ENV[logical_id]] = name

    def stop(self) -> None:
        # moto's state lives in this process: empty it, so a later stack here starts from nothing.
        reset = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")  # noqa: S310
        with contextlib.suppress(OSError):
            urllib.request.urlopen(reset, timeout=10).close()  # noqa: S310 - moto on loopback
        self.server.stop()


def put_secrets(secrets: SecretsFile, bundle: str | None = None) -> None:
    """The file's secrets in moto's Secrets Manager, created or given their new value: as one bundle
    (relay.toml's [secrets] bundle, every value an entry of it), or a secret per name."""
    secretsmanager = boto3.client("secretsmanager")
    values = (
        {bundle: secrets.as_bundle_string()}
        if bundle is not None
        else {name: secrets.as_secret_string(name) for name in secrets.secrets}
    )
    for name, value in values.items():
        try:
            secretsmanager.put_secret_value(SecretId=name, SecretString=value)
        except secretsmanager.exceptions.ResourceNotFoundException:
            secretsmanager.create_secret(Name=name, SecretString=value)

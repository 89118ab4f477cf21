"""Exit 0 when a Kafka broker answers on KAFKA_SERVER, 1 otherwise.

Used by infra/kafka.sh (status, start) and by every run.sh. "Answers" means a real
metadata round trip, not just an open port: a broker that is still starting
accepts connections before it can serve clients.

    python infra/python/broker_ready.py [--timeout SECONDS]
"""

import argparse
import logging
import os
import sys

from kafka import KafkaAdminClient

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--timeout", type=float, default=3.0)
args = parser.parse_args()
server = os.environ.get("KAFKA_SERVER", "localhost:9092")
logging.disable(logging.CRITICAL)  # kafka-python logs every refused connection

try:
    admin = KafkaAdminClient(
        bootstrap_servers=server,
        bootstrap_timeout_ms=int(args.timeout * 1000),
        request_timeout_ms=int(args.timeout * 1000),
    )
    brokers = admin.describe_cluster()["brokers"]
    admin.close()
except Exception as exc:  # any failure means: not answering
    print(f"no Kafka broker answers on {server} ({type(exc).__name__})")
    sys.exit(1)
print(f"Kafka broker answers on {server} ({len(brokers)} broker(s) in the cluster)")

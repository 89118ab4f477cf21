"""Send simple_producer-style messages ({"time", "msg"}) with the given texts to a
topic of KAFKA_SERVER, flush, and print how many were delivered.

Usage: .venv/bin/python tests/docker/produce.py TOPIC TEXT [TEXT ...]
"""

import json
import os
import sys
import time

from kafka import KafkaProducer

topic, texts = sys.argv[1], sys.argv[2:]
producer = KafkaProducer(bootstrap_servers=os.environ.get("KAFKA_SERVER", "localhost:9092"),
                         value_serializer=lambda v: json.dumps(v).encode())
futures = [producer.send(topic, {"time": int(time.time() * 1000), "msg": text}) for text in texts]
producer.flush()
delivered = sum(1 for f in futures if f.get(timeout=10))
producer.close()
print(f"delivered {delivered} to {topic}")

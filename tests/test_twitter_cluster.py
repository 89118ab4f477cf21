"""day2/twitter_cluster: tweet language clustering with k-means on character bigrams.

Real broker, real Spark, through run.sh as a student runs it:
- train: on held-out texts, the clusters match the true languages (purity >= 0.85);
- producer: creates the keyed 3-partition topic and sends parseable tweets;
- predict: the live job labels every replayed tweet (and reports a bad message);
- streaming-kmeans: the centers converge (they move less and less per batch).
"""

import hashlib
import importlib.util
import json
import statistics
import uuid

import pytest
from kafka import KafkaAdminClient, KafkaConsumer

from conftest import ROOT, assert_clean_output, json_lines, run_exercise

RUN = "day2/twitter_cluster/run.sh"
LANGS = {"en", "es", "uk", "fa", "bn"}


def _corpus_module():
    """The exercise's corpus.py, loaded by path (no name clash with other exercises)."""
    spec = importlib.util.spec_from_file_location(
        "twitter_cluster_corpus", ROOT / "day2/twitter_cluster/corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tagged(output, tag):
    """The JSON payloads of the lines that start with "TAG "."""
    return [json.loads(line[len(tag) + 1:]) for line in output.splitlines()
            if line.startswith(tag + " ")]


def _purity(pairs):
    clusters = {}
    for cluster, lang in pairs:
        clusters.setdefault(cluster, []).append(lang)
    return sum(max(map(c.count, set(c))) for c in clusters.values()) / len(pairs)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Train once for the module (into a temporary folder): (model dir, run output)."""
    model = tmp_path_factory.mktemp("twitter_cluster") / "model"
    proc = run_exercise(RUN, "train", "--model", model, timeout=300)
    return model, proc.output


def test_train_clusters_held_out_texts_by_language(trained):
    model, output = trained
    assert_clean_output(output)
    [result] = _tagged(output, "EVAL")
    assert result["k"] == len(result["languages"]) >= 5
    assert set(result["languages"]) == LANGS
    assert result["held_out"] >= 300, result
    assert result["purity"] >= 0.85, f"held-out purity {result['purity']} < 0.85\n{output}"
    # The saved pipeline, and a majority language per cluster that covers every language
    assert (model / "stages").is_dir()
    names = json.loads((model / "clusters.json").read_text())
    assert set(names.values()) == LANGS, names


def test_producer_creates_keyed_topic_and_sends_tweets(kafka_server):
    topic = f"test-twitter-producer-{uuid.uuid4().hex[:8]}"  # not there yet: made by the producer
    admin = KafkaAdminClient(bootstrap_servers=kafka_server)
    try:
        proc = run_exercise(RUN, "producer", "--topic", topic, "--count", 25, "--interval", 0,
                            timeout=60)
        assert_clean_output(proc.output)
        assert f"sent 25 tweets to {topic}" in proc.output
        [description] = admin.describe_topics([topic])
        assert len(description["partitions"]) == 3
        consumer = KafkaConsumer(topic, bootstrap_servers=kafka_server,
                                 auto_offset_reset="earliest", consumer_timeout_ms=5000)
        messages = list(consumer)
        consumer.close()
        assert len(messages) == 25
        for m in messages:
            tweet = json.loads(m.value.decode("utf-8"))
            assert tweet["lang"] in LANGS and tweet["text"].strip()
            # keyed by a hash of the text: the same text always lands in the same partition
            assert m.key.decode() == hashlib.sha1(tweet["text"].encode()).hexdigest()[:16]
    finally:
        admin.delete_topics([topic])
        admin.close()


def test_predict_labels_every_replayed_tweet(trained, new_topic, produce):
    model, _ = trained
    corpus = _corpus_module()
    held_out = [(t, lang) for t, lang in corpus.load_corpus() if corpus.is_held_out(t)]
    known = held_out[::8][:50]  # a spread over the five languages, never seen in training
    assert {lang for _, lang in known} == LANGS
    topic = new_topic(partitions=3)
    produce(topic, [{"text": t, "lang": lang} for t, lang in known[:25]])
    bad = produce(topic, ["this is not JSON"])[0]
    produce(topic, [{"text": t, "lang": lang} for t, lang in known[25:]])

    proc = run_exercise(RUN, "predict", "--topic", topic, "--model", model,
                        "--trigger", 0, "--max-messages", len(known) + 1, "--seconds", 90,
                        timeout=180)
    assert_clean_output(proc.output)
    labelled = [d for d in json_lines(proc.output) if "cluster" in d]
    # every text appears, once, with a cluster number of the model
    assert sorted(d["text"] for d in labelled) == sorted(t for t, _ in known)
    assert all(d["cluster"] in range(5) for d in labelled)
    assert _purity([(d["cluster"], d["lang"]) for d in labelled]) >= 0.8
    # the bad message was reported with where it was, and counted
    assert f"{topic}/{bad[0]}@{bad[1]}" in proc.output
    [final] = _tagged(proc.output, "FINAL")
    assert final == {"tweets": len(known), "shown": len(known), "skipped": 1}


def test_predict_keeps_one_chosen_cluster(trained, new_topic, produce):
    model, _ = trained
    names = json.loads((model / "clusters.json").read_text())
    [ukrainian] = [int(c) for c, lang in names.items() if lang == "uk"]
    corpus = _corpus_module()
    known = [(t, lang) for t, lang in corpus.load_corpus() if corpus.is_held_out(t)][1::8][:50]
    topic = new_topic(partitions=3)
    produce(topic, [{"text": t, "lang": lang} for t, lang in known])

    proc = run_exercise(RUN, "predict", "--topic", topic, "--model", model, "--cluster", ukrainian,
                        "--trigger", 0, "--max-messages", len(known), "--seconds", 90,
                        timeout=180)
    assert_clean_output(proc.output)
    shown = [d for d in json_lines(proc.output) if "cluster" in d]
    assert shown and all(d["cluster"] == ukrainian for d in shown)
    assert {d["text"] for d in shown} <= {t for t, _ in known}
    # the chosen cluster is the Ukrainian one: (nearly) all Ukrainian tweets, little else
    ukrainian_texts = {t for t, lang in known if lang == "uk"}
    assert len(ukrainian_texts & {d["text"] for d in shown}) >= 0.85 * len(ukrainian_texts)
    assert sum(d["lang"] == "uk" for d in shown) >= 0.85 * len(shown)
    [final] = _tagged(proc.output, "FINAL")
    assert final == {"tweets": len(known), "shown": len(shown), "skipped": 0}


def test_streaming_kmeans_centers_converge(new_topic):
    topic = new_topic(partitions=3)
    count = 600
    run_exercise(RUN, "producer", "--topic", topic, "--count", count, "--interval", 0,
                 timeout=60)
    # --trigger 0: batches back to back (the topic is full already); the run stops
    # after the last batch, once all `count` tweets were read.
    proc = run_exercise(RUN, "streaming-kmeans", "--topic", topic, "--batch-size", 60,
                        "--trigger", 0, "--max-messages", count, "--seconds", 120, timeout=200)
    assert_clean_output(proc.output)
    batches = _tagged(proc.output, "BATCH")
    [final] = _tagged(proc.output, "FINAL")
    assert final["tweets"] == sum(b["tweets"] for b in batches) == count
    assert len(batches) >= 8, proc.output
    moves = [b["movement"] for b in batches]
    # From random centers to the data: the first batches move the centers a lot, the
    # last ones hardly at all.
    assert statistics.mean(moves[-3:]) < 0.1 * statistics.mean(moves[:3]), moves
    # And once every center has tweets (no more jumps from random positions or
    # splits), the steps keep shrinking: the centers settle down.
    alive = next(i for i, b in enumerate(batches) if min(b["weights"]) > 0)
    settled = moves[alive + 1:]
    assert len(settled) >= 5, moves
    assert statistics.mean(settled[-2:]) < 0.8 * statistics.mean(settled[:2]), moves

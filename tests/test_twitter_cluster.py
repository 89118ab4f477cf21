"""day2/twitter_cluster: tweet language clustering with k-means on character bigrams.

Real broker, real Spark, through run.sh as a student runs it:
- train (the default part): on held-out texts, the clusters match the true languages;
- producer: creates the keyed 3-partition topic, reports every delivery's address;
- predict: the live job labels every replayed tweet (and reports a malformed one);
- streaming-kmeans: the centers converge (they move less and less per batch);
- the solutions: a sixth (Latin-script) language, and a warm-started streaming k-means.
One training and one producer run serve the whole module.
"""

import hashlib
import importlib.util
import json
import re
import statistics
import uuid

import pytest
from kafka import KafkaAdminClient, KafkaConsumer

from conftest import ROOT, assert_clean_output, final, json_lines, malformed_reported, run_exercise

RUN = "day2/twitter_cluster/run.sh"
LANGS = {"en", "es", "uk", "fa", "bn"}
COUNT = 600  # tweets in the module's topic: ten micro-batches of 60


def _corpus_module():
    """The exercise's corpus.py, loaded by path (no name clash with other exercises)."""
    spec = importlib.util.spec_from_file_location(
        "twitter_cluster_corpus", ROOT / "day2/twitter_cluster/corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _batches(output):
    return [json.loads(line[len("BATCH "):]) for line in output.splitlines()
            if line.startswith("BATCH ")]


def _purity(pairs):
    clusters = {}
    for cluster, lang in pairs:
        clusters.setdefault(cluster, []).append(lang)
    return sum(max(map(c.count, set(c))) for c in clusters.values()) / len(pairs)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Train once for the module (into a temporary folder): (model dir, run output).
    The default part of run.sh is train; one k-means run instead of six."""
    model = tmp_path_factory.mktemp("twitter_cluster") / "model"
    proc = run_exercise(RUN, "--model", model, "--runs", 1, timeout=600)
    return model, proc.output


@pytest.fixture(scope="module")
def tweets_topic(kafka_server):
    """A topic that does not exist yet, filled by the producer: (topic, run output)."""
    topic = f"test-twitter-tweets-{uuid.uuid4().hex[:8]}"
    proc = run_exercise(RUN, "producer", "--topic", topic, "--count", COUNT, "--interval", 0,
                        timeout=180)
    yield topic, proc.output
    admin = KafkaAdminClient(bootstrap_servers=kafka_server)
    admin.delete_topics([topic])
    admin.close()


def test_train_clusters_held_out_texts_by_language(trained):
    model, output = trained
    assert_clean_output(output)
    result = final(output)
    assert result["k"] == len(result["languages"]) == 5
    assert set(result["languages"]) == LANGS
    assert result["held_out"] >= 300, result
    assert result["purity"] >= 0.85, f"held-out purity {result['purity']} < 0.85\n{output}"
    assert len(re.findall(r"^  k-means run \d/1 ", output, re.MULTILINE)) == 1
    # The saved pipeline, and a majority language per cluster that covers every language
    assert (model / "stages").is_dir()
    names = json.loads((model / "clusters.json").read_text())
    assert set(names.values()) == LANGS, names


def test_producer_creates_keyed_topic_and_reports_deliveries(kafka_server, tweets_topic):
    topic, output = tweets_topic
    assert_clean_output(output)
    assert final(output) == {"delivered": COUNT, "failed": 0}
    admin = KafkaAdminClient(bootstrap_servers=kafka_server)
    [description] = admin.describe_topics([topic])
    admin.close()
    assert len(description["partitions"]) == 3
    consumer = KafkaConsumer(topic, bootstrap_servers=kafka_server,
                             auto_offset_reset="earliest", consumer_timeout_ms=5000)
    messages = list(consumer)
    consumer.close()
    assert len(messages) == COUNT
    # one delivery report per tweet: "[lang] topic/partition/offset text", after the ack
    reports = set(re.findall(rf"^\[(\w\w)\] {re.escape(topic)}/(\d+)/(\d+) (.+)$", output,
                             re.MULTILINE))
    tweets = [json.loads(m.value.decode("utf-8")) for m in messages]
    assert reports == {(t["lang"], str(m.partition), str(m.offset), t["text"])
                       for t, m in zip(tweets, messages, strict=True)}
    for m, tweet in zip(messages, tweets, strict=True):
        assert tweet["lang"] in LANGS and tweet["text"].strip()
        # keyed by a hash of the text: the same text always lands in the same partition
        assert m.key.decode() == hashlib.sha1(tweet["text"].encode()).hexdigest()[:16]


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
                        "--trigger", 0, "--max-messages", len(known) + 1, "--seconds", 150,
                        timeout=300)
    assert_clean_output(proc.output)
    labelled = [d for d in json_lines(proc.output) if "cluster" in d]
    # every text appears, once, with its address and a cluster number of the model
    assert sorted(d["text"] for d in labelled) == sorted(t for t, _ in known)
    assert all(re.fullmatch(rf"{re.escape(topic)}/[0-2]/\d+", d["at"]) for d in labelled)
    assert all(d["cluster"] in range(5) for d in labelled)
    assert _purity([(d["cluster"], d["lang"]) for d in labelled]) >= 0.8
    # the malformed message was reported with its address, and counted
    assert malformed_reported(proc.output) == [(topic, *bad)]
    result = final(proc.output)
    assert result["messages"] == len(known) + 1 and result["batches"] >= 1
    assert (result["malformed"], result["shown"]) == (1, len(known))


def test_predict_keeps_one_chosen_cluster(trained, new_topic, produce):
    model, _ = trained
    names = json.loads((model / "clusters.json").read_text())
    [ukrainian] = [int(c) for c, lang in names.items() if lang == "uk"]
    corpus = _corpus_module()
    known = [(t, lang) for t, lang in corpus.load_corpus() if corpus.is_held_out(t)][1::8][:50]
    topic = new_topic(partitions=3)
    produce(topic, [{"text": t, "lang": lang} for t, lang in known])

    proc = run_exercise(RUN, "predict", "--topic", topic, "--model", model, "--cluster", ukrainian,
                        "--trigger", 0, "--max-messages", len(known), "--seconds", 150,
                        timeout=300)
    assert_clean_output(proc.output)
    assert f"showing cluster {ukrainian} (mostly uk in training)" in proc.output
    shown = [d for d in json_lines(proc.output) if "cluster" in d]
    assert shown and all(d["cluster"] == ukrainian for d in shown)
    assert {d["text"] for d in shown} <= {t for t, _ in known}
    # the chosen cluster is the Ukrainian one: (nearly) all Ukrainian tweets, little else
    ukrainian_texts = {t for t, lang in known if lang == "uk"}
    assert len(ukrainian_texts & {d["text"] for d in shown}) >= 0.85 * len(ukrainian_texts)
    assert sum(d["lang"] == "uk" for d in shown) >= 0.85 * len(shown)
    result = final(proc.output)
    assert (result["messages"], result["malformed"], result["shown"]) == (len(known), 0, len(shown))


def test_streaming_kmeans_centers_converge(tweets_topic):
    topic, _ = tweets_topic
    # --trigger 0: batches back to back (the topic is full already); the run stops
    # once all the tweets were read.
    proc = run_exercise(RUN, "streaming-kmeans", "--topic", topic, "--max-per-batch", 60,
                        "--trigger", 0, "--max-messages", COUNT, "--seconds", 300, timeout=420)
    assert_clean_output(proc.output)
    batches = _batches(proc.output)
    result = final(proc.output)
    assert result["messages"] == result["tweets"] == sum(b["tweets"] for b in batches) == COUNT
    assert result["malformed"] == 0 and result["batches"] == len(batches) >= 10
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
    # and the clusters it found are languages (most of each batch's tweets)
    assert statistics.mean(b["purity"] for b in batches[-4:]) >= 0.7, batches


def test_solution_a_sixth_latin_script_language(tmp_path):
    # Spanish, English and Portuguese only (the mix-up, with a third of the work)
    proc = run_exercise(RUN, "solutions/train_more_languages.py", "--add", "portuguese",
                        "--languages", "en,es,pt", "--runs", 1, "--model", tmp_path / "model",
                        timeout=480)
    assert_clean_output(proc.output)
    result = final(proc.output)
    assert result["languages"] == ["en", "es", "pt"] and result["k"] == 3
    assert result["held_out"] >= 250, result
    # Spanish and Portuguese share most of their letter pairs: k-means mixes them up
    assert result["purity"] <= 0.85, result
    assert max(result["mixed_up"]["es"], result["mixed_up"]["pt"]) >= 0.3, result


def test_solution_streaming_kmeans_from_the_batch_centers(trained, new_topic, produce):
    model, _ = trained
    corpus = _corpus_module()
    topic = new_topic(partitions=3)
    # 120 tweets, two micro-batches of 60; nothing after them (a run stopped while a
    # next batch starts would cut that batch short)
    produce(topic, [{"text": t, "lang": lang} for t, lang in corpus.load_corpus()[::18][:120]])
    proc = run_exercise(RUN, "solutions/streaming_kmeans_warm_start.py", "--topic", topic,
                        "--model", model, "--trigger", 0, "--max-per-batch", 60,
                        "--max-messages", 120, "--seconds", 150, timeout=300)
    assert_clean_output(proc.output)
    batches = _batches(proc.output)
    assert final(proc.output)["messages"] == sum(b["tweets"] for b in batches) == 120
    # No search from random centers: right from the first batch the clusters are the
    # languages, and the centers hardly move (a random start: purity ~0.4, movement ~60)
    assert batches[0]["purity"] >= 0.85, batches
    assert all(b["movement"] < 1 for b in batches), batches
    assert min(batches[0]["weights"]) >= 100, batches

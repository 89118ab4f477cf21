"""Train the tweet-language clusters: k-means on character bigrams, in batch.

Usage: bash day2/twitter_cluster/run.sh [train] [--model DIR] [--languages en,es,...]
        [--k K] [--runs N] [--seed S]

Reads the multilingual corpus (corpus.py) directly (no Kafka here), keeps ~20% of
it aside, turns each text into hashed character-bigram counts (features.py), and
trains Spark ML KMeans with k = the number of languages. The fitted pipeline
(featurizer + k-means) is saved to --model, where predict.py loads it to label the
live stream.

KMeans never sees the languages. Afterwards we compare: which language fills each
cluster, and, on the held-out texts, the purity (the share of texts whose cluster's
majority language is their own language). The last line:
    FINAL {"purity": 0.96, "train_purity": 0.97, "held_out": 426, "k": 5, ...}
"""

import argparse
import json
import os
from collections import Counter, defaultdict

from corpus import LANGUAGES, is_held_out, load_corpus
from features import bigram_features
from pyspark.ml import PipelineModel
from pyspark.ml.clustering import KMeans
from pyspark.sql import SparkSession

import course

HERE = os.path.dirname(os.path.abspath(__file__))

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--model", default=os.path.join(HERE, "output", "model"),
                    help="where to save the model (default: output/model here)")
parser.add_argument("--languages", default=",".join(LANGUAGES.values()),
                    help="comma-separated language codes (default: %(default)s)")
parser.add_argument("--k", type=int, help="number of clusters (default: one per language)")
parser.add_argument("--runs", type=int, default=6, help="k-means runs; the lowest cost wins")
parser.add_argument("--seed", type=int, default=1, help="seed of run 1's random centers")
args = parser.parse_args()
languages = args.languages.split(",")
if set(languages) - set(LANGUAGES.values()):
    parser.error(f"unknown languages in {args.languages}; choose from {list(LANGUAGES.values())}")
k = args.k or len(languages)


def composition(rows):
    """{cluster: Counter(lang -> count)} from (cluster, lang) rows."""
    clusters = defaultdict(Counter)
    for cluster, lang in rows:
        clusters[cluster][lang] += 1
    return clusters


def purity(clusters):
    """Share of texts that belong to their cluster's most common language."""
    total = sum(sum(c.values()) for c in clusters.values())
    return sum(c.most_common(1)[0][1] for c in clusters.values()) / total if total else 0.0


tweets = load_corpus(languages)
train_rows = [(t, lang) for t, lang in tweets if not is_held_out(t)]
held_out_rows = [(t, lang) for t, lang in tweets if is_held_out(t)]
print(f"corpus: {len(tweets)} texts in {len(languages)} languages; "
      f"training on {len(train_rows)}, holding out {len(held_out_rows)}")

spark = SparkSession.builder.appName("twitter_cluster_train").getOrCreate()
print(f"Spark UI (the training jobs): {spark.sparkContext.uiWebUrl}", flush=True)
# One partition: the same rows in the same order on any laptop, so the same random
# starts and the same clusters for everybody.
train = spark.createDataFrame(train_rows, "text string, lang string").coalesce(1)
held_out = spark.createDataFrame(held_out_rows, "text string, lang string")

# k-means finds a local optimum that depends on its random starting centers (here:
# k random texts). So we train it several times and keep the tightest clustering,
# the one with the lowest cost (sum of squared distances to the centers). The cost
# is all we look at: the languages stay hidden.
vectors = PipelineModel(stages=bigram_features()).transform(train).select("features").cache()
best = None
for seed in range(args.seed, args.seed + args.runs):
    kmeans = KMeans(k=k, seed=seed, initMode="random", maxIter=20, predictionCol="cluster")
    candidate = kmeans.fit(vectors)
    cost = candidate.summary.trainingCost
    print(f"  k-means run {seed - args.seed + 1}/{args.runs} (seed {seed}): cost {cost:.1f}",
          flush=True)
    if best is None or cost < best.summary.trainingCost:
        best = candidate

# Featurizer and k-means saved as one pipeline: the model turns raw text into a
# cluster number, so the streaming job needs nothing but the text.
model = PipelineModel(stages=[*bigram_features(), best])
model.write().overwrite().save(args.model)

# Which language fills each cluster (the model never saw "lang")
trained = composition(model.transform(train).select("cluster", "lang").collect())
names = {}
print(f"\nclusters on the training texts (k = {k}):")
for cluster in sorted(trained):
    names[cluster] = trained[cluster].most_common(1)[0][0]
    mix = ", ".join(f"{lang} {n}" for lang, n in trained[cluster].most_common())
    print(f"  cluster {cluster}: mostly {names[cluster]:3}  ({mix})")
# Saved beside the model, so that predict.py can say what a cluster looks like
with open(os.path.join(args.model, "clusters.json"), "w", encoding="utf-8") as f:
    json.dump({str(c): lang for c, lang in names.items()}, f)

# The test: texts the model has never seen
seen = composition(model.transform(held_out).select("cluster", "lang").collect())
held_out_purity = round(purity(seen), 4)
print(f"\nheld-out purity: {held_out_purity:.3f} ({len(held_out_rows)} texts never used for training)")
print(f"model saved to {os.path.relpath(args.model) if args.model.startswith(os.getcwd()) else args.model}")
course.final(purity=held_out_purity, train_purity=round(purity(trained), 4),
             held_out=len(held_out_rows), k=k, languages=languages)
spark.stop()

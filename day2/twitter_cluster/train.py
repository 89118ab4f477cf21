"""Train the tweet-language clusters: k-means on character bigrams, in batch.

Usage: train.py [--model DIR] [--languages en,es,uk,fa,bn] [--k K] [--runs N] [--seed S]

Reads the multilingual corpus (corpus.py) directly, keeps ~20% of it aside,
turns each text into hashed character-bigram counts (features.py), and trains
Spark ML KMeans with k = the number of languages. The fitted pipeline (featurizer
+ k-means) is saved to --model, where predict.py and the streaming job load it.

KMeans never sees the languages. Afterwards we compare: which language fills each
cluster, and, on the held-out texts, the purity (the share of texts whose cluster's
majority language is their own language). The last line is machine-readable:
    EVAL {"purity": 0.97, "held_out": 428, "k": 5, ...}

Example: bash day2/twitter_cluster/run.sh train
"""

import argparse
import json
import os
from collections import Counter, defaultdict

from corpus import LANGUAGES, is_held_out, load_corpus
from features import bigram_features
from pyspark.ml import PipelineModel
from pyspark.ml.clustering import KMeans

from spark_course import spark_session

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_MODEL = os.path.join(HERE, "output", "model")


def shown_path(path):
    """A path as short as it can be said: relative to here, unless that climbs up."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def composition(rows):
    """{cluster: Counter(lang -> count)} from (cluster, lang) pairs."""
    clusters = defaultdict(Counter)
    for cluster, lang in rows:
        clusters[cluster][lang] += 1
    return clusters


def purity(clusters):
    """Share of texts that belong to their cluster's most common language."""
    total = sum(sum(c.values()) for c in clusters.values())
    return sum(c.most_common(1)[0][1] for c in clusters.values()) / total if total else 0.0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="where to save the model")
    parser.add_argument(
        "--languages",
        default=",".join(LANGUAGES.values()),
        help="comma-separated language codes (default: %(default)s)",
    )
    parser.add_argument("--k", type=int, help="number of clusters (default: one per language)")
    parser.add_argument("--runs", type=int, default=6, help="k-means runs; the lowest cost wins")
    parser.add_argument("--seed", type=int, default=1, help="seed of run 1's random centers")
    args = parser.parse_args()

    languages = args.languages.split(",")
    unknown = set(languages) - set(LANGUAGES.values())
    if unknown:
        parser.error(f"unknown languages {sorted(unknown)}; choose from {list(LANGUAGES.values())}")
    k = args.k or len(languages)

    tweets = load_corpus(languages)
    train_rows = [(t, lang) for t, lang in tweets if not is_held_out(t)]
    held_out_rows = [(t, lang) for t, lang in tweets if is_held_out(t)]
    print(f"corpus: {len(tweets)} texts in {len(languages)} languages; "
          f"training on {len(train_rows)}, holding out {len(held_out_rows)}")

    spark = spark_session("twitter_cluster_train")
    # One partition: the same rows in the same order on any laptop, so the same
    # random starts and the same clusters for everybody.
    train = spark.createDataFrame(train_rows, "text string, lang string").coalesce(1)
    held_out = spark.createDataFrame(held_out_rows, "text string, lang string")

    # k-means finds a local optimum that depends on its random starting centers
    # (here: k random texts). So we train it several times and keep the tightest
    # clustering, the one with the lowest cost (sum of squared distances to the
    # centers). The cost is all we look at: the languages stay hidden.
    featurizer = PipelineModel(stages=bigram_features())
    vectors = featurizer.transform(train).select("features").cache()
    best = None
    for seed in range(args.seed, args.seed + args.runs):
        kmeans = KMeans(k=k, seed=seed, initMode="random", maxIter=20, predictionCol="cluster")
        candidate = kmeans.fit(vectors)
        cost = candidate.summary.trainingCost
        print(f"  k-means run {seed - args.seed + 1}/{args.runs} (seed {seed}): cost {cost:.1f}")
        if best is None or cost < best.summary.trainingCost:
            best = candidate

    # Featurizer and k-means saved as one pipeline: the model turns raw text into
    # a cluster number, so the streaming jobs need nothing but the text.
    model = PipelineModel(stages=[*bigram_features(), best])
    model.write().overwrite().save(args.model)

    # Which language fills each cluster (the model never saw "lang")
    trained = composition(model.transform(train).select("cluster", "lang").collect())
    names = {}
    print(f"\nclusters on the training texts (k = {k}):")
    for cluster in sorted(trained):
        counts = trained[cluster]
        names[cluster] = counts.most_common(1)[0][0]
        mix = ", ".join(f"{lang} {n}" for lang, n in counts.most_common())
        print(f"  cluster {cluster}: mostly {names[cluster]:3}  ({mix})")
    # Saved beside the model so that predict.py can say what a cluster looks like
    with open(os.path.join(args.model, "clusters.json"), "w", encoding="utf-8") as f:
        json.dump({str(c): lang for c, lang in names.items()}, f)

    # The test: texts the model has never seen
    seen = composition(model.transform(held_out).select("cluster", "lang").collect())
    result = {
        "purity": round(purity(seen), 4),
        "train_purity": round(purity(trained), 4),
        "held_out": sum(sum(c.values()) for c in seen.values()),
        "k": k,
        "languages": languages,
        "model": shown_path(args.model),
    }
    print(f"\nheld-out purity: {result['purity']:.3f} "
          f"({result['held_out']} texts never used for training)")
    print("model saved to", result["model"])
    print("EVAL", json.dumps(result))
    spark.stop()


if __name__ == "__main__":
    main()

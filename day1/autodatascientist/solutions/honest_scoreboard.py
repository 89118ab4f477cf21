"""A reference solution to the auto data scientist game: it plays every round on
data-topic for real and keeps a scoreboard.

The producer's score is TRAINING accuracy: its logistic regression is graded on the
10 rows it was fitted on. Any model that memorises (1-nearest neighbour) "scores"
1.0 that way, so beating the number by the same rule would prove nothing. This
solution evaluates honestly instead, with nested leave-one-out cross-validation:

  for each row i of the 10:
      on the other 9 rows, pick the best of a few candidate models
          (by leave-one-out accuracy on those 9 rows only),
      fit it on the 9 rows, predict row i: right or wrong.
  our score = the share of rows predicted right by a model that never saw them.

A round is a win when our honest score is higher than the producer's (training)
score: the game's rule. To show why that is hard, each round also prints the
producer's own model evaluated the same honest way (beating THAT is a fair win),
and the meaningless training accuracy of a memoriser.

Usage: bash day1/autodatascientist/run.sh solutions/honest_scoreboard.py
           [--topic TOPIC] [--group GROUP] [--max-messages N]
           [--seconds S] [--json]

It reads like consumer.py (whose rebuild() it uses), in its own consumer group
autodata_solution, so it plays beside consumer.py, and commits each round once it
has played it. A message that is not a data set, or one it cannot cross-validate
(a single class), is reported with its address, skipped and counted. --json also
prints each round as one JSON line. It ends with FINAL {"messages", "malformed",
"rounds", "wins", "fair_wins", "mean_score", "producer_mean_score"}.
The broker: env KAFKA_SERVER (default localhost:9092).
"""

import argparse
import json
import os
import sys
import time
import warnings

import numpy as np
from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneOut
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier

import course

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from consumer import rebuild  # noqa: E402  (the exercise's consumer.py, one folder up)

# The models we may choose from in each round (a small menu: every extra candidate
# is one more chance to look good by luck, which nested cross-validation accounts for).
# (liblinear: the fastest solver for a handful of rows; 400 fits a round add up.)
CANDIDATES = {
    "logistic regression": lambda: LogisticRegression(solver="liblinear"),
    "logistic regression, C=0.1": lambda: LogisticRegression(C=0.1, solver="liblinear"),
    "3-nearest neighbours": lambda: KNeighborsClassifier(n_neighbors=3),
    "Gaussian naive Bayes": lambda: GaussianNB(),
}


PRODUCER_MODEL = LogisticRegression  # what the producer fitted, with its defaults


def fit_predict(make_model, X, y, X_new):
    """Fit make_model() on X, y and predict X_new. A training set with a single
    class (possible with 9 rows) can only predict that class; one with fewer rows
    than a nearest-neighbours model's k asks all the rows it has."""
    if len(np.unique(y)) == 1:
        return np.full(len(X_new), y[0])
    model = make_model()
    if getattr(model, "n_neighbors", 0) > len(X):  # a small round: fewer rows than neighbours
        model.set_params(n_neighbors=len(X))
    return model.fit(X, y).predict(X_new)


def loo_accuracy(make_model, X, y):
    """Leave-one-out accuracy of make_model(): each row predicted by a model
    fitted on all the other rows."""
    hits = [fit_predict(make_model, X[train], y[train], X[test])[0] == y[test][0]
            for train, test in LeaveOneOut().split(X)]
    return float(np.mean(hits))


def choose(X, y):
    """The candidate with the best leave-one-out accuracy on X, y (first one on ties)."""
    return max(CANDIDATES, key=lambda name: loo_accuracy(CANDIDATES[name], X, y))


def nested_loo(X, y):
    """Our honest score: the model choice is redone inside every fold, so the row
    being predicted played no part in choosing or fitting the model."""
    hits = []
    for train, test in LeaveOneOut().split(X):
        name = choose(X[train], y[train])
        hits.append(fit_predict(CANDIDATES[name], X[train], y[train], X[test])[0] == y[test][0])
    return float(np.mean(hits))


def play(X, y, producer_score):
    """One round: our honest score and what it is up against."""
    ours = nested_loo(X, y)
    producer_loo = loo_accuracy(PRODUCER_MODEL, X, y)
    return {"producer_score": producer_score, "score": ours, "win": ours > producer_score,
            "model": choose(X, y),  # what we would deploy: chosen on all rows
            "producer_model_loo": producer_loo, "fair_win": ours > producer_loo,
            "memoriser_training_accuracy": float(KNeighborsClassifier(1).fit(X, y).score(X, y))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", default=os.environ.get("CONSUME_TOPICS", "data-topic"),
                        help="topic to read (default: $CONSUME_TOPICS or data-topic)")
    parser.add_argument("--group", default="autodata_solution",
                        help="consumer group id (default autodata_solution)")
    parser.add_argument("--max-messages", type=int, help="stop after N messages")
    parser.add_argument("--seconds", type=float, help="stop after S seconds")
    parser.add_argument("--json", action="store_true", help="also print each round as JSON")
    args = parser.parse_args()
    # scikit-learn warns when a tiny fold cannot be fitted well; the score says it.
    warnings.filterwarnings("ignore", category=UserWarning)

    try:
        consumer = KafkaConsumer(args.topic, bootstrap_servers=course.KAFKA_SERVER,
                                 bootstrap_timeout_ms=4000, group_id=args.group,
                                 auto_offset_reset="earliest", enable_auto_commit=False)
    except KafkaError:
        course.exit_no_broker()

    print(f"Playing the rounds of '{args.topic}' at {course.KAFKA_SERVER} as group "
          f"'{args.group}' (Ctrl-C to stop)", flush=True)
    messages = malformed = wins = fair_wins = 0
    scores, producer_scores = [], []
    deadline = time.monotonic() + args.seconds if args.seconds else None
    try:
        while args.max_messages is None or messages < args.max_messages:
            if deadline and time.monotonic() >= deadline:
                break
            wanted = args.max_messages - messages if args.max_messages else 100
            for records in consumer.poll(timeout_ms=500, max_records=wanted).values():
                for record in records:
                    where = f"{record.topic}/{record.partition}/{record.offset}"
                    try:
                        X, y, producer_score = rebuild(record.value)
                        if len(y) < 3 or len(np.unique(y)) < 2:
                            raise ValueError("fewer than 3 rows, or one class: nothing to score")
                    except ValueError as problem:
                        malformed += 1
                        course.skipped(record.topic, record.partition, record.offset, str(problem))
                    else:
                        r = play(X, y, producer_score)
                        scores.append(r["score"])
                        producer_scores.append(producer_score)
                        wins, fair_wins, n = wins + r["win"], fair_wins + r["fair_win"], len(scores)
                        print(f"\nround {n} ({where}, {len(y)} rows)\n  producer: {producer_score:.3f}"
                              "  training accuracy of a logistic regression (the same model, "
                              f"honestly: {r['producer_model_loo']:.3f})\n  ours:     "
                              f"{r['score']:.3f}  nested leave-one-out accuracy, best of "
                              f"{len(CANDIDATES)} models per fold -> {'WIN' if r['win'] else 'lost'}"
                              "\n  (a 1-nearest-neighbour memoriser's training accuracy: "
                              f"{r['memoriser_training_accuracy']:.3f}, which proves nothing)\n"
                              f"  scoreboard: {n} round(s), {wins} win(s) ({fair_wins} fair), mean "
                              f"score {np.mean(scores):.3f} vs producer's "
                              f"{np.mean(producer_scores):.3f}", flush=True)
                        if args.json:
                            print(json.dumps({"round": n, "topic": record.topic, "partition":
                                              record.partition, "offset": record.offset, **r}),
                                  flush=True)
                    # Played: the group resumes after this round.
                    consumer.commit({TopicPartition(record.topic, record.partition):
                                     OffsetAndMetadata(record.offset + 1)})
                    messages += 1
    except KeyboardInterrupt:
        print("\nCtrl-C: leaving the group (every round played is committed) ...",
              file=sys.stderr, flush=True)
    finally:
        consumer.close(autocommit=False)
    course.final({"messages": messages, "malformed": malformed}, rounds=len(scores), wins=wins,
                 fair_wins=fair_wins,
                 mean_score=float(np.mean(scores)) if scores else None,
                 producer_mean_score=float(np.mean(producer_scores)) if scores else None)


if __name__ == "__main__":
    main()

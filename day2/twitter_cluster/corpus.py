"""The "tweets" of this exercise: short real texts in several languages.

The Twitter API that the original course streamed from is gone, so we replay a
multilingual dialog corpus instead: the lines of the `chatterbot-corpus` package
(BSD 3-Clause licence, user-contributed dialogs about greetings, food, science, ...),
installed with pip like any other dependency. Nothing is downloaded at run time.

A tweet here is {"text": ..., "lang": ...}; "lang" is the truth, used only to
evaluate the clusters, never to find them.

    from corpus import load_corpus, is_held_out, text_key
    tweets = load_corpus()            # [(text, lang), ...]
"""

import hashlib
from importlib import resources

import yaml

# Folder of chatterbot-corpus -> the language code a tweet carries (as Twitter's "lang").
# Five languages in four scripts: Latin (en, es), Cyrillic, Arabic (Persian), Bengali.
# Character bigrams tell scripts apart easily; two Latin-script languages make it harder.
LANGUAGES = {
    "english": "en",
    "spanish": "es",
    "ukrainian": "uk",
    "persian": "fa",
    "bengali": "bn",
}
MIN_CHARS = 8  # "ok", "yes", ":)" say little about a language
MAX_PER_LANGUAGE = 500  # keep the languages roughly balanced
HELD_OUT_PERCENT = 20  # kept aside from training, to evaluate the clusters


def text_key(text):
    """A stable hash of a text: the Kafka message key (same text, same partition)."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def is_held_out(text):
    """True for the ~20% of texts that training never sees (decided by the text's hash)."""
    return int(text_key(text), 16) % 100 < HELD_OUT_PERCENT


def _dialog_lines(folder):
    """Every line said in the dialogs of one language folder of chatterbot-corpus."""
    data = resources.files("chatterbot_corpus") / "data" / folder
    for file in sorted(data.iterdir(), key=lambda f: f.name):
        if not file.name.endswith(".yml"):
            continue
        doc = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        for conversation in doc.get("conversations") or []:
            for line in conversation:
                if isinstance(line, str):
                    yield " ".join(line.split())


def load_corpus(languages=None, max_per_language=MAX_PER_LANGUAGE):
    """[(text, lang), ...]: the unique lines of each language, at most
    max_per_language of them (a fixed, hash-ordered choice), in a fixed order."""
    wanted = languages or list(LANGUAGES.values())
    tweets = []
    for folder, lang in LANGUAGES.items():
        if lang not in wanted:
            continue
        # (code snippets in ``` fences are no tweets)
        texts = {t for t in _dialog_lines(folder) if len(t) >= MIN_CHARS and "```" not in t}
        tweets += [(t, lang) for t in sorted(texts, key=text_key)[:max_per_language]]
    return tweets

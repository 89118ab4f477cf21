"""How a text becomes a vector, as in the original course: the hashed counts of
its character bigrams. "hola" -> "h o", "o l", "l a" -> a 1000-long count vector.

Languages differ in which letter pairs they use ("th" in English, "ñ"/"ll" in
Spanish, whole other alphabets in Ukrainian or Persian), so texts of one language
land near each other. The counts are scaled to length 1 so that a long text and a
short one in the same language look alike (k-means measures distances).

    from features import bigram_features
    stages = bigram_features()   # Spark ML stages: "text" column -> "features" column
"""

from pyspark.ml.feature import HashingTF, NGram, Normalizer, RegexTokenizer

NUM_FEATURES = 1000


def bigram_features(input_col="text", output_col="features", num_features=NUM_FEATURES):
    """Spark ML stages turning a text column into unit-length bigram-count vectors."""
    return [
        # An empty pattern splits between every character: "Hi you" -> h, i, " ", y, o, u
        RegexTokenizer(inputCol=input_col, outputCol="chars", pattern="", toLowercase=True),
        # Neighbouring characters: "h i", "i  ", "  y", ...
        NGram(n=2, inputCol="chars", outputCol="bigrams"),
        # Each bigram hashed to one of num_features buckets, counted
        HashingTF(inputCol="bigrams", outputCol="counts", numFeatures=num_features),
        # Scaled to length 1
        Normalizer(inputCol="counts", outputCol=output_col, p=2.0),
    ]

"""Free text as a feature (issue 20): real reviews (data/reviews.csv, Amazon fine-food reviews that the R package
modeldata ships) through fit, predict and the exported SavedModel served by plain TensorFlow on raw strings."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import DATA, TINY, load, run_cli, serve_with_plain_tensorflow


@pytest.fixture(scope="module")
def reviews_run(tmp_path_factory):
    from autotune.config import FitConfig
    from autotune.pipeline import fit

    out = tmp_path_factory.mktemp("reviews") / "bundle"
    return fit(FitConfig.of(DATA / "reviews.csv", target="score", output=out, **TINY))


def test_the_text_layer_splits_words_as_the_vocabulary_was_counted():
    """clean.text_words (what the vocabulary is learned with, without TensorFlow) and the exported model's
    TextVectorization count the same words in the same cells, tricky ones included."""
    import tensorflow as tf

    from autotune.data.clean import Feature
    from autotune.tabular.encode import build_preprocessor

    cells = ["Don't STOP-me,\tnow!\n", "Émile\u00a0Zola  café", "", "  ...  ", "a.b.c a-b-c ABC", "日本語 テキスト",
             "x" * 5000 + " tail", "naïve NAÏVE Naïve", "tab\there\r\nnew  line"]
    from autotune.data.clean import text_words

    words = sorted({w for c in cells for w in text_words(c)})
    width = len(words) + 1
    feature = Feature("t", "text", "string", vocabulary=tuple(words), idf=(1.0,) * len(words), key="t",
                      dimensions=width, projection=np.eye(width, dtype=np.float32),
                      projection_bias=np.zeros(width, np.float32))
    layer = build_preprocessor([feature]).get_layer("tfidf_t")
    counts = layer(tf.constant(np.array(cells, dtype=object).reshape(-1, 1))).numpy()
    expected = np.zeros_like(counts)
    for i, cell in enumerate(cells):
        for w in text_words(cell):
            expected[i, 1 + words.index(w)] += 1.0
    np.testing.assert_array_equal(counts, expected)  # no word lands in the unknown slot (column 0)


def test_text_fit_predict_and_plain_tensorflow_agree_on_raw_strings(reviews_run, tmp_path):
    report, output = reviews_run.report, reviews_run.output
    review = next(c for c in report["profile"]["columns"] if c["name"] == "review")
    assert review["kind"] == "text" and review["text"]["vocabulary"] > 1000
    assert review["text"]["words"]["median"] > 10
    meta = json.loads((output / "metadata.json").read_text())
    (text,) = meta["inputs"]
    assert text["kind"] == "text" and len(text["vocabulary"]) == len(text["idf"]) > 500
    assert text["dimensions"] == 128 and "projection" not in text
    assert "sequence_length" not in text  # the default space reads the text through its TF-IDF alone: no word ids
    assert report["baseline"]["model"] == "TF-IDF + LogisticRegression"
    assert report["baseline"]["name"] == "the TF-IDF + linear baseline"
    assert "Free text" in (output / "report.md").read_text()

    rows = load("reviews.csv").head(40).drop(columns="score")
    rows.loc[0, "review"] = np.nan  # missing text: no words
    rows.loc[1, "review"] = "zzqv wobblefrump never written in any review"  # unseen words
    rows.loc[2, "review"] = "Great " * 20000  # a long cell
    plain = predict_and_serve_alike(output, rows, tmp_path)
    assert plain["leaked"] == []


def predict_and_serve_alike(bundle, rows: pd.DataFrame, tmp_path) -> dict:
    """`autotune predict` and plain TensorFlow's SavedModel on the same raw rows: finite and equal probabilities
    (1e-5), the same labels; plain TensorFlow's answer."""
    path = tmp_path / "rows.csv"
    rows.to_csv(path, index=False)
    predicted = run_cli("predict", str(bundle), str(path))
    assert predicted.returncode == 0, predicted.stderr
    ours = pd.read_csv(pd.io.common.StringIO(predicted.stdout))
    plain = serve_with_plain_tensorflow(bundle, path, tmp_path)
    labels = json.loads((bundle / "metadata.json").read_text())["labels"]
    assert np.isfinite(np.asarray(plain["probabilities"])).all()
    np.testing.assert_allclose(ours[[f"p_{label}" for label in labels]].to_numpy(),
                               np.asarray(plain["probabilities"]), atol=1e-5)
    assert ours["prediction"].tolist() == plain["label"]
    return plain


def test_a_text_only_csv_needs_no_flag_and_a_named_column_is_read_as_text(tmp_path):
    """`autotune fit reviews.csv --target score` with nothing else, and --text-columns on a column the rule
    reads as a category; --no-baseline keeps it short (the baseline is the test above's)."""
    frame = load("reviews.csv").head(200)
    frame["shop"] = [f"shop {i % 30}" for i in range(len(frame))]  # worded, 30 values: a category by the rule
    path = tmp_path / "reviews.csv"
    frame.to_csv(path, index=False)
    out = tmp_path / "bundle"
    done = run_cli("fit", str(path), "--target", "score", "-o", str(out), "--max-trials", "1", "--epochs", "2",
                   "--text-columns", "shop", "--no-baseline", "--json", "-q")
    assert done.returncode == 0, done.stderr
    kinds = {c["name"]: c["kind"] for c in json.loads((out / "report.json").read_text())["profile"]["columns"]}
    assert kinds == {"review": "text", "shop": "text"}
    wrong = run_cli("fit", str(path), "--target", "score", "-o", str(tmp_path / "b2"), "--text-columns", "shops")
    assert wrong.returncode == 2 and wrong.stderr.strip().splitlines()[-1].startswith('error: column "shops"')
    assert not (tmp_path / "b2").exists()


def test_the_models_text_encoding_is_the_tfidf_projection_learned_on_the_training_rows():
    """The preprocessor's numbers for a text column are clean.tfidf_rows (computed without TensorFlow) times the
    projection learned on the training rows, plus its bias — and standardised on those rows."""
    from autotune.data.clean import learn_features, raw_inputs, text_words, tfidf_rows
    from autotune.data.profile import profile
    from autotune.tabular.encode import build_preprocessor, encode
    from autotune.tabular.encode import sequence_blocks as encode_blocks

    frame = load("reviews.csv")
    train, other = frame.iloc[:400], frame.iloc[400:]
    (feature,), _ = learn_features(train, profile(frame, "score"), word_ids=True)
    model = build_preprocessor([feature])
    ours = encode(model, raw_inputs(other, [feature]))
    cells = [text_words(v) for v in other["review"].fillna("").astype(str)]
    expected = tfidf_rows(cells, list(feature.vocabulary), feature.idf) @ feature.projection + feature.projection_bias
    directions = slice(0, feature.dimensions)
    np.testing.assert_allclose(ours[:, directions], expected, atol=1e-5)
    on_train = encode(model, raw_inputs(train, [feature]))
    np.testing.assert_allclose(on_train[:, directions].mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(on_train[:, directions].std(axis=0), 1, atol=1e-3)
    assert ours.shape == (len(other), feature.dimensions + feature.sequence_length) and feature.dimensions == 128
    # then the first sequence_length words as ids (0 padding, 1 unknown, 2 on the vocabulary), what the search's
    # sequence encoders read: nine training cells in ten have no more words than that
    lengths = [len(text_words(v)) for v in train["review"].fillna("").astype(str)]
    assert feature.sequence_length == min(128, int(np.ceil(np.quantile(lengths, 0.9))))
    index = {w: i + 2 for i, w in enumerate(feature.vocabulary)}
    ids = np.zeros((len(cells), feature.sequence_length), np.float32)
    for r, words in enumerate(cells):
        first = [index.get(w, 1) for w in words[:feature.sequence_length]]
        ids[r, :len(first)] = first
    np.testing.assert_array_equal(ours[:, feature.dimensions:], ids)
    assert encode_blocks([feature]) == [[128, feature.sequence_length, len(feature.vocabulary) + 2]]


def test_the_saved_model_takes_text_that_is_not_utf8_and_text_of_any_length(reviews_run):
    """Serving gets bytes, not always UTF-8 (a Latin-1 client): the model still answers, and a cell of 200,000
    characters has no sequence length to overflow (a bag of words)."""
    import tensorflow as tf

    serve = tf.saved_model.load(str(reviews_run.output / "saved_model")).signatures["serving_default"]
    out = serve(review=tf.constant([b"caf\xe9 cr\xe8me great snack \xff\xfe", b"", b"tasty " * 40000]))
    probabilities = out["probabilities"].numpy()
    assert probabilities.shape == (3, 2) and np.isfinite(probabilities).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, atol=1e-5)


@pytest.mark.parametrize("encoder", ["embedding", "conv1d", "bigru"])
def test_each_sequence_encoder_fits_predicts_and_serves_raw_strings_in_plain_tensorflow(encoder, tmp_path):
    """The search's sequence encoders of a text column (text_encoder: an embedding averaged over the words, a 1-D
    convolution, a bidirectional GRU, beside the TF-IDF directions) are trained by Keras's fit in the search and the
    final fit, exported inside the model, and read raw strings served by plain TensorFlow — unseen words, a missing
    cell and a cell far longer than the sequence the same as `autotune predict` (1e-5)."""
    from autotune.config import FitConfig
    from autotune.pipeline import fit

    frame = load("reviews.csv").head(240)
    frame["price"] = np.linspace(1, 30, len(frame))  # a number beside the text: its columns precede the word ids
    data = tmp_path / "reviews.csv"
    frame.to_csv(data, index=False)
    out = tmp_path / "bundle"
    # one fold: the encoder's trace is the cost (240 rows would otherwise be searched by 3-fold cross-validation)
    done = fit(FitConfig.of(data, target="score", output=out, tuner="random", max_trials=1, epochs=3, patience=2,
                            seed=0, space={"text_encoder": [encoder], "layers": {"min": 1, "max": 1}},
                            search_folds=1, baseline=False))
    assert done.report["search"]["best_hyperparameters"]["text_encoder"] == encoder
    import keras

    model = keras.models.load_model(out / "model.keras", compile=False)
    layers = {layer.name: layer for layer in model._flatten_layers()}
    assert any(n.startswith({"embedding": "mean_words", "conv1d": "conv_", "bigru": "bigru_"}[encoder]) for n in layers)
    rows = load("reviews.csv").iloc[300:340].drop(columns="score")
    rows["price"] = np.linspace(2, 25, len(rows))
    rows.loc[rows.index[0], "review"] = np.nan
    rows.loc[rows.index[1], "review"] = "zzqv wobblefrump never written in any review"
    rows.loc[rows.index[2], "review"] = "Great tasty " * 3000
    predict_and_serve_alike(out, rows, tmp_path)  # finite: a missing cell has no word to average (it gave NaN)
    # the word ids reach the outputs: with the learned word vectors zeroed the same rows score otherwise
    from autotune.bundle.load import load_bundle
    from autotune.data.clean import raw_inputs
    from autotune.train import predict_raw

    columns = raw_inputs(rows, load_bundle(out).features)
    before = predict_raw(model, columns)
    (embedding,) = [layer for name, layer in layers.items() if name.startswith("embedding_")]
    embedding.set_weights([np.zeros_like(w) for w in embedding.get_weights()])
    after = predict_raw(model, columns)
    assert np.abs(before - after).max() > 1e-4

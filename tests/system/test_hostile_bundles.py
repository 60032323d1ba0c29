"""Issue 15 (items 1 and 2): a bundle is untrusted input. Its SavedModel is a program, so its ops are
checked against what autotune exports before TensorFlow loads it; its report never makes `autotune report`
read a file outside the bundle. Both tamperings keep metadata.json's hashes valid (export.seal), as an
attacker who can edit one file can edit metadata.json too."""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import textwrap

import pytest
from conftest import DATA, ROOT, report_reaching_out, run_cli

from autotune.bundle.export import seal


def _copy(run, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(run.output, bundle)
    return bundle


WRITERS = {  # a file-writing call inside the serving signature, and the op TensorFlow's own checkpoints write with
    "WriteFile": "tf.io.write_file(written, 'written by a bundle')",
    "SaveV2": "tf.raw_ops.SaveV2(prefix=written, tensor_names=['x'], shape_and_slices=[''], tensors=[bill_length_mm])",
}


@pytest.mark.parametrize("op", WRITERS)
def test_predict_refuses_a_saved_model_with_a_file_writing_op_without_running_it(penguins_run, tmp_path, op):
    """Also SaveV2, which every SavedModel holds for TensorFlow's own save of its variables: allowed only in the
    functions the saver alone calls, refused in what a signature runs."""
    bundle = _copy(penguins_run, tmp_path)
    written = tmp_path / "pwned.txt"
    shutil.rmtree(bundle / "saved_model")
    script = textwrap.dedent(f"""
        import tensorflow as tf
        written = {str(written)!r}
        class Evil(tf.Module):
            @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="bill_length_mm")])
            def serve(self, bill_length_mm):
                {WRITERS[op]}
                return {{"value": bill_length_mm}}
        module = Evil()
        tf.saved_model.save(module, {str(bundle / "saved_model")!r}, signatures={{"serving_default": module.serve}})
        """)
    made = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    seal(bundle)  # valid hashes: they only ever detected accidents
    result = run_cli("predict", str(bundle), str(DATA / "penguins.csv"))
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and op in last and "refused without running it" in last
    assert not any(tmp_path.glob("pwned*"))


def test_the_saved_models_autotune_exports_pass_the_op_check(penguins_run, diabetes_run):
    from autotune.bundle.verify import ALLOWED_OPS, CHECKPOINT_OPS, foreign_ops, saved_model_ops

    for run in (penguins_run, diabetes_run):
        ops = saved_model_ops(run.output / "saved_model")
        assert ops <= ALLOWED_OPS and CHECKPOINT_OPS <= ops  # the saver's own save and restore are there
        assert not foreign_ops(run.output / "saved_model")


def test_report_never_reads_outside_the_bundle(penguins_run, tmp_path):
    bundle = _copy(penguins_run, tmp_path)
    secret = tmp_path / "secret.png"
    report_reaching_out(bundle, secret)
    out = tmp_path / "page.html"
    result = run_cli("report", str(bundle), "-o", str(out))
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert base64.b64encode(secret.read_bytes()).decode() not in page and "not found" in page


def test_report_refuses_a_bundle_whose_files_do_not_match_their_hashes(penguins_run, tmp_path):
    bundle = _copy(penguins_run, tmp_path)
    report = json.loads((bundle / "report.json").read_text())
    report["headline"]["value"] = 1.0  # a better number, without re-sealing
    (bundle / "report.json").write_text(json.dumps(report))
    result = run_cli("report", str(bundle), "-o", str(tmp_path / "page.html"))
    assert result.returncode == 2
    assert "report.json does not match its hash" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "page.html").exists()


# --- item 6: metadata.json is validated, and its labels checked against the SavedModel's own -------------


def _edit_metadata(bundle, change) -> None:
    """Change metadata.json as an editor would (its own hash is in no list: nothing to recompute)."""
    path = bundle / "metadata.json"
    meta = json.loads(path.read_text())
    replaced = change(meta)
    path.write_text(json.dumps(meta if replaced is None else replaced))


def test_reversed_labels_are_refused_not_used_to_invert_every_prediction(penguins_run, tmp_path):
    bundle = _copy(penguins_run, tmp_path)
    _edit_metadata(bundle, lambda meta: meta["labels"].reverse())
    result = run_cli("predict", str(bundle), str(DATA / "penguins.csv"))
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [result.stderr.strip().splitlines()[-1]] and result.stdout == ""
    assert errors[0].startswith(f'error: {bundle / "metadata.json"}: field "labels" ["Gentoo", "Chinstrap", "Adelie"] '
                                "does not match the SavedModel's own labels")


def _dtype_to_string(meta):
    number = next(f for f in meta["inputs"] if f["dtype"] == "number")
    number["dtype"] = "string"


@pytest.mark.parametrize("change, field", [
    (lambda meta: [meta], "must be a JSON object, not a list"),
    (lambda meta: meta.pop("files") and None, 'field "files" is missing'),
    (lambda meta: meta.update(files=[]), 'field "files"'),
    (lambda meta: meta.update(labels=meta["labels"][:2]), 'field "labels"'),
    (lambda meta: meta.update(labels=meta["labels"][:1]), 'field "labels"'),
    (_dtype_to_string, 'field "inputs[1].dtype"'),
    (lambda meta: meta.update(task=3), 'field "task"'),
    (lambda meta: meta.update(inputs={"island": 1}), 'field "inputs"'),
    (lambda meta: meta["inputs"].__setitem__(0, "island"), 'field "inputs[0]"'),
    (lambda meta: meta["inputs"][1].update(fill="x"), 'field "inputs[1].fill"'),
    (lambda meta: meta["inputs"][0].update(vocabulary="Biscoe"), 'field "inputs[0].vocabulary"'),
    (lambda meta: meta["inputs"][0].update(evil=1), 'field "inputs[0].evil"'),
    (lambda meta: meta["inputs"][1].update(key=meta["inputs"][0]["key"]), 'field "inputs[1].key"'),
], ids=["top-level-list", "files-deleted", "files-not-a-mapping", "labels-shortened", "one-label", "dtype-changed",
        "task-not-text", "inputs-not-a-list", "input-not-an-object", "fill-not-a-number", "vocabulary-not-a-list",
        "unknown-input-field", "duplicate-key"])
def test_metadata_that_does_not_fit_its_schema_or_the_saved_model_is_refused(penguins_run, tmp_path, change, field):
    """Each one a clean InputError naming metadata.json and the field, never an IndexError/TypeError later."""
    import pandas as pd

    from autotune.bundle.load import load_bundle, predict
    from autotune.errors import InputError

    bundle = _copy(penguins_run, tmp_path)
    _edit_metadata(bundle, change)
    with pytest.raises(InputError) as refused:
        predict(load_bundle(bundle), pd.read_csv(DATA / "penguins.csv").head(20))
    assert refused.value.message.startswith(f"{bundle / 'metadata.json'}: ") and field in refused.value.message
    assert "\n" not in refused.value.message


# --- item 14: `autotune schema` prints column -> key -> dtype, as the SavedModel takes them ----------------

SIGNING_KEY = "a deployment's secret"


def _cli(*args, key: str | None = None) -> subprocess.CompletedProcess:
    """run_cli with AUTOTUNE_SIGNING_KEY set to `key` (or unset)."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "AUTOTUNE_SIGNING_KEY"}
    if key is not None:
        env["AUTOTUNE_SIGNING_KEY"] = key
    return subprocess.run([sys.executable, "-m", "autotune", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600, env=env)


@pytest.fixture(scope="module")
def awkward_names(tmp_path_factory):
    """A signed bundle fitted on columns whose keys need the `c_` prefix and the `_2` suffix."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    n = 90
    a = rng.integers(0, 20, n) / 2
    frame = pd.DataFrame({"a b": a, "a_b": rng.integers(0, 20, n) / 2, "2nd": rng.integers(0, 9, n) / 4,
                          "Size": rng.integers(0, 30, n) / 3, "size": rng.choice(["S", "M", "L"], n),
                          " colour! ": rng.choice(["red", "blue"], n),
                          "label": np.where(a + rng.normal(0, 1, n) > 5, "yes", "no")})
    root = tmp_path_factory.mktemp("awkward")
    data = root / "awkward.csv"
    frame.to_csv(data, index=False)
    out = root / "bundle"
    fit = _cli("fit", str(data), "--target", "label", "-o", str(out), "--tuner", "random", "--max-trials", "1",
               "--epochs", "3", "--patience", "2", "--search-folds", "1", "--ensemble", "1", "--no-baseline",
               "--json", key=SIGNING_KEY)
    assert fit.returncode == 0, fit.stderr
    return out, data, json.loads(fit.stdout)


EXPECTED_KEYS = [("a b", "a_b", "number"), ("a_b", "a_b_2", "number"), ("2nd", "c_2nd", "number"),
                 ("Size", "Size", "number"), ("size", "size_2", "string"), ("colour!", "colour_", "string")]


def test_schema_prints_the_keys_the_saved_model_takes(awkward_names):
    import hashlib

    import tensorflow as tf

    bundle, _, fitted = awkward_names
    result = _cli("schema", str(bundle), "--json", key=SIGNING_KEY)
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    listed = [(c["column"], c["key"], c["dtype"]) for c in schema["inputs"]]
    assert sorted(listed) == sorted(EXPECTED_KEYS)
    signature = tf.saved_model.load(str(bundle / "saved_model")).signatures["serving_default"]
    takes = {k: spec.dtype for k, spec in signature.structured_input_signature[1].items()}
    assert takes == {key: tf.float32 if dtype == "number" else tf.string for _, key, dtype in listed}
    digest = hashlib.sha256((bundle / "metadata.json").read_bytes()).hexdigest()
    assert schema["metadata_sha256"] == digest == fitted["metadata_sha256"]
    assert schema["labels"] == ["no", "yes"] and schema["outputs"]["label"]

    plain = _cli("schema", str(bundle), key=SIGNING_KEY)
    assert plain.returncode == 0, plain.stderr
    rows = [line.split() for line in plain.stdout.splitlines()]
    assert ["column", "key", "dtype"] in rows and ["a_b", "a_b_2", "number"] in rows and ["2nd", "c_2nd", "number"] in rows
    assert digest in plain.stdout


# --- item 1: an optional provenance signature, and a pinned metadata.json --------------------------------


def test_a_signed_bundle_loads_with_its_key_and_is_refused_otherwise(awkward_names, tmp_path):
    bundle, data, fitted = awkward_names
    assert (bundle / "metadata.json.hmac").exists()
    assert "metadata.json.hmac" not in json.loads((bundle / "metadata.json").read_text())["files"]
    ok = _cli("predict", str(bundle), str(data), key=SIGNING_KEY)
    assert ok.returncode == 0, ok.stderr
    assert _cli("predict", str(bundle), str(data)).returncode == 0  # no key set: no provenance asked for

    wrong = _cli("predict", str(bundle), str(data), key="another key")
    assert wrong.returncode == 2 and wrong.stdout == ""
    assert wrong.stderr.strip().splitlines()[-1] == (
        f"error: {bundle / 'metadata.json.hmac'}: the signature does not match metadata.json under "
        "AUTOTUNE_SIGNING_KEY (edited, or signed with another key); refused — use a bundle signed with your key")

    tampered = tmp_path / "tampered"
    shutil.copytree(bundle, tampered)
    report = json.loads((tampered / "report.json").read_text())
    report["headline"]["value"] = 1.0
    (tampered / "report.json").write_text(json.dumps(report))
    seal(tampered)  # hashes recomputed, as an attacker would
    refused = _cli("report", str(tampered), "--json", key=SIGNING_KEY)
    assert refused.returncode == 2 and "the signature does not match metadata.json" in refused.stderr
    assert _cli("report", str(tampered), "--json").returncode == 0  # the hashes alone cannot tell

    unsigned = tmp_path / "unsigned"
    shutil.copytree(bundle, unsigned)
    (unsigned / "metadata.json.hmac").unlink()
    missing = _cli("schema", str(unsigned), key=SIGNING_KEY)
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1] == (
        f"error: {unsigned}: not signed (no metadata.json.hmac) while AUTOTUNE_SIGNING_KEY is set; refused — "
        "re-export it with `autotune fit` under the same key")


def test_expect_sha256_pins_a_bundle(awkward_names, tmp_path):
    bundle, data, fitted = awkward_names
    digest = fitted["metadata_sha256"]
    assert _cli("predict", str(bundle), str(data), "--expect-sha256", digest).returncode == 0
    other = tmp_path / "other"
    shutil.copytree(bundle, other)
    _edit_metadata(other, lambda meta: meta.update(seed=1))
    refused = _cli("evaluate", str(other), str(data), "--expect-sha256", digest, "--json")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1].startswith(
        f"error: {other / 'metadata.json'}: sha256 is ") and f"not the expected {digest}" in refused.stderr
    assert json.loads(refused.stdout)["status"] == "error"
    bad = _cli("predict", str(bundle), str(data), "--expect-sha256", "abc")
    assert bad.returncode == 2 and "64 hexadecimal digits" in bad.stderr

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

from conftest import DATA, run_cli

from autotune.export import seal


def _copy(run, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(run.output, bundle)
    return bundle


def test_predict_refuses_a_saved_model_with_a_file_writing_op_without_running_it(penguins_run, tmp_path):
    bundle = _copy(penguins_run, tmp_path)
    written = tmp_path / "pwned.txt"
    shutil.rmtree(bundle / "saved_model")
    script = textwrap.dedent(f"""
        import tensorflow as tf
        class Evil(tf.Module):
            @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="bill_length_mm")])
            def serve(self, bill_length_mm):
                tf.io.write_file({str(written)!r}, "written by a bundle")
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
    assert last.startswith("error: ") and "WriteFile" in last and "refused without running it" in last
    assert not written.exists()


def test_the_saved_models_autotune_exports_pass_the_op_check(penguins_run, diabetes_run):
    from autotune.bundle import ALLOWED_OPS, saved_model_ops

    for run in (penguins_run, diabetes_run):
        assert saved_model_ops(run.output / "saved_model") <= ALLOWED_OPS


def test_report_never_reads_outside_the_bundle(penguins_run, tmp_path):
    bundle = _copy(penguins_run, tmp_path)
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG top secret")
    report = json.loads((bundle / "report.json").read_text())
    report["misclassified"] = {"total": 2, "shown": [
        {"file": str(secret), "source": "x", "true": "a", "predicted": "b", "confidence": 0.9},
        {"file": "report_images/../../secret.png", "source": "y", "true": "a", "predicted": "b", "confidence": 0.9}]}
    (bundle / "report.json").write_text(json.dumps(report))
    seal(bundle)
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

"""Issue 19, item 2: `autotune serve` speaks TensorFlow Serving's REST protocol — a real server process on a loopback
port, real HTTP requests, the answers of `autotune predict`."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest
from conftest import DATA, ROOT, load, run_cli, wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, body=None, raw: bytes | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _up(url: str) -> bool:
    try:
        return call(url)[0] == 200
    except (urllib.error.URLError, ConnectionError):
        return False


@pytest.fixture(scope="module")
def server(penguins_run):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "autotune", "serve", str(penguins_run.output), "--port",
                                str(port), "--name", "penguins", "--max-batch", "50", "--max-request-bytes",
                                "200000"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _up(base + "/healthz"), timeout=180, process=process, what="the server")
        yield base, penguins_run.output
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_both_tf_serving_formats_answer_as_autotune_predict(server):
    from autotune.bundle.load import load_bundle, predict
    from autotune.data.clean import raw_inputs

    base, bundle_path = server
    bundle = load_bundle(bundle_path)
    frame = load("penguins.csv").head(40)
    columns = raw_inputs(frame, bundle.features)
    instances = [{k: (None if isinstance(v[i], float) and np.isnan(v[i]) else v[i].item() if hasattr(v[i], "item")
                      else v[i]) for k, v in columns.items()} for i in range(len(frame))]
    expected = predict(bundle, frame)
    probabilities = expected[[c for c in expected.columns if c.startswith("p_")]].to_numpy()

    status, rows = call(f"{base}/v1/models/penguins:predict", {"instances": instances})
    assert status == 200, rows
    assert [r["label"] for r in rows["predictions"]] == expected["prediction"].tolist()
    np.testing.assert_allclose([r["probabilities"] for r in rows["predictions"]], probabilities, atol=1e-6)

    status, cols = call(f"{base}/v1/models/penguins/versions/1:predict",
                        {"signature_name": "serving_default",
                         "inputs": {k: [row[k] for row in instances] for k in columns}})
    assert status == 200, cols
    assert cols["outputs"]["label"] == expected["prediction"].tolist()
    np.testing.assert_allclose(cols["outputs"]["probabilities"], probabilities, atol=1e-6)


def test_status_metadata_and_health(server):
    base, bundle_path = server
    status, body = call(f"{base}/v1/models/penguins")
    assert status == 200 and body["model_version_status"][0]["state"] == "AVAILABLE"
    status, body = call(f"{base}/v1/models/penguins/metadata")
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    schema = json.loads(run_cli("schema", str(bundle_path), "--json").stdout)
    assert {k: v["dtype"] for k, v in signature["inputs"].items()} == {
        i["key"]: "DT_FLOAT" if i["dtype"] == "number" else "DT_STRING" for i in schema["inputs"]}
    assert set(signature["outputs"]) == {"probabilities", "label"}
    assert call(f"{base}/healthz") == (200, {"status": "ok", "model": "penguins"})
    assert call(f"{base}/v1/models/ducks")[0] == 404


def test_bad_requests_get_a_4xx_naming_the_field(server):
    base, _ = server
    url = f"{base}/v1/models/penguins:predict"
    row = {"island": "Dream", "bill_length_mm": 40.0, "bill_depth_mm": 18.0, "flipper_length_mm": 190.0,
           "body_mass_g": 3800.0, "sex": "female", "year": 2008}
    status, body = call(url, raw=b'{"instances": [')
    assert status == 400 and body["error"].startswith("the body is not JSON")
    status, body = call(url, {"instances": [{k: v for k, v in row.items() if k != "body_mass_g"}]})
    assert status == 400 and 'row 0 lacks input "body_mass_g"' in body["error"]
    status, body = call(url, {"instances": [{**row, "bill_length_mm": "long"}]})
    assert status == 400 and body["error"].startswith('field "bill_length_mm": row 0: expected a number')
    status, body = call(url, {"rows": [row]})
    assert status == 400 and '"instances" (rows) or "inputs" (columns)' in body["error"]
    status, body = call(url, {"instances": [row] * 51})
    assert status == 413 and "51 rows, over the limit of 50" in body["error"]
    status, body = call(url, {"instances": [{**row, "sex": "x" * 300_000}]})
    assert status == 413 and "over the limit of 200000 bytes" in body["error"]
    assert call(url, {"instances": [row]})[0] == 200  # and the server is still up


def test_serve_refuses_a_wildcard_and_a_busy_port_before_loading(penguins_run):
    done = run_cli("serve", str(penguins_run.output), "--host", "0.0.0.0")
    assert done.returncode == 2 and "a wildcard address listens on every network interface" in done.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_cli("serve", str(penguins_run.output), "--port", str(port))
    assert done.returncode == 2 and f"--port {port}: cannot listen there" in done.stderr
    done = run_cli("serve", str(DATA))
    assert done.returncode == 2 and "not an autotune bundle" in done.stderr

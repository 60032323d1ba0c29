"""`autotune serve BUNDLE`: the bundle's SavedModel over HTTP, speaking TensorFlow Serving's REST protocol
(https://www.tensorflow.org/tfx/serving/api_rest), so a client written for TF Serving works unchanged:

    GET  /v1/models/NAME                    the model's status
    GET  /v1/models/NAME/metadata           its serving signature (inputs and outputs, dtypes, shapes)
    POST /v1/models/NAME:predict            {"instances": [{key: value, …}, …]}  → {"predictions": [{output: …}, …]}
                                            {"inputs": {key: [value, …], …}}     → {"outputs": {output: [...], …}}
    GET  /healthz                           {"status": "ok"}

(`/v1/models/NAME/versions/1…` as well: a bundle is version 1.) Inputs are the SavedModel's keys (`autotune schema
BUNDLE` lists them): numbers for number columns, strings for category columns; null is a missing value. A bad
request gets a 400 with {"error": "…"} naming the field; a body over --max-request-bytes a 413, a request over
--max-batch rows a 413. Built on Starlette (routing, requests, responses) and uvicorn (the HTTP server): no HTTP
is parsed here.
"""
from __future__ import annotations

import json
import math

import numpy as np

from autotune.bundle.load import Bundle, check_row_labels
from autotune.errors import InputError
from autotune.task import task_of

VERSION = "1"
MAX_BATCH = 10_000
MAX_REQUEST_BYTES = 32 * 1024 * 1024


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _dtypes(bundle: Bundle) -> dict[str, str]:
    """Each input key's dtype: "number" or "string" (an image bundle: one "image" key of encoded bytes)."""
    if bundle.kind == "image":
        return {"image": "string"}
    return {f.key: f.dtype for f in bundle.features}


def _column(key: str, dtype: str, values: list) -> np.ndarray:
    """One input column of a request as the signature takes it; a value of the wrong kind names the field."""
    if dtype == "number":
        out = np.empty(len(values), np.float32)
        for i, v in enumerate(values):
            if v is None:
                out[i] = np.nan
            elif isinstance(v, bool) or not isinstance(v, int | float):
                raise BadRequest(f'field "{key}": row {i}: expected a number or null, got {json.dumps(v)[:40]}')
            else:
                out[i] = v
        return out
    if any(v is not None and not isinstance(v, str | bytes) for v in values):
        bad = next(v for v in values if v is not None and not isinstance(v, str | bytes))
        raise BadRequest(f'field "{key}": expected strings or null, got {json.dumps(bad)[:40]}')
    return np.asarray(["" if v is None else v for v in values], dtype=object)


def parse_request(body: bytes, dtypes: dict[str, str], max_batch: int = MAX_BATCH) -> tuple[dict, str]:
    """The request's columns (key → array) and its format ("row" or "columnar")."""
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not JSON ({getattr(exc, 'msg', exc)})") from None
    if not isinstance(document, dict) or ("instances" in document) == ("inputs" in document):
        raise BadRequest('the body must be a JSON object with either "instances" (rows) or "inputs" (columns)')
    name = document.get("signature_name", "serving_default")
    if name not in ("serving_default", "serve"):
        raise BadRequest(f'field "signature_name": this model serves "serving_default" only, not {name!r}')
    if "instances" in document:
        return _rows(document["instances"], dtypes, max_batch), "row"
    return _columns(document["inputs"], dtypes, max_batch), "columnar"


def _check_size(field: str, rows: int, max_batch: int) -> None:
    if rows > max_batch:
        raise BadRequest(f'field "{field}": {rows} rows, over the limit of {max_batch} a request (--max-batch); '
                         "send smaller batches", 413)


def _rows(rows, dtypes: dict[str, str], max_batch: int) -> dict:
    """TF Serving's row format: a list of objects, one per row (or of bare values, for a single input)."""
    if not isinstance(rows, list) or not rows:
        raise BadRequest('field "instances": expected a non-empty list of rows')
    _check_size("instances", len(rows), max_batch)
    if len(dtypes) == 1:
        rows = [r if isinstance(r, dict) else {next(iter(dtypes)): r} for r in rows]
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise BadRequest(f'field "instances": row {i} is not an object of input keys')
        missing = [k for k in dtypes if k not in row]
        if missing:
            raise BadRequest(f'field "instances": row {i} lacks input "{missing[0]}" (inputs: {", ".join(dtypes)})')
    return {k: _column(k, t, [_value(row[k]) for row in rows]) for k, t in dtypes.items()}


def _columns(columns, dtypes: dict[str, str], max_batch: int) -> dict:
    """TF Serving's columnar format: an object of input keys to lists (or a bare list, for a single input)."""
    if len(dtypes) == 1 and isinstance(columns, list):
        columns = {next(iter(dtypes)): columns}
    if not isinstance(columns, dict):
        raise BadRequest('field "inputs": expected an object of input keys to lists of values')
    missing = [k for k in dtypes if k not in columns]
    if missing:
        raise BadRequest(f'field "inputs": lacks input "{missing[0]}" (inputs: {", ".join(dtypes)})')
    lengths = {len(columns[k]) if isinstance(columns[k], list) else -1 for k in dtypes}
    if -1 in lengths or len(lengths) != 1 or 0 in lengths:
        raise BadRequest('field "inputs": every input must be a non-empty list, all of the same length')
    _check_size("inputs", max(lengths), max_batch)
    return {k: _column(k, t, [_value(v) for v in columns[k]]) for k, t in dtypes.items()}


def _value(v):
    """TF Serving's {"b64": …} for bytes (an image), else the value itself."""
    if isinstance(v, dict) and set(v) == {"b64"}:
        import base64

        return base64.b64decode(v["b64"])
    if isinstance(v, list) and len(v) == 1:  # a [rows, 1] tensor written as nested lists
        return v[0]
    return v


class Server:
    """The model behind the routes: the SavedModel's signature, called on each request's columns."""

    def __init__(self, bundle: Bundle, name: str, max_batch: int = MAX_BATCH):
        self.bundle, self.name, self.max_batch = bundle, name, max_batch
        self.dtypes = _dtypes(bundle)
        self.signature = bundle.serve  # loads and checks the SavedModel now, not on the first request

    def predict(self, columns: dict) -> dict[str, np.ndarray]:
        import tensorflow as tf

        batch = {k: tf.constant(v if self.dtypes[k] == "number" else list(v)) for k, v in columns.items()}
        out = {k: v.numpy() for k, v in self.signature(**batch).items()}
        if "label" in out:
            check_row_labels(self.bundle, out[task_of(self.bundle.task).output_name], out["label"])
            out["label"] = np.asarray([b.decode() for b in out["label"]], dtype=object)
        return out

    def metadata(self) -> dict:
        """TF Serving's GetModelMetadata response for the serving_default signature."""
        def tensor(dtype: str, dims: list[int]) -> dict:
            return {"dtype": dtype, "tensor_shape": {"dim": [{"size": str(d), "name": ""} for d in dims],
                                                     "unknown_rank": False}}
        inputs = {k: {**tensor("DT_FLOAT" if t == "number" else "DT_STRING", [-1]), "name": f"serving_default_{k}:0"}
                  for k, t in self.dtypes.items()}
        names = {"float32": "DT_FLOAT", "string": "DT_STRING", "int64": "DT_INT64", "float64": "DT_DOUBLE"}
        outputs = {name: {**tensor(names.get(spec.dtype.name, spec.dtype.name),
                                   [-1 if d is None else d for d in spec.shape.as_list()]), "name": name}
                   for name, spec in self.signature.structured_outputs.items()}
        return {"model_spec": {"name": self.name, "signature_name": "", "version": VERSION},
                "metadata": {"signature_def": {"signature_def": {"serving_default": {
                    "inputs": inputs, "outputs": outputs, "method_name": "tensorflow/serving/predict"}}}}}


def _json(values: np.ndarray):
    """An output as JSON: NaN as null (JSON has no NaN)."""
    if values.dtype.kind == "f":
        return [[None if math.isnan(x) else float(x) for x in row] if np.ndim(row) else
                (None if math.isnan(row) else float(row)) for row in values]
    return values.tolist()


def _respond(server: Server, body: bytes) -> tuple[dict, int]:
    """A predict request's response document and HTTP status."""
    try:
        columns, form = parse_request(body, server.dtypes, server.max_batch)
        outputs = server.predict(columns)
    except BadRequest as exc:
        return {"error": str(exc)}, exc.status
    except InputError as exc:
        return {"error": exc.message}, 400
    as_json = {k: _json(v) for k, v in outputs.items()}
    if form == "columnar":
        return {"outputs": as_json}, 200
    rows = len(next(iter(as_json.values())))
    return {"predictions": [{k: v[i] for k, v in as_json.items()} for i in range(rows)]}, 200


async def _read_body(request, limit: int) -> bytes | None:
    """The body, or None once it is over `limit` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def make_app(server: Server, max_request_bytes: int = MAX_REQUEST_BYTES):
    """The Starlette application: TF Serving's REST routes over `server`."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    def known(request) -> JSONResponse | None:
        name, version = request.path_params["name"], request.path_params.get("version", VERSION)
        if name != server.name or version != VERSION:
            return JSONResponse({"error": f"Servable not found for request: {name} version {version}; this server "
                                          f"serves {server.name!r} version {VERSION}"}, status_code=404)
        return None

    async def status(request):
        return known(request) or JSONResponse({"model_version_status": [
            {"version": VERSION, "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]})

    async def metadata(request):
        return known(request) or JSONResponse(server.metadata())

    async def predict(request):
        if refused := known(request):
            return refused
        if request.path_params["verb"] != "predict":
            return JSONResponse({"error": f"unsupported method :{request.path_params['verb']}; this server "
                                          "answers :predict"}, status_code=400)
        body = await _read_body(request, max_request_bytes)
        if body is None:
            return JSONResponse({"error": f"the body is over the limit of {max_request_bytes} bytes "
                                          "(--max-request-bytes)"}, status_code=413)
        document, code = await run_in_threadpool(_respond, server, body)
        return JSONResponse(document, status_code=code)

    async def health(request):
        return JSONResponse({"status": "ok", "model": server.name})

    routes = [Route("/healthz", health),
              Route("/v1/models/{name}", status), Route("/v1/models/{name}/versions/{version}", status),
              Route("/v1/models/{name}/metadata", metadata),
              Route("/v1/models/{name}/versions/{version}/metadata", metadata),
              Route("/v1/models/{name}:{verb}", predict, methods=["POST"]),
              Route("/v1/models/{name}/versions/{version}:{verb}", predict, methods=["POST"])]
    return Starlette(routes=routes)


def check_host(host: str, port: int, allow_remote: bool) -> str | None:
    """Refuse a wildcard address without --allow-remote and a port this host cannot listen on (before the bundle
    loads); return a warning for any address other than loopback: the server has no authentication or TLS."""
    from autotune.search.distributed import WILDCARDS, is_loopback, probe_listen

    where = f"--host {host} --port {port}"
    if host in WILDCARDS and not allow_remote:
        raise InputError(f"{where}: a wildcard address listens on every network interface of this host, and the "
                         "server has no authentication or TLS; serve one address of a trusted network, or pass "
                         "--allow-remote if every host that can reach this one may query the model")
    probe_listen(host, port, where)
    if is_loopback(host):
        return None
    return (f"serving on {host}:{port}, reachable from other hosts: anyone who can reach it can query the model "
            "(no authentication or TLS); put it behind a proxy that has them")


def serve(bundle: Bundle, host: str, port: int, name: str, max_batch: int = MAX_BATCH,
          max_request_bytes: int = MAX_REQUEST_BYTES, announce=print) -> None:
    """Run the server until interrupted (Ctrl-C, SIGTERM)."""
    import uvicorn

    app = make_app(Server(bundle, name, max_batch), max_request_bytes)
    shown = f"[{host}]" if ":" in host else host
    announce(f"serving {name} at http://{shown}:{port}/v1/models/{name} (TensorFlow Serving's REST API: "
             f"POST …/{name}:predict); Ctrl-C stops")
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)

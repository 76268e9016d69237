"""RemoteMonitor posts what Keras's posts (to a server on 127.0.0.1); OrbaxCheckpoint refuses
with the torch alternative named."""

import http.server
import json
import os
import threading
import urllib.parse

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


@pytest.fixture
def server():
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            received.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", received
    httpd.shutdown()
    httpd.server_close()


def _payloads(received):
    out = []
    for _, kind, body in received:
        if kind.startswith("application/json"):
            out.append(json.loads(body))
        else:
            out.append(json.loads(urllib.parse.parse_qs(body)["data"][0]))
    return out


@pytest.mark.parametrize("send_as_json", [False, True])
def test_remote_monitor_posts_each_epoch(server, send_as_json):
    root, received = server
    x, y = np.ones((4, 2), "float32"), np.zeros((4, 1), "float32")
    model = plait.Sequential([plait.Input((2,)), plait.layers.Dense(1, kernel_initializer="ones")])
    model.compile("sgd", "mse")
    model.fit(x, y, epochs=2, verbose=0, callbacks=[plait.callbacks.RemoteMonitor(root, send_as_json=send_as_json)])
    ours = _payloads(received)
    received.clear()
    kmodel = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_initializer="ones")])
    kmodel.compile("sgd", "mse")
    kmodel.fit(x, y, epochs=2, verbose=0, callbacks=[keras.callbacks.RemoteMonitor(root, send_as_json=send_as_json)])
    theirs = _payloads(received)
    assert [p["epoch"] for p in ours] == [p["epoch"] for p in theirs] == [0, 1]
    for a, b in zip(ours, theirs):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)


def test_remote_monitor_warns_when_the_server_is_down():
    monitor = plait.callbacks.RemoteMonitor("http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.warns(UserWarning, match="could not reach"):
        monitor.on_epoch_end(0, {"loss": 1.0})


def test_refused_callbacks_name_the_alternative():
    with pytest.raises(NotImplementedError, match="ModelCheckpoint"):
        plait.callbacks.OrbaxCheckpoint("/tmp/ckpt")


def test_saving_weight_functions_read_keras_files(tmp_path):
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    kmodel = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    path = str(tmp_path / "k.weights.h5")
    keras.saving.save_weights(kmodel, path)
    model = plait.Sequential([plait.Input((4,)), plait.layers.Dense(3), plait.layers.Dense(2)])
    plait.saving.load_weights(model, path)
    np.testing.assert_allclose(model.predict(x, verbose=0), kmodel.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    ours = str(tmp_path / "p.weights.h5")
    plait.saving.save_weights(model, ours)
    kmodel2 = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    keras.saving.load_weights(kmodel2, ours)
    np.testing.assert_allclose(kmodel2.predict(x, verbose=0), kmodel.predict(x, verbose=0), rtol=1e-6)

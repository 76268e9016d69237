"""``RemoteMonitor``: post each epoch's logs to an HTTP server, as Keras's.

Example:
    >>> from plait.callbacks import RemoteMonitor
    >>> RemoteMonitor(root="http://127.0.0.1:9000").url
    'http://127.0.0.1:9000/publish/epoch/end/'
"""

import json
import urllib.parse
import urllib.request
import warnings

from plait.callbacks.callback import Callback


def _plain(value):
    """A log value as JSON takes it (tensors and numpy scalars as floats)."""
    value = value() if callable(value) else value
    if hasattr(value, "item"):
        return value.item()
    return value


class RemoteMonitor(Callback):
    """At each epoch's end, POST ``{"epoch": epoch, **logs}`` to ``root + path``.

    Args:
        root: the server's root URL.
        path: the path on the server.
        field: the form field holding the JSON text (when not ``send_as_json``).
        headers: extra HTTP headers.
        send_as_json: send the logs as a JSON body (``application/json``) instead of a form.
    """

    def __init__(
        self, root="http://localhost:9000", path="/publish/epoch/end/", field="data", headers=None, send_as_json=False
    ):
        super().__init__()
        self.root, self.path, self.field = root, path, field
        self.headers, self.send_as_json = headers, send_as_json

    @property
    def url(self):
        return self.root + self.path

    def on_epoch_end(self, epoch, logs=None):
        payload = {"epoch": epoch, **{key: _plain(value) for key, value in (logs or {}).items()}}
        headers = dict(self.headers or {})
        if self.send_as_json:
            body = json.dumps(payload).encode()
            headers.setdefault("Content-Type", "application/json")
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(payload)}).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(urllib.request.Request(self.url, data=body, headers=headers), timeout=10):
                pass
        except OSError as error:
            # As Keras: a monitor that cannot be reached does not stop training.
            warnings.warn(f"RemoteMonitor could not reach {self.url}: {error}", stacklevel=2)

"""``plait.export``: Keras 3's ``ExportArchive``, on ``torch.export``.

Keras writes a TensorFlow SavedModel with named endpoints; plait writes a ``.pt2`` archive of
``torch.export`` programs, one per endpoint, with the tracked models' weights inside. Dims
given as ``None`` in an endpoint's ``input_signature`` are dynamic. Load a one-endpoint archive
with ``torch.export.load``; :func:`load_endpoints` reads any archive back as
``{name: ExportedProgram}``.

Example:
    >>> import os, tempfile, torch, plait
    >>> model = plait.Sequential([plait.Input((3,)), plait.layers.Dense(2)])
    >>> archive = plait.export.ExportArchive()
    >>> archive.track(model)
    >>> _ = archive.add_endpoint("serve", model, input_signature=[plait.Input((3,))])  # batch dim dynamic
    >>> path = archive.write_out(os.path.join(tempfile.mkdtemp(), "model.pt2"))
    >>> program = torch.export.load(path)
    >>> x = torch.ones(5, 3)
    >>> torch.allclose(program.module()(x), model(x))
    True
"""

import os

import torch

from plait.graph.node import torch_dtype


class _Endpoint(torch.nn.Module):
    """A function over tracked modules as a module, so torch.export lifts their weights."""

    def __init__(self, fn, tracked):
        super().__init__()
        self.tracked = torch.nn.ModuleList(tracked)
        self.fn = fn

    def forward(self, *inputs):
        return self.fn(*inputs)


def _spec_parts(spec, endpoint):
    shape = getattr(spec, "shape", None)
    dtype = getattr(spec, "dtype", None) or "float32"
    if shape is None:
        raise ValueError(
            f"Endpoint '{endpoint}': each input_signature entry needs a shape (plait.Input(...), a tensor, "
            f"or anything with shape and dtype). Received: {spec!r}"
        )
    return tuple(shape), torch_dtype(dtype)


class ExportArchive:
    """Collect models and endpoint functions, then write them as one ``.pt2`` archive.

    Example: see the module's.
    """

    def __init__(self):
        self.tracked = []
        self.endpoints = {}
        self.variable_collections = {}

    def track(self, resource):
        """Track a model or layer (any ``torch.nn.Module``) whose weights the endpoints use."""
        if not isinstance(resource, torch.nn.Module):
            raise TypeError(f"ExportArchive.track expects a plait layer or model. Received: {resource!r}")
        if resource.training:
            resource.eval()  # endpoints serve inference, as Keras's do
        self.tracked.append(resource)

    def add_endpoint(self, name, fn=None, input_signature=None, **kwargs):
        """Add an endpoint ``name`` computing ``fn(*inputs)``.

        Args:
            name: the endpoint's name (a Python identifier).
            fn: a callable over tensors, typically a tracked model or its method.
            input_signature: one spec per positional input: anything with ``shape`` and ``dtype``
                (``plait.Input(...)``, a tensor, Keras's ``InputSpec``); ``None`` dims become dynamic.
        """
        if kwargs:
            raise TypeError(
                f"ExportArchive.add_endpoint: unexpected arguments {sorted(kwargs)} "
                "(plait takes name, fn, input_signature)"
            )
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"An endpoint name must be a Python identifier. Received: {name!r}")
        if name in self.endpoints:
            raise ValueError(f"Endpoint '{name}' already exists.")
        if fn is None or not callable(fn):
            raise ValueError(f"Endpoint '{name}' needs a callable `fn`. Received: {fn!r}")
        if not input_signature:
            raise ValueError(f"Endpoint '{name}' needs an `input_signature` (plait cannot trace without shapes).")
        if not self.tracked:
            raise ValueError("Track a model with `track(model)` before adding endpoints that use it.")
        specs = [_spec_parts(spec, name) for spec in input_signature]
        self.endpoints[name] = (fn, specs)
        return fn

    def add_variable_collection(self, name, variables):
        """Keep a named list of variables (weights) in the archive, as Keras's (read back with
        :func:`load_variable_collection`)."""
        variables = list(variables)
        if not all(isinstance(v, torch.Tensor) for v in variables):
            raise ValueError(f"Variable collection '{name}' must hold weights (tensors).")
        self.variable_collections[name] = variables

    def _export(self, name):
        fn, specs = self.endpoints[name]
        examples, dynamic = [], []
        for position, (shape, dtype) in enumerate(specs):
            # Unknown dims get example size 3 (>= 2, so torch does not specialise them).
            make = torch.randn if dtype.is_floating_point else torch.zeros
            examples.append(make([3 if d is None else d for d in shape], dtype=dtype))
            dims = {i: torch.export.Dim(f"{name}_{position}_{i}") for i, d in enumerate(shape) if d is None}
            dynamic.append(dims or None)
        module = _Endpoint(fn, self.tracked).eval()
        with torch.no_grad():
            return torch.export.export(module, tuple(examples), dynamic_shapes={"inputs": tuple(dynamic)})

    def write_out(self, filepath, format="torch_export", verbose=None):
        """Export every endpoint and write the archive to ``filepath`` (a ``.pt2`` name).

        Returns:
            the path.
        """
        del verbose
        filepath = os.fspath(filepath)
        if format != "torch_export" or not filepath.endswith(".pt2"):
            raise ValueError(
                "plait's ExportArchive writes torch.export archives: format='torch_export' and a .pt2 "
                f"path (a TF SavedModel needs TensorFlow). Received: format={format!r}, filepath={filepath!r}"
            )
        if not self.endpoints:
            raise ValueError("No endpoints to write: call add_endpoint first.")
        programs = {name: self._export(name) for name in self.endpoints}
        extra = {f"variables/{name}.pt": _tensor_bytes(values) for name, values in self.variable_collections.items()}
        if len(programs) == 1 and not extra:
            torch.export.save(next(iter(programs.values())), filepath)
        else:
            from torch.export.pt2_archive._package import package_pt2

            package_pt2(filepath, exported_programs=programs, extra_files=extra)
        return filepath


def _tensor_bytes(values):
    """The tensors as ``torch.save`` bytes in base64 (the archive's extra files are text)."""
    import base64
    import io

    buffer = io.BytesIO()
    torch.save([v.detach().cpu() for v in values], buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def load_variable_collection(filepath, name):
    """The tensors of variable collection ``name`` in an archive from :meth:`ExportArchive.write_out`."""
    import base64
    import io

    from torch.export.pt2_archive._package import load_pt2

    extra = load_pt2(os.fspath(filepath)).extra_files
    key = f"variables/{name}.pt"
    if key not in extra:
        raise ValueError(f"The archive has no variable collection {name!r}.")
    return torch.load(io.BytesIO(base64.b64decode(extra[key])), weights_only=True)


def load_endpoints(filepath):
    """The endpoints of an archive written by :meth:`ExportArchive.write_out`, as
    ``{name: torch.export.ExportedProgram}`` (a one-endpoint archive comes back as ``"model"``,
    torch's own name)."""
    from torch.export.pt2_archive._package import load_pt2

    return dict(load_pt2(os.fspath(filepath)).exported_programs)


__all__ = ["ExportArchive"]

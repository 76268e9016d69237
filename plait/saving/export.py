"""``model.export(path)``: ONNX (``.onnx``) through torch's exporter, or a ``torch.export``
program (``.pt2``), with the batch dim -- and every other ``None`` dim -- dynamic."""

import contextlib
import logging
import os
import warnings

import torch

# Where torch's exporters warn from about their own internals (missing torchvision kernels,
# deprecations inside torch's pytree code, which Python attributes to copyreg): not the user's
# business. Warnings from plait and from the user's own layers keep showing.
_INTERNAL_WARNING_MODULES = r"(torch|torchvision|onnx|onnxscript|onnx_ir|onnxruntime|copyreg)(\..*)?$"
_INTERNAL_LOGGERS = ("torch.onnx", "torch.export", "torch._export", "torch._dynamo", "torch.fx", "onnxscript")


@contextlib.contextmanager
def _quiet_exporter():
    """Silence torch's internal warnings and log lines during an export."""
    loggers = [logging.getLogger(name) for name in _INTERNAL_LOGGERS]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=_INTERNAL_WARNING_MODULES)
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def _require_onnx_exporter():
    """torch's ONNX exporter imports ``onnx`` and ``onnxscript`` on first use; without them it
    fails with a bare ``No module named 'onnxscript'``. Name the extra that installs them."""
    import importlib.util

    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(
            f"Exporting to ONNX needs {' and '.join(missing)}, which are not installed: "
            '`pip install "plait[onnx]"` (onnx, onnxscript and onnxruntime), or export a '
            "torch.export program instead: model.export('model.pt2')."
        )


def _example_inputs(model):
    """Example tensors: batch 3, other unknown dims the smallest of 8, 64, 512, 4096 that the model
    accepts (a conv/pool stack needs long sequences); sizes >= 2 so torch does not specialise."""
    for size in (8, 64, 512, 4096):
        examples = []
        for t in model.inputs:
            shape = [3 if i == 0 and d is None else (size if d is None else d) for i, d in enumerate(t.shape)]
            maker = torch.randn if t.torch_dtype.is_floating_point else torch.zeros
            examples.append(maker(shape, dtype=t.torch_dtype))
        try:
            with torch.no_grad():
                model.graph_call(*examples)
            return tuple(examples)
        except (RuntimeError, ValueError):
            continue
    raise ValueError(f"Could not make example inputs for model '{model.name}'; pass example_inputs=.")


def _dynamic_shapes(model):
    # The batch dim is dynamic; other unknown dims are dynamic wherever the model allows it
    # (Dim.AUTO): torch's LSTM decomposition unrolls over time, so an LSTM fixes its length
    # to the example's.
    shapes = []
    for t in model.inputs:
        dims = {
            i: torch.export.Dim("batch") if i == 0 else torch.export.Dim.AUTO
            for i, d in enumerate(t.shape)
            if d is None
        }
        shapes.append(dims or None)
    return tuple(shapes)


class _Positional(torch.nn.Module):
    """The model with plain positional inputs and a flat tuple of outputs (what exporters take)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, *inputs):
        return self.model.graph_call(*inputs)


def export_model(model, filepath, format=None, example_inputs=None):
    """Export a functional model.

    Args:
        filepath: ``.onnx`` or ``.pt2``.
        format: ``"onnx"`` or ``"torch_export"`` (default: from the extension).
        example_inputs: tensors in input order (default: small random ones); their sizes are the
            ones kept for any dim the model cannot leave dynamic.

    Returns:
        the path.
    """
    filepath = os.fspath(filepath)
    if not hasattr(model, "graph_source"):  # set with the generated forward
        raise ValueError(f"Model '{model.name}' has no graph yet: build it (call it on data) before exporting.")
    fmt = format or ("onnx" if filepath.endswith(".onnx") else "torch_export" if filepath.endswith(".pt2") else None)
    if fmt not in ("onnx", "torch_export"):
        raise ValueError(f"Cannot tell the export format of '{filepath}': use a .onnx or .pt2 name, or format=.")
    was_training = model.training
    model.eval()
    try:
        with _quiet_exporter():
            args = tuple(example_inputs) if example_inputs is not None else _example_inputs(model)
            module, dynamic = _Positional(model).eval(), _dynamic_shapes(model)
            if fmt == "torch_export":
                program = torch.export.export(module, args, dynamic_shapes={"inputs": dynamic})
                torch.export.save(program, filepath)
            else:
                _require_onnx_exporter()
                torch.onnx.export(
                    module,
                    args,
                    filepath,
                    dynamo=True,
                    dynamic_shapes={"inputs": dynamic},
                    input_names=model.input_names,
                    output_names=model.output_names,
                    verbose=False,
                )
    finally:
        model.train(was_training)
    return filepath

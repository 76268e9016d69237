"""``plot_model``: draw a model's graph as Keras does (one box per layer, an arrow per connection).

The graph is written as Graphviz DOT text, with the labels, colours and layout settings of
Keras's ``plot_model`` (so a plot looks the same), and laid out by Graphviz's ``dot``. pygraphviz's
wheels bundle Graphviz, so ``pip install pygraphviz`` (or ``pip install "plait[viz]"``) is all a
machine needs; a ``dot`` program on the PATH works too.

Models are recognised by what they have, not by class, so this module imports nothing from
``plait.models`` (utils sit below models): a graph model has ``_nodes``; a ``Sequential`` is also
a ``layer_stack``; any other model is drawn as one box, as Keras draws a subclassed model.
"""

import contextlib
import html
import os
import shutil
import subprocess
import sys
import tempfile

_NOT_AVAILABLE = (
    "plot_model needs Graphviz to lay out the graph. Install pygraphviz, whose wheels include "
    'Graphviz: `pip install pygraphviz` (or `pip install "plait[viz]"`); a Graphviz `dot` program '
    "on the PATH works too."
)


_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "gif", "ps", "eps", "dot", "gv")


def _is_graph_model(layer):
    return hasattr(layer, "_nodes") and getattr(layer, "built", False)


def _is_sequential(layer):
    return _is_graph_model(layer) and getattr(layer, "layer_stack", False)


def _class_name(layer):
    get_name = getattr(layer, "_get_name", None)
    return get_name() if get_name is not None else type(layer).__name__


def _shape_text(shapes):
    text = str(shapes[0]) if len(shapes) == 1 else str(shapes)
    return text.replace("{", "").replace("}", "")


def _dtype_text(tensors):
    names = [str(t.dtype).replace("torch.", "") for t in tensors]
    return names[0] if len(names) == 1 else str(names).replace("'", "")


def _layer_label(layer, node, opts):
    """Keras's HTML-like table: name (class), then activation, shapes, dtype, trainable."""
    class_name = html.escape(_class_name(layer))
    colspan = max(1, int(opts["show_dtype"]) + int(opts["show_trainable"]) + 2 * int(opts["show_shapes"]))
    title = f"<b>{html.escape(layer.name)}</b> ({class_name})" if opts["show_layer_names"] else f"<b>{class_name}</b>"
    rows = [f'<tr><td colspan="{colspan}" bgcolor="black"><font point-size="16" color="white">{title}</font></td></tr>']
    activation = getattr(layer, "activation", None)
    if opts["show_layer_activations"] and activation is not None:
        name = getattr(activation, "name", None) or getattr(activation, "__name__", None) or str(activation)
        rows.append(
            f'<tr><td bgcolor="white" colspan="{colspan}"><font point-size="14">'
            f"Activation: <b>{html.escape(name)}</b></font></td></tr>"
        )
    cells = []

    def cell(text):
        cells.append(f'<td bgcolor="white"><font point-size="14">{text}</font></td>')

    if opts["show_shapes"]:
        if class_name != "InputLayer":
            inputs = [t.shape for t in node.input_tensors] if node is not None else []
            cell(f"Input shape: <b>{html.escape(_shape_text(inputs)) if inputs else '?'}</b>")
        outputs = [t.shape for t in node.output_tensors] if node is not None else []
        cell(f"Output shape: <b>{html.escape(_shape_text(outputs)) if outputs else '?'}</b>")
    if opts["show_dtype"]:
        dtype = _dtype_text(node.output_tensors) if node is not None and node.output_tensors else "?"
        cell(f"Output dtype: <b>{html.escape(dtype)}</b>")
    if opts["show_trainable"] and any(True for _ in layer.parameters()):
        if getattr(layer, "trainable", True):
            cells.append('<td bgcolor="forestgreen"><font point-size="14" color="white"><b>Trainable</b></font></td>')
        else:
            cells.append('<td bgcolor="firebrick"><font point-size="14" color="white"><b>Non-trainable</b></font></td>')
    if cells:
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return '<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">' + "".join(rows) + "</table>>"


def _node_line(layer, node, opts):
    return f'"{id(layer)}" [label={_layer_label(layer, node, opts)}, fontname="Helvetica", border="0", margin="0"];'


def _first_node(model, layer):
    return next((n for n in model.graph_nodes if n.layer is layer), None)


def _entry(layer, input_index):
    """The box an edge into ``layer`` points at: inside an expanded nested model, its input layer
    (functional) or its first layer (Sequential), as Keras resolves it."""
    while _is_graph_model(layer):
        layer = layer.layers[0] if _is_sequential(layer) else layer.inputs[input_index].node.layer
        input_index = 0
    return layer


def _exit(tensor):
    """The box an edge out of ``tensor`` starts at: inside an expanded nested model, the layer
    that makes the model's output."""
    layer, index = tensor.node.layer, tensor.index
    while _is_graph_model(layer):
        tensor = layer.outputs[index]
        layer, index = tensor.node.layer, tensor.index
    return layer


def _graph_lines(model, opts, lines, edges):
    """Append ``model``'s boxes to ``lines`` and its connections to ``edges`` (expanding nested
    graph models into dashed clusters when ``expand_nested``)."""
    sequential = _is_sequential(model)
    # A Sequential's InputLayer is not drawn (Keras's Sequential.layers does not list it).
    nodes = [n for n in model.graph_nodes if not (sequential and _class_name(n.layer) == "InputLayer")]
    seen = set()
    for node in nodes:
        layer = node.layer
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if opts["expand_nested"] and _is_graph_model(layer):
            lines.append(f'subgraph "cluster_{id(layer)}" {{')
            lines.append(f'style="dashed"; label="{html.escape(layer.name)}"; labeljust="l";')
            _graph_lines(layer, opts, lines, edges)
            lines.append("}")
        else:
            lines.append(_node_line(layer, _first_node(model, layer), opts))
    for node in nodes:
        for input_index, tensor in enumerate(node.input_tensors):
            if sequential and _class_name(tensor.node.layer) == "InputLayer":
                continue
            source, destination = tensor.node.layer, node.layer
            if opts["expand_nested"]:
                source, destination = _exit(tensor), _entry(destination, input_index)
            edge = f'"{id(source)}" -> "{id(destination)}" [penwidth="2"];'
            if edge not in edges:
                edges.append(edge)


def model_to_dot(
    model,
    show_shapes=False,
    show_dtype=False,
    show_layer_names=True,
    rankdir="TB",
    expand_nested=False,
    dpi=200,
    show_layer_activations=False,
    show_trainable=False,
    splines="ortho",
):
    """``model``'s graph as Graphviz DOT source, drawn as Keras's ``model_to_dot``.

    Keras returns a ``pydot.Dot``; this returns its text (``pydot.graph_from_dot_data(source)``
    makes the pydot object, ``pygraphviz.AGraph(string=source)`` a pygraphviz one).

    Args: as :func:`plot_model`.

    Example:
        >>> import plait
        >>> inputs = plait.Input(shape=(4,), name="features")
        >>> model = plait.Model(inputs, plait.layers.Dense(2, name="logits")(inputs))
        >>> source = model_to_dot(model)
        >>> source.startswith("digraph") and "<b>logits</b> (Dense)" in source
        True
    """
    if not getattr(model, "built", False):
        raise ValueError(
            "This model has not yet been built. Build the model first by calling `build()` or by "
            "calling the model on a batch of data."
        )
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"rankdir must be one of 'TB', 'LR', 'BT', 'RL'. Received: rankdir={rankdir!r}")
    opts = {
        "show_layer_names": show_layer_names,
        "show_layer_activations": show_layer_activations,
        "show_dtype": show_dtype,
        "show_shapes": show_shapes,
        "show_trainable": show_trainable,
        "expand_nested": expand_nested,
    }
    lines = [
        "digraph G {",
        f'graph [rankdir="{rankdir}", concentrate="true", dpi="{dpi}", splines="{splines}"];',
        'node [shape="record"];',
    ]
    edges = []
    if _is_graph_model(model):
        _graph_lines(model, opts, lines, edges)
    else:
        lines.append(_node_line(model, None, opts))  # a subclassed model: one box, as in Keras
    return "\n".join(lines + edges + ["}"]) + "\n"


@contextlib.contextmanager
def _without_fontconfig_warnings():
    """Hide the ``Fontconfig warning: ... unknown element "reset-dirs"`` lines that the older
    Fontconfig bundled in pygraphviz's wheels writes to the process's stderr (file descriptor 2,
    below Python) when it reads a newer system's font configuration; the drawing is unaffected.
    Any other line written there meanwhile is passed on."""
    try:
        saved = os.dup(2)  # Fontconfig (C) writes to descriptor 2 whatever sys.stderr is
    except OSError:  # no descriptor 2 to redirect
        yield
        return
    sys.stderr.flush()
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            rest = "".join(line for line in lines if not line.startswith("Fontconfig warning"))
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()


def render_dot(source, format):
    """Lay out DOT ``source`` with Graphviz and return the ``format`` (``png``, ``svg``, ``pdf``,
    ...) file's bytes: with pygraphviz's bundled Graphviz, else a ``dot`` program on the PATH."""
    try:
        import pygraphviz
    except ImportError:
        pygraphviz = None
    if pygraphviz is not None:
        try:
            with _without_fontconfig_warnings():
                return pygraphviz.AGraph(string=source).draw(format=format, prog="dot")
        except Exception as error:  # pygraphviz reports Graphviz's failures in several types
            raise RuntimeError(f"Graphviz could not render the model graph as {format!r}: {error}") from error
    dot = shutil.which("dot")
    if dot is None:
        raise ImportError(_NOT_AVAILABLE)
    result = subprocess.run([dot, f"-T{format}"], input=source.encode(), capture_output=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"Graphviz's dot failed on the model graph: {result.stderr.decode(errors='replace')}")
    return result.stdout


def plot_model(
    model,
    to_file="model.png",
    show_shapes=False,
    show_dtype=False,
    show_layer_names=False,
    rankdir="TB",
    expand_nested=False,
    dpi=200,
    show_layer_activations=False,
    show_trainable=False,
    splines="ortho",
):
    """Draw ``model``'s graph to ``to_file`` (PNG, SVG, PDF, or DOT source), as Keras's ``plot_model``.

    Args:
        model: a built plait model. A functional or ``Sequential`` model is drawn layer by
            layer; a subclassed model as one box.
        to_file: the image's path; its extension picks the format (``.png``, ``.svg``, ``.pdf``,
            ``.dot``; default ``png`` when there is none).
        show_shapes: add each layer's input and output shapes. show_dtype: add output dtypes.
        show_layer_names: put the layer's name before its class (default False, as in Keras 3).
        rankdir: ``"TB"`` top to bottom (default) or ``"LR"`` left to right (``"BT"``, ``"RL"``).
        expand_nested: draw nested models' layers inside a dashed box instead of one box.
        dpi: resolution of PNG output (default 200).
        show_layer_activations: add the activation of layers that have one.
        show_trainable: add whether each layer with weights is trainable.
        splines: how edges are drawn (Graphviz's ``splines``; default ``"ortho"``).

    Returns:
        an ``IPython.display`` image (SVG for ``.svg``) when IPython is installed, so a notebook
        shows it inline; None otherwise, and for PDF.

    Raises:
        ImportError: neither pygraphviz nor a Graphviz ``dot`` program is installed; the message
            says what to install (``pip install pygraphviz``).

    Example:
        >>> import pathlib, tempfile
        >>> import plait
        >>> inputs = plait.Input(shape=(4,), name="features")
        >>> model = plait.Model(inputs, plait.layers.Dense(2, name="logits")(inputs))
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "model.svg"
        >>> _ = plot_model(model, to_file=path, show_shapes=True, show_layer_names=True)
        >>> "logits" in path.read_text()
        True
    """
    source = model_to_dot(
        model,
        show_shapes=show_shapes,
        show_dtype=show_dtype,
        show_layer_names=show_layer_names,
        rankdir=rankdir,
        expand_nested=expand_nested,
        dpi=dpi,
        show_layer_activations=show_layer_activations,
        show_trainable=show_trainable,
        splines=splines,
    )
    to_file = os.fspath(to_file)
    extension = os.path.splitext(to_file)[1][1:].lower() or "png"
    if extension not in _FORMATS:
        raise ValueError(f"plot_model writes {', '.join(_FORMATS)} files. Received: to_file={to_file!r}")
    data = source.encode() if extension in ("dot", "gv") else render_dot(source, extension)
    with open(to_file, "wb") as f:
        f.write(data)
    if extension in ("pdf", "dot", "gv"):
        return None
    try:
        from IPython import display
    except ImportError:
        return None
    return display.SVG(filename=to_file) if extension == "svg" else display.Image(filename=to_file)

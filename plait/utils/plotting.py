"""``plot_history``: the loss and metric curves of a fit, training against validation.

Drawn on a plain matplotlib ``Figure`` (no pyplot, so no global figure and no GUI backend is
touched); ``pip install matplotlib`` or ``pip install "plait[viz]"``.
"""

import math
import os


def _history_dict(history):
    values = getattr(history, "history", history)
    if not isinstance(values, dict):
        raise TypeError(
            "plot_history expects the History that fit() returns, or its `history` dict. "
            f"Received: {type(history).__name__}"
        )
    return values


def _panel_order(keys):
    """The total loss, then each output's loss and metrics (``age_loss``, ``age_mae``), then any
    other metric, then what fit logs about itself (learning rate, loss weights)."""
    bookkeeping = [k for k in keys if k == "learning_rate" or k.endswith("_loss_weight")]
    ordered = [k for k in keys if k == "loss"]
    outputs = [k[: -len("_loss")] for k in keys if k.endswith("_loss") and k != "loss"]
    for output in outputs:
        ordered += [f"{output}_loss"]
        ordered += [k for k in keys if k.startswith(f"{output}_") and k not in ordered and k not in bookkeeping]
    return ordered + [k for k in keys if k not in ordered and k not in bookkeeping] + bookkeeping


def plot_history(history, metrics=None, to_file=None, ncols=3, figsize=None):
    """Plot each loss and metric of a ``History`` per epoch, validation beside training.

    One panel per quantity: ``loss``, then each output's loss and metrics (``age_loss``,
    ``income_acc``, ...), then the rest (``learning_rate``, ``<output>_loss_weight``). A panel
    holds a ``"training"`` line and, where the fit validated, a ``"validation"`` line (from the
    ``val_`` key); a panel's title is the key.

    Args:
        history: what ``fit`` returns (a ``History``), or its ``history`` dict.
        metrics: keys to plot, without ``val_`` (default: all).
        to_file: also save the figure there (any format matplotlib writes: ``.png``, ``.svg``,
            ``.pdf``).
        ncols: panels per row (default 3). figsize: ``(width, height)`` in inches (default
            4 x 3 per panel).

    Returns:
        the matplotlib ``Figure`` (a notebook shows it inline).

    Example:
        >>> from plait.utils import plot_history
        >>> fig = plot_history({"loss": [1.0, 0.5, 0.25], "val_loss": [1.1, 0.7, 0.6], "acc": [0.5, 0.7, 0.9]})
        >>> tuple(ax.get_title() for ax in fig.axes)
        ('loss', 'acc')
        >>> tuple(line.get_label() for line in fig.axes[0].get_lines())
        ('training', 'validation')
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            'plot_history draws with matplotlib: `pip install matplotlib` or `pip install "plait[viz]"`.'
        ) from error
    values = _history_dict(history)
    keys = [k for k in values if not k.startswith("val_")]
    keys += [k[4:] for k in values if k.startswith("val_") and k[4:] not in values]  # validation only
    if metrics is not None:
        unknown = [m for m in metrics if m not in keys]
        if unknown:
            raise ValueError(f"plot_history: no such metric(s) {unknown} in the history. Available: {keys}")
        keys = list(metrics)
    if not keys:
        raise ValueError("plot_history: the history is empty (was fit() run?).")
    keys = _panel_order(keys)
    ncols = max(1, min(ncols, len(keys)))
    nrows = math.ceil(len(keys) / ncols)
    fig = Figure(figsize=figsize or (4 * ncols, 3 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, key in zip(axes, keys):
        for label, name, style in (("training", key, "-"), ("validation", f"val_{key}", "--")):
            if name in values:
                series = [float(v) for v in values[name]]
                ax.plot(range(1, len(series) + 1), series, style, marker="o", markersize=3, label=label)
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    for ax in axes[len(keys) :]:
        fig.delaxes(ax)
    if to_file is not None:
        fig.savefig(os.fspath(to_file))
    return fig

"""How callbacks that watch a logged value (``monitor``) decide it improved."""


def is_better(mode, monitor):
    """``(current, best, delta) -> bool``: whether ``current`` improves on ``best`` by more than
    ``delta``; ``mode="auto"`` maximises accuracy-like keys and minimises the rest, as Keras does."""
    if mode == "min" or (
        mode == "auto" and not any(k in monitor for k in ("acc", "auc", "precision", "recall", "iou"))
    ):
        return lambda current, best, delta: current < best - delta
    return lambda current, best, delta: current > best + delta

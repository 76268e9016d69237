"""Keras callbacks that have no working form on plait yet; each raises with what to use."""

from plait.callbacks.callback import Callback


class OrbaxCheckpoint(Callback):
    """Keras's Orbax (JAX) checkpointing callback: not available on torch."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            "OrbaxCheckpoint saves JAX state with Orbax and is not available on plait, which runs on "
            "torch. Use plait.callbacks.ModelCheckpoint (.keras / .weights.h5 files) or "
            "plait.callbacks.BackupAndRestore to resume an interrupted fit."
        )


class SwapEMAWeights(Callback):
    """Keras's callback that evaluates with the optimizer's EMA weights: refused, since plait's
    optimizers keep no EMA (``use_ema``) yet."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(
            "SwapEMAWeights needs an optimizer with use_ema=True; plait's optimizers keep no "
            "exponential moving average yet. Average the weights with "
            "torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.99)) "
            "and evaluate that copy."
        )

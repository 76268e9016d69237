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

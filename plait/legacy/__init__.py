"""``plait.legacy``: Keras 3's ``keras.legacy`` namespace, the Keras 2 serialization format.

Example:
    >>> import plait
    >>> plait.legacy.saving.serialize_keras_object(plait.regularizers.L2(0.5))
    {'class_name': 'L2', 'config': {'l2': 0.5}}
"""

from plait.legacy import saving

__all__ = ["saving"]

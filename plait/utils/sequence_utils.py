"""``pad_sequences``: Keras's padding of variable-length sequences into one array.

Ported from Keras 3 (``keras/src/utils/sequence_utils.py``, Apache 2.0): the same rules,
defaults and messages, so its numbers and dtypes are Keras's.
"""

import numpy as np


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """Pad (or truncate) sequences to one length (Keras's ``keras.utils.pad_sequences``).

    Args:
        sequences: a list of sequences (lists or arrays; each step may be a number or an
            array of one shape).
        maxlen: the length to pad to (default: the longest sequence).
        dtype: the result's dtype (default ``"int32"``); ``object`` or a string dtype for
            strings.
        padding: ``"pre"`` (default) or ``"post"``: pad before or after each sequence.
        truncating: ``"pre"`` (default) or ``"post"``: drop values from the start or the end of
            sequences longer than ``maxlen``.
        value: the padding value (default 0.0, cast to ``dtype``).

    Returns:
        a numpy array of shape ``(len(sequences), maxlen) + step_shape``.

    Example:
        >>> pad_sequences([[1], [2, 3], [4, 5, 6]])
        array([[0, 0, 1],
               [0, 2, 3],
               [4, 5, 6]], dtype=int32)
        >>> pad_sequences([[1, 2, 3]], maxlen=2, padding="post", truncating="post", value=-1)
        array([[1, 2]], dtype=int32)
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    num_samples = len(sequences)
    lengths, sample_shape, found = [], (), False
    for x in sequences:  # the step shape comes from the first non-empty sequence
        try:
            lengths.append(len(x))
            if not found and len(x):
                sample_shape, found = np.asarray(x).shape[1:], True
        except TypeError as e:
            raise ValueError(f"`sequences` must be a list of iterables. Found non-iterable: {x}") from e
    if maxlen is None:
        maxlen = np.max(lengths)
    is_dtype_str = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not is_dtype_str:
        raise ValueError(
            f"`dtype` {dtype} is not compatible with `value`'s type: {type(value)}\n"
            "You should set `dtype=object` for variable length strings."
        )
    out = np.full((num_samples, maxlen) + sample_shape, value, dtype=dtype)
    for idx, s in enumerate(sequences):
        if not len(s):
            continue
        if truncating == "pre":
            trunc = s[-maxlen:]
        elif truncating == "post":
            trunc = s[:maxlen]
        else:
            raise ValueError(f'Truncating type "{truncating}" not understood')
        trunc = np.asarray(trunc, dtype=dtype)
        if trunc.shape[1:] != sample_shape:
            raise ValueError(
                f"Shape of sample {trunc.shape[1:]} of sequence at position {idx} is different from expected "
                f"shape {sample_shape}"
            )
        if padding == "post":
            out[idx, : len(trunc)] = trunc
        elif padding == "pre":
            out[idx, -len(trunc) :] = trunc
        else:
            raise ValueError(f'Padding type "{padding}" not understood')
    return out

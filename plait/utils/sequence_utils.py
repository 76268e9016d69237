"""``pad_sequences``: variable-length sequences into one padded numpy array, with Keras's
arguments, defaults, dtypes and messages."""

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
    if truncating not in ("pre", "post"):
        raise ValueError(f'Truncating type "{truncating}" not understood')
    if padding not in ("pre", "post"):
        raise ValueError(f'Padding type "{padding}" not understood')
    lengths = []
    for seq in sequences:
        if not hasattr(seq, "__len__"):
            raise ValueError(f"`sequences` must be a list of iterables. Found non-iterable: {seq}")
        lengths.append(len(seq))
    width = max(lengths, default=0) if maxlen is None else maxlen
    # Each step may itself be an array: its shape comes from the first non-empty sequence.
    first = next((np.asarray(seq) for seq in sequences if len(seq)), None)
    step_shape = () if first is None else first.shape[1:]
    text_dtype = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not text_dtype:
        raise ValueError(
            f"`dtype` {dtype} is not compatible with `value`'s type: {type(value)}\n"
            "You should set `dtype=object` for variable length strings."
        )
    out = np.full((len(sequences), width, *step_shape), value, dtype=dtype)
    for row, (seq, length) in enumerate(zip(sequences, lengths)):
        kept = min(length, width)
        if not kept:
            continue
        # truncating="pre" drops a long sequence's start, "post" its end
        steps = np.asarray(seq[length - kept :] if truncating == "pre" else seq[:kept], dtype=dtype)
        if steps.shape[1:] != step_shape:
            raise ValueError(
                f"Shape of sample {steps.shape[1:]} of sequence at position {row} is different from expected "
                f"shape {step_shape}"
            )
        # padding="pre" puts the values at the row's end, "post" at its start
        target = slice(width - kept, width) if padding == "pre" else slice(0, kept)
        out[row, target] = steps
    return out

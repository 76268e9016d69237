"""Numerical preprocessing layers: ``Rescaling``, ``Normalization``, ``Discretization``.

They take Keras 3's arguments and defaults and give its numbers, computing with torch ops, so
they run inside a model on any device.
"""

import itertools
import math

import numpy as np
import torch

from plait.layers.base import Layer
from plait.layers.validation import one_of

# Keras's backend.epsilon(): Normalization never divides by a standard deviation below it.
_EPSILON = 1e-7


def _as_float_tensor(inputs):
    tensor = torch.as_tensor(inputs)
    return tensor if tensor.dtype in (torch.float16, torch.bfloat16, torch.float64) else tensor.float()


def plain_value(value):
    """A number, list or numpy array as Keras configs hold it (``{"class_name": "__numpy__"}``)."""
    if isinstance(value, dict) and value.get("class_name") in ("__numpy__", "__tensor__"):
        return np.asarray(value["config"]["value"], dtype=value["config"].get("dtype"))
    return value


def _json_value(value):
    return np.asarray(value).tolist() if isinstance(value, (np.ndarray, torch.Tensor, tuple)) else value


class Rescaling(Layer):
    """Rescales inputs: ``inputs * scale + offset`` (e.g. pixels from ``[0, 255]`` to ``[0, 1]``).

    Args:
        scale: float, or a list of floats broadcast over the last axis (per channel).
        offset: float or list of floats, added after scaling (default 0.0).

    Input shape:
        any; integer inputs are cast to float32. Output shape: the input's.

    Example:
        >>> import torch, plait
        >>> plait.layers.Rescaling(1 / 255)(torch.tensor([[0, 255]]))
        tensor([[0., 1.]])
    """

    supports_masking = True

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale, self.offset = plain_value(scale), plain_value(offset)
        for name, value in (("scale", self.scale), ("offset", self.offset)):
            if not np.issubdtype(np.asarray(value).dtype, np.number):
                raise ValueError(
                    f"Layer '{self.name}' (Rescaling): `{name}` must be a number or numbers. Received: {value!r}"
                )
        # Constants, not weights (Keras saves them in the config): moved with the layer by torch.
        self.register_buffer("_scale", torch.as_tensor(np.asarray(self.scale, dtype="float32")), persistent=False)
        self.register_buffer("_offset", torch.as_tensor(np.asarray(self.offset, dtype="float32")), persistent=False)

    def call(self, inputs):
        x = _as_float_tensor(inputs)
        return x * self._scale.to(x.dtype) + self._offset.to(x.dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {**super().get_config(), "scale": _json_value(self.scale), "offset": _json_value(self.offset)}


class Normalization(Layer):
    """Shifts and scales features to mean 0 and variance 1: ``(x - mean) / sqrt(variance)``.

    The mean and variance come from the constructor, or from :meth:`adapt` on data before
    training; adapted values are the layer's (non-trainable) weights ``mean``, ``variance`` and
    ``count``, so they are saved with the model, as in Keras.

    Args:
        axis: the axis or axes kept (one mean per index), default -1; ``None`` normalizes with a
            single scalar mean and variance.
        mean, variance: given values (both or neither), broadcast to the kept axes' shape.
        invert: apply the inverse transform, ``mean + x * sqrt(variance)``.

    Input shape:
        any with known sizes on ``axis``. Output shape: the input's (float32).

    Example:
        >>> import numpy as np, plait
        >>> layer = plait.layers.Normalization(axis=None)
        >>> layer.adapt(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
        >>> layer(np.array([1.0, 2.0, 3.0]))
        tensor([-1.4142, -0.7071,  0.0000])
    """

    supports_masking = True

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        self.axis = () if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
        self.input_mean, self.input_variance = plain_value(mean), plain_value(variance)
        self.invert = bool(invert)
        if (mean is None) != (variance is None):
            raise ValueError(
                f"Layer '{self.name}' (Normalization): `mean` and `variance` must be set together. "
                f"Received: mean={mean!r}, variance={variance!r}"
            )
        if mean is not None:
            if np.shape(self.input_mean) != np.shape(self.input_variance):
                raise ValueError(
                    f"Layer '{self.name}' (Normalization): `mean` and `variance` must have the same shape. "
                    f"Received: mean shape {np.shape(self.input_mean)}, variance shape {np.shape(self.input_variance)}"
                )
            if np.ndim(self.input_mean) > len(self.axis):
                raise ValueError(
                    f"Layer '{self.name}' (Normalization): the rank of `mean` must be at most the number of axes "
                    f"({len(self.axis)}). Received: mean shape {np.shape(self.input_mean)} for axis {self.axis}"
                )

    def build(self, input_shape):
        ndim = len(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(
                f"Layer '{self.name}' (Normalization): every axis must be in [-{ndim}, {ndim}). "
                f"Received: axis={self.axis} for inputs of shape {tuple(input_shape)}"
            )
        self._keep = tuple(sorted(a % ndim for a in self.axis))
        for d in self._keep:
            if input_shape[d] is None:
                raise ValueError(
                    f"Layer '{self.name}' (Normalization) needs a known size on kept axis {d}. "
                    f"Received: input_shape={tuple(input_shape)}"
                )
        self._build_shape = tuple(input_shape)
        self._broadcast = [input_shape[d] if d in self._keep else 1 for d in range(ndim)]
        shape = tuple(input_shape[d] for d in self._keep)
        if self.input_mean is None:
            self.add_weight("mean", shape, "zeros", trainable=False)
            self.add_weight("variance", shape, "ones", trainable=False)
            self.add_weight("count", (), "zeros", trainable=False)
            self.count = self.count.to(torch.int32)  # Keras's count is an int32 scalar
            return
        # Given values: constants from the config, broadcast as Keras does (trailing kept axes).
        mean, variance = (np.asarray(v, dtype="float32") for v in (self.input_mean, self.input_variance))
        expanded = [1] * ndim
        for i in range(1, mean.ndim + 1):
            expanded[self._keep[-i]] = mean.shape[-i]
        for name, value in (("_mean", mean), ("_variance", variance)):
            tensor = torch.as_tensor(np.broadcast_to(value.reshape(expanded), self._broadcast).copy())
            self.register_buffer(name, tensor, persistent=False)

    def _statistics(self):
        if self.input_mean is None:
            return self.mean.reshape(self._broadcast), self.variance.reshape(self._broadcast)
        return self._mean, self._variance

    def call(self, inputs):
        x = _as_float_tensor(inputs)
        mean, variance = (t.to(x.dtype) for t in self._statistics())
        std = torch.clamp(torch.sqrt(variance), min=_EPSILON)
        return mean + x * std if self.invert else (x - mean) / std

    def adapt(self, data):
        """Compute the mean and variance of ``data`` and store them as the layer's weights.

        Args:
            data: a numpy array, a torch tensor, or an iterable of batches (arrays, tensors, or
                ``(x, y)`` tuples whose ``x`` is used), combined as Keras combines them.
        """
        if isinstance(data, (np.ndarray, torch.Tensor)):
            batches = None
            shape = tuple(data.shape)
        elif hasattr(data, "__iter__"):
            iterator = iter(data)
            first = next(iterator, None)
            if first is None:
                raise ValueError(f"Layer '{self.name}' (Normalization): adapt() received an empty iterable.")
            first = first[0] if isinstance(first, tuple) else first
            if not hasattr(first, "shape"):
                raise TypeError(
                    f"Layer '{self.name}' (Normalization): adapt() expects batches with a `.shape` "
                    f"(arrays or tensors). Received: {type(first).__name__}"
                )
            shape, batches = tuple(first.shape), itertools.chain([first], iterator)
        else:
            raise TypeError(
                f"Layer '{self.name}' (Normalization): adapt() supports numpy arrays, tensors and iterables of "
                f"batches. Received: {type(data).__name__}"
            )
        if self.input_mean is not None:
            raise ValueError(f"Layer '{self.name}' (Normalization) was given `mean` and `variance`; it cannot adapt.")
        if not self.built:
            self.maybe_build(shape)
        self._check_adapt_shape(shape)
        reduce = tuple(d for d in range(len(self._build_shape)) if d not in self._keep)
        if isinstance(data, np.ndarray):
            mean, var = np.mean(data, axis=reduce), np.var(data, axis=reduce)
        elif isinstance(data, torch.Tensor):
            var, mean = torch.var_mean(_as_float_tensor(data), dim=reduce, correction=0)
        else:
            mean, var = self._streaming_moments(batches, reduce)
        with torch.no_grad():
            self.mean.copy_(torch.as_tensor(np.asarray(mean, dtype="float32")).reshape(self.mean.shape))
            self.variance.copy_(torch.as_tensor(np.asarray(var, dtype="float32")).reshape(self.variance.shape))

    def _check_adapt_shape(self, shape):
        for d in self._keep:
            if shape[d] != self._build_shape[d]:
                raise ValueError(
                    f"Layer '{self.name}' (Normalization) was built for input shape {self._build_shape}, but "
                    f"adapt() received data of shape {shape}."
                )

    def _streaming_moments(self, batches, reduce):
        # Keras's update: weighted means of the batch moments around the new total mean.
        total_mean = total_var = torch.zeros(tuple(self._build_shape[d] for d in self._keep))
        total_count = 0
        for batch in batches:
            batch = _as_float_tensor(batch[0] if isinstance(batch, tuple) else batch).float()
            self._check_adapt_shape(tuple(batch.shape))
            var, mean = torch.var_mean(batch, dim=reduce, correction=0)
            count = math.prod(batch.shape[d] for d in reduce) if reduce else 1
            total_count += count
            weight = count / total_count
            new_mean = total_mean * (1 - weight) + mean * weight
            total_var = (total_var + (total_mean - new_mean) ** 2) * (1 - weight) + (
                var + (mean - new_mean) ** 2
            ) * weight
            total_mean = new_mean
        return total_mean.numpy(), total_var.numpy()

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "axis": list(self.axis),
            "invert": self.invert,
            "mean": _json_value(self.input_mean),
            "variance": _json_value(self.input_variance),
        }


class Discretization(Layer):
    """Buckets continuous values by ranges: ``bin_boundaries=[0., 1.]`` maps ``x < 0`` to 0,
    ``0 <= x < 1`` to 1 and ``x >= 1`` to 2 (``np.digitize``'s rule).

    Args:
        bin_boundaries: sorted list of boundaries, or None to learn ``num_bins`` quantile bins
            with :meth:`adapt`.
        num_bins: number of bins for ``adapt``. epsilon: the quantile summary's precision
            (default 0.01), as in Keras's approximate quantiles.
        output_mode: ``"int"`` (bin indices, int64), ``"one_hot"``, ``"multi_hot"`` or ``"count"``.
        sparse: must be False (plait has no sparse tensors).

    Example:
        >>> import torch, plait
        >>> plait.layers.Discretization(bin_boundaries=[0.0, 1.0])(torch.tensor([-1.0, 0.5, 2.0]))
        tensor([0, 1, 2])
    """

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int", sparse=False, **kwargs):
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "int64" if output_mode == "int" else "float32"
        super().__init__(**kwargs)
        who = f"Discretization layer '{self.name}'"
        self.output_mode = one_of(who, "output_mode", output_mode, ("int", "one_hot", "multi_hot", "count"))
        if sparse:
            raise ValueError(f"{who}: `sparse=True` is not supported (plait has no sparse tensors).")
        if (bin_boundaries is None) == (num_bins is None):
            raise ValueError(
                f"{who}: exactly one of `bin_boundaries` and `num_bins` must be set. "
                f"Received: bin_boundaries={bin_boundaries!r}, num_bins={num_bins!r}"
            )
        if bin_boundaries is not None and list(bin_boundaries) != sorted(bin_boundaries):
            raise ValueError(f"{who}: `bin_boundaries` must be sorted. Received: {bin_boundaries!r}")
        self.num_bins = num_bins if bin_boundaries is None else len(bin_boundaries) + 1
        self.epsilon, self.sparse = float(epsilon), False
        self.bin_boundaries = None if bin_boundaries is None else [float(b) for b in bin_boundaries]
        self._boundaries_given = bin_boundaries is not None

    def adapt(self, data):
        """Learn ``num_bins - 1`` boundaries at the data's quantiles, with Keras's quantile summary
        (so the boundaries are Keras's). ``data``: an array or tensor, or an iterable of batches."""
        if self._boundaries_given:
            raise ValueError(f"Discretization layer '{self.name}' was given `bin_boundaries`; it cannot adapt.")
        batches = [data] if isinstance(data, (np.ndarray, torch.Tensor)) or np.isscalar(data) else data
        sketch = _QuantileSketch(self.epsilon)
        for batch in batches:
            sketch.add(batch.cpu().numpy() if isinstance(batch, torch.Tensor) else batch)
        self.bin_boundaries = sketch.boundaries(self.num_bins)

    def call(self, inputs):
        if self.bin_boundaries is None:
            raise ValueError(f"Discretization layer '{self.name}' has no bin boundaries: call adapt() first.")
        x = torch.as_tensor(inputs)
        boundaries = torch.tensor(self.bin_boundaries, dtype=torch.float64, device=x.device)
        bins = torch.bucketize(x.double(), boundaries, right=True)
        from plait.layers.preprocessing.categorical import encode_categorical

        return encode_categorical(bins, self.output_mode, self.num_bins, self.name)

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        from plait.layers.preprocessing.categorical import encoded_shape

        return encoded_shape(input_shape, self.output_mode, self.num_bins)

    def compute_output_spec(self, *args, **kwargs):
        dtype = torch.int64 if self.output_mode == "int" else torch.float32
        return (self.compute_output_shape(tuple(args[0].shape)), dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "bin_boundaries": self.bin_boundaries if self._boundaries_given else None,
            "num_bins": None if self._boundaries_given else self.num_bins,
            "epsilon": self.epsilon,
            "output_mode": self.output_mode,
            "sparse": False,
        }


class _QuantileSketch:
    """Approximate quantiles of a stream of batches, computed as Keras computes them, so
    ``Discretization.adapt`` learns Keras's boundaries.

    The sketch is a ``(2, n)`` array: sorted sample values and the count each one stands for.
    A batch becomes about ``1 / epsilon`` evenly spaced values of its sorted data, each weighing
    the size of its step; it is merged with the points so far, and the merged points are read
    again at ``epsilon`` steps of their cumulative weight (linear interpolation), which keeps
    the sketch small. The boundaries are the sketch read at ``1 / num_bins`` steps.
    """

    def __init__(self, epsilon):
        self.epsilon = epsilon
        self.points = np.zeros((2, 0), dtype="float32")

    def add(self, batch):
        ordered = np.sort(np.asarray(batch, dtype="float32").ravel())
        weight = max(ordered.size / (1.0 / self.epsilon), 1)
        picked = ordered[int(weight - 1) :: int(weight)]
        # The new points go first: argsort's order among equal values then matches Keras's.
        merged = np.concatenate((np.stack([picked, np.full_like(picked, weight)]), self.points), axis=1)
        self.points = self._read_at_steps(merged[:, np.argsort(merged[0])], self.epsilon)

    def boundaries(self, num_bins):
        """The ``num_bins - 1`` inner boundaries, as a list of floats."""
        return self._read_at_steps(self.points, 1.0 / num_bins)[0, :-1].tolist()

    @staticmethod
    def _read_at_steps(points, step):
        if points.shape[1] * step < 1:  # already no more points than steps
            return points
        targets = step + np.arange(0.0, 1.0, step)
        cumulative = points[1].cumsum()
        share = cumulative / cumulative[-1]
        values = np.interp(targets, share, points[0])
        weights = np.diff(np.interp(targets, share, cumulative), prepend=0)
        return np.stack((values, weights)).astype("float32")

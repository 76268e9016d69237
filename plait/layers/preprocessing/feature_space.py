"""``FeatureSpace``: structured (tabular) data preprocessed and encoded in one object.

Keras 3's ``keras.utils.FeatureSpace`` runs on ``tf.data``; plait's needs no TensorFlow. It
runs on the data side, as plait's string layers do: ``adapt`` reads a dict of arrays or lists,
a ``torch.utils.data`` dataset or loader, a ``plait.utils.PyDataset`` or any iterable of dict
batches; calling it on a dict of raw values (NumPy arrays, lists, scalars, tensors) returns
torch tensors. Each feature goes through one of plait's preprocessing layers
(``Normalization``, ``Discretization``, ``Rescaling``, ``IntegerLookup``, ``StringLookup``,
``Hashing`` or a layer of your own), crosses through ``HashedCrossing``, and categorical
results through ``CategoryEncoding`` (multi-hot), as Keras composes them; then the encoded
features are concatenated (``output_mode="concat"``) or returned by name (``"dict"``).

A model trained on the encoded features starts from ``get_encoded_features()``, a symbolic
input of the encoded width. Strings cannot enter a torch model, so the raw-feature end of
the pipeline stays outside it: ``model(feature_space(raw))``.
"""

import datetime
import io
import json
import math
import os
import zipfile

import numpy as np
import torch

from plait.layers.base import Layer
from plait.layers.core import Identity
from plait.layers.input_layer import Input
from plait.layers.preprocessing.categorical import CategoryEncoding
from plait.layers.preprocessing.hashed_crossing import HashedCrossing
from plait.layers.preprocessing.hashing import Hashing
from plait.layers.preprocessing.lookup import IntegerLookup, StringLookup
from plait.layers.preprocessing.numerical import Discretization, Normalization, Rescaling
from plait.layers.serialization import layer_from_config, register_builtin_classes, serialize_layer
from plait.utils.naming import unique_name

_FEATURE_MODES = ("int", "one_hot", "float")
_CROSS_MODES = ("int", "one_hot")
_MODULE = "keras.src.layers.preprocessing.feature_space"  # where Keras's classes live
_ADAPT_BATCH = 32  # Keras batches unbatched values by 32 before adapting each layer


def _check_mode(value, allowed, who):
    if value not in allowed:
        raise ValueError(f"{who}: `output_mode` must be one of {allowed}. Received: output_mode={value!r}")
    return value


def _layer_spec(layer):
    """A preprocessing layer as Keras's serializer writes it (module ``keras.layers``)."""
    spec = serialize_layer(layer)
    if spec["module"] == "plait.layers":
        spec["module"] = "keras.layers"
    return spec


def _layer_from_spec(spec):
    if spec.get("class_name") == "TFDIdentity":  # Keras's pass-through for "float" features
        return Identity(name=spec.get("config", {}).get("name"))
    return layer_from_config(spec)


class Feature:
    """One feature of a :class:`FeatureSpace`: the dtype of its raw values, the preprocessing
    layer applied to them and how its result is encoded (``"int"``, ``"one_hot"`` or
    ``"float"``). Made by ``FeatureSpace.float_normalized()`` and its siblings, or
    ``FeatureSpace.feature(dtype, preprocessor, output_mode)`` for a layer of your own."""

    def __init__(self, dtype, preprocessor, output_mode):
        _check_mode(output_mode, _FEATURE_MODES, "FeatureSpace feature")
        if isinstance(preprocessor, dict):
            preprocessor = _layer_from_spec(preprocessor)
        if not callable(preprocessor):
            raise TypeError(
                f"FeatureSpace feature: `preprocessor` must be a layer (or callable). Received: {preprocessor!r}"
            )
        self.dtype, self.preprocessor, self.output_mode = dtype, preprocessor, output_mode

    def get_config(self):
        return {"dtype": self.dtype, "preprocessor": _layer_spec(self.preprocessor), "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        kind = type(self.preprocessor).__name__
        return f"Feature(dtype={self.dtype!r}, preprocessor={kind}, output_mode={self.output_mode!r})"


class Cross:
    """A feature cross: the values of several features hashed together into ``crossing_dim``
    bins (``FeatureSpace.cross(...)``)."""

    def __init__(self, feature_names, crossing_dim, output_mode="one_hot"):
        self.feature_names = tuple(feature_names)
        self.crossing_dim = crossing_dim
        self.output_mode = _check_mode(output_mode, _CROSS_MODES, "FeatureSpace cross")

    @property
    def name(self):
        """``"a_X_b"``: the key of the cross in the outputs and in ``FeatureSpace.crossers``."""
        return "_X_".join(self.feature_names)

    def get_config(self):
        return {"feature_names": self.feature_names, "crossing_dim": self.crossing_dim, "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"Cross({self.feature_names!r}, crossing_dim={self.crossing_dim}, output_mode={self.output_mode!r})"


def _spec(obj, class_name):
    return {"module": _MODULE, "class_name": class_name, "config": obj.get_config(), "registered_name": class_name}


def _from_spec(value, cls):
    if isinstance(value, dict) and "class_name" in value:
        if value["class_name"] != cls.__name__:
            raise ValueError(f"FeatureSpace: expected a {cls.__name__} config. Received: {value['class_name']!r}")
        return cls.from_config(value.get("config", {}))
    return value


class FeatureSpace(Layer):
    """Preprocess and encode structured data: one entry per feature, plus feature crosses.

    Args:
        features: ``{name: type}``, the type a name (``"float"``, ``"float_normalized"``,
            ``"float_rescaled"``, ``"float_discretized"``, ``"integer_categorical"``,
            ``"string_categorical"``, ``"integer_hashed"``, ``"string_hashed"``; defaults as
            below) or an object from one of the class methods.
        output_mode: ``"concat"`` (default): one float32 vector per sample, the features in
            name order then the crosses in name order; ``"dict"``: ``{name: encoded feature}``.
        crosses: features to cross: tuples of names (``crossing_dim`` bins each) or
            ``FeatureSpace.cross(...)`` objects.
        crossing_dim: default number of bins of a cross (default 32).
        hashing_dim: number of bins of ``"integer_hashed"``/``"string_hashed"`` (default 32).
        num_discretization_bins: bins of ``"float_discretized"`` (default 32).
        name: the layer's name.

    Input shape:
        a dict ``{name: values}``, each ``(batch,)``, ``(batch, 1)`` or a scalar (one sample).

    Output shape:
        ``(batch, total width)`` float32 in concat mode; a scalar sample gives ``(width,)``.

    Example:
        >>> import plait
        >>> FeatureSpace = plait.utils.FeatureSpace
        >>> data = {"price": [1.0, 2.0, 3.0, 4.0], "color": ["red", "blue", "red", "green"]}
        >>> space = FeatureSpace(
        ...     {"price": "float_normalized", "color": FeatureSpace.string_categorical(num_oov_indices=0)})
        >>> space.adapt(data)
        >>> space({"price": [2.5], "color": ["red"]})
        tensor([[1., 0., 0., 0.]])
    """

    # ------------------------------------------------------------------ feature types
    @classmethod
    def cross(cls, feature_names, crossing_dim, output_mode="one_hot"):
        """A cross of ``feature_names`` hashed into ``crossing_dim`` bins."""
        return Cross(feature_names, crossing_dim, output_mode=output_mode)

    @classmethod
    def feature(cls, dtype, preprocessor, output_mode):
        """A feature with your own preprocessing layer (e.g. ``TextVectorization``)."""
        return Feature(dtype, preprocessor, output_mode)

    @classmethod
    def float(cls, name=None):
        """Float values passed through unchanged."""
        name = name or unique_name("float")
        return Feature("float32", Identity(name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_rescaled(cls, scale=1.0, offset=0.0, name=None):
        """Float values mapped to ``x * scale + offset`` (a ``Rescaling`` layer)."""
        name = name or unique_name("float_rescaled")
        return Feature("float32", Rescaling(scale=scale, offset=offset, name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_normalized(cls, name=None):
        """Float values standardized with the adapted mean and variance (``Normalization``)."""
        name = name or unique_name("float_normalized")
        return Feature("float32", Normalization(axis=-1, name=f"{name}_preprocessor"), "float")

    @classmethod
    def float_discretized(cls, num_bins, bin_boundaries=None, output_mode="one_hot", name=None):
        """Float values bucketed into ``num_bins`` adapted quantile bins (``Discretization``)."""
        name = name or unique_name("float_discretized")
        layer = Discretization(num_bins=num_bins, bin_boundaries=bin_boundaries, name=f"{name}_preprocessor")
        return Feature("float32", layer, output_mode)

    @classmethod
    def integer_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot", name=None):
        """Integer categories indexed by an adapted vocabulary (``IntegerLookup``)."""
        name = name or unique_name("integer_categorical")
        layer = IntegerLookup(max_tokens=max_tokens, num_oov_indices=num_oov_indices, name=f"{name}_preprocessor")
        return Feature("int32", layer, output_mode)

    @classmethod
    def string_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot", name=None):
        """String categories indexed by an adapted vocabulary (``StringLookup``)."""
        name = name or unique_name("string_categorical")
        layer = StringLookup(max_tokens=max_tokens, num_oov_indices=num_oov_indices, name=f"{name}_preprocessor")
        return Feature("string", layer, output_mode)

    @classmethod
    def string_hashed(cls, num_bins, output_mode="one_hot", name=None):
        """Strings hashed into ``num_bins`` bins (``Hashing``)."""
        name = name or unique_name("string_hashed")
        return Feature("string", Hashing(num_bins=num_bins, name=f"{name}_preprocessor"), output_mode)

    @classmethod
    def integer_hashed(cls, num_bins, output_mode="one_hot", name=None):
        """Integers hashed into ``num_bins`` bins (``Hashing``)."""
        name = name or unique_name("integer_hashed")
        return Feature("int32", Hashing(num_bins=num_bins, name=f"{name}_preprocessor"), output_mode)

    # ------------------------------------------------------------------ construction
    def __init__(
        self,
        features,
        output_mode="concat",
        crosses=None,
        crossing_dim=32,
        hashing_dim=32,
        num_discretization_bins=32,
        name=None,
    ):
        super().__init__(name=name)
        if not features or not isinstance(features, dict):
            raise ValueError(
                f"FeatureSpace: `features` must be a non-empty dict of name -> type. Received: {features!r}"
            )
        if output_mode not in ("concat", "dict"):
            raise ValueError(
                f"FeatureSpace: `output_mode` must be 'concat' or 'dict'. Received: output_mode={output_mode!r}"
            )
        self.output_mode = output_mode
        self.crossing_dim, self.hashing_dim = crossing_dim, hashing_dim
        self.num_discretization_bins = num_discretization_bins
        self.features = {name: self._standardize_feature(name, value) for name, value in features.items()}
        self.crosses = [self._standardize_cross(cross) for cross in crosses or []]
        self.crosses_by_name = {cross.name: cross for cross in self.crosses}
        # Private dicts: feature names are the user's, and may clash with nn.ModuleDict's own names.
        self._preprocessors = {name: feature.preprocessor for name, feature in self.features.items()}
        self._crossers = {cross.name: HashedCrossing(cross.crossing_dim, name=cross.name) for cross in self.crosses}
        self._preset = {name for name, layer in self._preprocessors.items() if _is_preset(layer)}
        self._encoders = None  # name -> CategoryEncoding, made once adapted (cardinalities known)
        self._adapted = False
        self._inputs = None
        self._encoded = None

    def _standardize_feature(self, name, feature):
        if isinstance(feature, Feature):
            return feature
        if isinstance(feature, dict):
            return _from_spec(feature, Feature)
        makers = {
            "float": lambda: self.float(name=name),
            "float_normalized": lambda: self.float_normalized(name=name),
            "float_rescaled": lambda: self.float_rescaled(name=name),
            "float_discretized": lambda: self.float_discretized(self.num_discretization_bins, name=name),
            "integer_categorical": lambda: self.integer_categorical(name=name),
            "string_categorical": lambda: self.string_categorical(name=name),
            "integer_hashed": lambda: self.integer_hashed(self.hashing_dim, name=name),
            "string_hashed": lambda: self.string_hashed(self.hashing_dim, name=name),
        }
        if not isinstance(feature, str) or feature not in makers:
            raise ValueError(
                f"FeatureSpace: invalid type for feature '{name}'. Expected one of {sorted(makers)} or a "
                f"FeatureSpace.feature(...). Received: {feature!r}"
            )
        return makers[feature]()

    def _standardize_cross(self, cross):
        cross = _from_spec(cross, Cross)
        if not isinstance(cross, Cross):
            if not self.crossing_dim:
                raise ValueError("FeatureSpace: `crosses` given as names need `crossing_dim` (the number of bins).")
            if isinstance(cross, str) or not isinstance(cross, (list, tuple)):
                raise ValueError(f"FeatureSpace: a cross is a tuple of feature names. Received: {cross!r}")
            cross = Cross(cross, crossing_dim=self.crossing_dim)
        unknown = [key for key in cross.feature_names if key not in self.features]
        if unknown:
            raise ValueError(
                f"FeatureSpace: every feature of a cross must be in `features`. Unknown: {unknown} in cross "
                f"{cross.feature_names}; features: {list(self.features)}"
            )
        return cross

    @property
    def preprocessors(self):
        """``{feature name: its preprocessing layer}``."""
        return dict(self._preprocessors)

    @property
    def crossers(self):
        """``{cross name: its HashedCrossing layer}``."""
        return dict(self._crossers)

    @property
    def one_hot_encoders(self):
        """``{name: CategoryEncoding}`` of the features and crosses encoded as one-hot vectors."""
        return dict(self._encoders or {})

    # ------------------------------------------------------------------ adapt
    def _adaptable(self):
        """The features whose layer learns from data: not those given their statistics,
        boundaries or vocabulary when the space was made."""
        return [
            name for name, layer in self._preprocessors.items() if hasattr(layer, "adapt") and name not in self._preset
        ]

    def adapt(self, dataset):
        """Adapt every preprocessing layer that learns from data (vocabularies, means and
        variances, bin boundaries) to the values of its feature.

        Args:
            dataset: a dict ``{name: array or list}`` (one entry per sample), or batches of such
                dicts: a ``torch.utils.data`` dataset or ``DataLoader``, a
                ``plait.utils.PyDataset``, a list or any iterable. A batch may also be an
                ``(x, y)`` tuple whose ``x`` is the dict (labels are ignored).
        """
        columns = _columns(dataset, self._adaptable())
        for name, batches in columns.items():
            layer = self._preprocessors[name]
            if isinstance(layer, (Normalization, Discretization)):
                layer.adapt([batch.astype("float32") for batch in batches])  # streamed, batch by batch
            else:
                layer.adapt(np.concatenate(batches))
        self._adapted = True
        self._encoders, self._encoded = None, None
        self._make_encoders()
        self.built = True

    def _check_adapted(self):
        if not self._adapted:
            if self._adaptable():
                raise ValueError(
                    f"FeatureSpace '{self.name}': call `.adapt(data)` before using it (features to adapt: "
                    f"{self._adaptable()})."
                )
            self._adapted = True
        if self._encoders is None:
            self._make_encoders()

    def _cardinality(self, name, layer):
        if isinstance(layer, (IntegerLookup, StringLookup)):
            return layer.vocabulary_size()
        if isinstance(layer, CategoryEncoding):
            return layer.num_tokens
        if isinstance(layer, (Discretization, Hashing, HashedCrossing)):
            return layer.num_bins
        raise ValueError(
            f"FeatureSpace: feature '{name}' has output_mode='one_hot', but the size of its preprocessor's "
            f"({type(layer).__name__}) output space is not known, so it cannot be one-hot encoded. "
            "Use output_mode='int'."
        )

    def _make_encoders(self):
        encoders = {}
        for name, spec in self._specs():
            if spec.output_mode == "one_hot":
                layer = self._preprocessors.get(name) or self._crossers[name]
                size = self._cardinality(name, layer)
                encoders[name] = CategoryEncoding(num_tokens=size, output_mode="multi_hot", name=f"{name}_encoder")
        self._encoders = encoders

    def _specs(self):
        """``[(name, Feature or Cross)]`` in output order: features by name, then crosses by name."""
        return [(name, self.features[name]) for name in sorted(self.features)] + [
            (name, self.crosses_by_name[name]) for name in sorted(self.crosses_by_name)
        ]

    # ------------------------------------------------------------------ call
    def __call__(self, data):
        self._check_adapted()
        if not isinstance(data, dict):
            raise ValueError(
                f"FeatureSpace '{self.name}' must be called on a dict {{feature name: values}}. "
                f"Received: {type(data).__name__}"
            )
        missing = [name for name in self.features if name not in data]
        unknown = [name for name in data if name not in self.features]
        if missing or unknown:
            raise ValueError(
                f"FeatureSpace '{self.name}': the data's keys must be the features {sorted(self.features)}. "
                f"Missing: {missing}; unknown: {unknown}."
            )
        values, single = {}, False
        for name, feature in self.features.items():
            values[name], scalar = _column(data[name], feature.dtype, name)
            single = single or scalar
        preprocessed = {name: self._preprocessors[name](values[name]) for name in self.features}
        encoded = {}
        for name, spec in self._specs():
            if isinstance(spec, Cross):
                value = self._crossers[name]([preprocessed[key] for key in spec.feature_names])
            else:
                value = preprocessed[name]
            if name in self._encoders:
                value = self._encoders[name](_as_int_tensor(value, name))
            encoded[name] = value
        if self.output_mode == "dict":
            return {name: _unbatch(v) if single else v for name, v in encoded.items()}
        for name, value in encoded.items():
            if not isinstance(value, torch.Tensor) or not torch.is_floating_point(value):
                raise ValueError(
                    f"FeatureSpace '{self.name}': cannot concatenate feature '{name}', which is not encoded "
                    f"(dtype {getattr(value, 'dtype', type(value).__name__)}). Use output_mode='dict', or encode it "
                    "as 'one_hot' or 'float'."
                )
        merged = torch.cat([v.float() for v in encoded.values()], dim=-1)
        return merged[0] if single else merged

    # ------------------------------------------------------------------ symbolic side
    def get_inputs(self):
        """``{name: plait.Input}`` for the raw features (shape ``(1,)``, the feature's dtype).
        String features have none: torch tensors cannot hold strings, so they are encoded by
        calling the FeatureSpace on the data, outside the model."""
        strings = [name for name, f in self.features.items() if f.dtype == "string"]
        if strings:
            raise ValueError(
                f"FeatureSpace '{self.name}': features {strings} hold strings, which cannot be inputs of a torch "
                "model. Encode the data with `feature_space(data)` and feed the result to a model built on "
                "`feature_space.get_encoded_features()`."
            )
        if self._inputs is None:
            self._inputs = {name: Input(shape=(1,), dtype=f.dtype, name=name) for name, f in self.features.items()}
        return self._inputs

    def get_encoded_features(self):
        """The symbolic input a model on the encoded features starts from: one ``Input`` of shape
        ``(total width,)`` in concat mode, a dict of them by name in dict mode."""
        self._check_adapted()
        if self._encoded is None:
            widths = {name: self._encoded_width(name, spec) for name, spec in self._specs()}
            if self.output_mode == "concat":
                self._encoded = Input(shape=(sum(w for w, _ in widths.values()),), name="encoded_features")
            else:
                self._encoded = {name: Input(shape=(w,), dtype=d, name=name) for name, (w, d) in widths.items()}
        return self._encoded

    def _encoded_width(self, name, spec):
        if name in self._encoders:
            return self._encoders[name].num_tokens, "float32"
        if spec.output_mode == "int":
            if self.output_mode == "concat":
                raise ValueError(
                    f"FeatureSpace '{self.name}': cannot concatenate feature '{name}', which has output_mode='int'. "
                    "Use output_mode='dict'."
                )
            return 1, "int64"
        shape = self._preprocessors[name].compute_output_shape((None, 1))
        return int(math.prod(shape[1:])), "float32"

    # ------------------------------------------------------------------ configs and files
    def get_config(self):
        return {
            "features": {name: _spec(feature, "Feature") for name, feature in self.features.items()},
            "output_mode": self.output_mode,
            "crosses": [_spec(cross, "Cross") for cross in self.crosses],
            "crossing_dim": self.crossing_dim,
            "hashing_dim": self.hashing_dim,
            "num_discretization_bins": self.num_discretization_bins,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("name", None)
        return cls(**config)

    def get_build_config(self):
        """What ``adapt`` learned, per feature: the preprocessing layer's build config, weights,
        vocabulary and bin boundaries (JSON), so that a loaded FeatureSpace needs no adapting."""
        return {name: _layer_state(layer) for name, layer in self._preprocessors.items()}

    def build_from_config(self, config):
        for name, state in (config or {}).items():
            if name not in self._preprocessors:
                raise ValueError(f"FeatureSpace: the saved state names feature '{name}', which this space lacks.")
            _restore_layer_state(self._preprocessors[name], state)
        self._adapted = True
        self._encoders, self._encoded = None, None
        self._make_encoders()
        self.built = True

    def save(self, filepath):
        """Write the FeatureSpace, adapted state included, to a ``.keras`` file; read it back
        with ``plait.models.load_model(filepath)``."""
        filepath = os.fspath(filepath)
        if not filepath.endswith(".keras"):
            raise ValueError(f"FeatureSpace.save writes a '.keras' file. Received: filepath={filepath!r}")
        self._check_adapted()
        import h5py  # plait's saving dependency, only needed here

        spec = {
            "module": "keras.utils",
            "class_name": "FeatureSpace",
            "config": self.get_config(),
            "registered_name": None,
            "build_config": self.get_build_config(),
        }
        metadata = {"keras_version": "3.15.1", "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
        weights = io.BytesIO()
        with h5py.File(weights, "w") as h5:
            h5.create_group("vars")  # the state travels in the build config, not as weights
        with zipfile.ZipFile(filepath, "w") as archive:
            archive.writestr("metadata.json", json.dumps(metadata))
            archive.writestr("config.json", json.dumps(spec))
            archive.writestr("model.weights.h5", weights.getvalue())

    @property
    def layers(self):
        """No sublayers hold weights in a file: the loader's walk finds nothing to assign."""
        return []

    def __repr__(self):
        return f"<FeatureSpace name={self.name!r}, features={list(self.features)}, output_mode={self.output_mode!r}>"


# ---------------------------------------------------------------------- helpers
def _is_preset(layer):
    """Whether a layer was given what ``adapt`` would learn (it then cannot adapt)."""
    if isinstance(layer, Normalization):
        return layer.input_mean is not None
    config = layer.get_config() if hasattr(layer, "get_config") else {}
    if isinstance(layer, Discretization):
        return config.get("bin_boundaries") is not None
    return bool(config.get("vocabulary"))


def _column(value, dtype, name):
    """A feature's values as the preprocessing layers take them: ``(batch, 1)``; a scalar is a
    batch of one (and says so)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    array = np.asarray(value, dtype=object if dtype == "string" else None)
    scalar = array.ndim == 0
    if scalar:
        array = array.reshape(1, 1)
    elif array.ndim == 1:
        array = array[:, None]
    if dtype == "string":
        return array, scalar
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"FeatureSpace: feature '{name}' expects numbers ({dtype}). Received values of dtype {array.dtype}."
        )
    if dtype.startswith("int"):
        if array.dtype.kind == "f" and not np.all(np.mod(array, 1) == 0):
            raise TypeError(f"FeatureSpace: feature '{name}' expects integers ({dtype}). Received fractional values.")
        return torch.as_tensor(array.astype("int64")), scalar
    return torch.as_tensor(array.astype("float32")), scalar


def _as_int_tensor(value, name):
    value = torch.as_tensor(value)
    if torch.is_floating_point(value):
        raise ValueError(
            f"FeatureSpace: feature '{name}' has output_mode='one_hot', so its preprocessor must return integers. "
            f"It returns {value.dtype}."
        )
    return value


def _unbatch(value):
    return value[0] if isinstance(value, torch.Tensor) and value.dim() == 2 and value.shape[0] == 1 else value


def _batches(dataset):
    """The dict batches of ``dataset``: one batch of ``_ADAPT_BATCH`` rows at a time for a dict
    of whole columns (as Keras slices and batches it), the given batches otherwise."""
    if isinstance(dataset, dict):
        sizes = {len(np.asarray(v, dtype=object)) if np.ndim(v) else 1 for v in dataset.values()}
        if len(sizes) != 1:
            raise ValueError(f"FeatureSpace.adapt: the columns of the dict have different lengths: {sorted(sizes)}")
        (n,) = sizes
        for start in range(0, n, _ADAPT_BATCH):
            yield {
                k: np.asarray(v, dtype=object if _is_text(v) else None)[start : start + _ADAPT_BATCH]
                for k, v in dataset.items()
            }
        return
    if isinstance(dataset, (str, bytes)) or not hasattr(dataset, "__iter__") and not hasattr(dataset, "__getitem__"):
        raise ValueError(
            "FeatureSpace.adapt takes a dict of arrays or lists, a dataset or an iterable of dict batches. "
            f"Received: {type(dataset).__name__}"
        )
    items = iter(dataset) if hasattr(dataset, "__iter__") else (dataset[i] for i in range(len(dataset)))
    for item in items:
        if isinstance(item, (tuple, list)) and item and isinstance(item[0], dict):
            item = item[0]  # (x, y) or (x, y, sample_weight)
        if not isinstance(item, dict):
            raise ValueError(
                "FeatureSpace.adapt: each batch must be a dict {feature name: values}. "
                f"Received: {type(item).__name__}"
            )
        yield item


def _is_text(values):
    array = np.asarray(values) if not isinstance(values, torch.Tensor) else None
    return array is not None and array.dtype.kind in "USO"


def _columns(dataset, names):
    """``{name: [batch arrays of shape (n, 1)]}`` for the features ``names``."""
    columns = {name: [] for name in names}
    for batch in _batches(dataset):
        for name in names:
            if name not in batch:
                raise ValueError(
                    f"FeatureSpace.adapt: feature '{name}' is missing from the data (keys: {list(batch)})."
                )
            value = batch[name]
            if isinstance(value, torch.Tensor):
                value = value.detach().cpu().numpy()
            array = np.asarray(value, dtype=object if _is_text(value) else None)
            columns[name].append(array.reshape(-1, 1) if array.ndim <= 1 else array)
    empty = [name for name, batches in columns.items() if not batches]
    if empty:
        raise ValueError(f"FeatureSpace.adapt: the data holds no values for {empty}.")
    return columns


def _layer_state(layer):
    """A preprocessing layer's adapted state as JSON values."""
    state = {"build_config": layer.get_build_config() if isinstance(layer, Layer) else None}
    weights = layer.get_weights() if isinstance(layer, Layer) else []
    if weights:
        state["weights"] = [{"dtype": str(w.dtype), "value": np.asarray(w).tolist()} for w in weights]
    if hasattr(layer, "get_vocabulary") and hasattr(layer, "set_vocabulary"):
        tokens = layer.get_vocabulary(include_special_tokens=False)
        state["vocabulary"] = [t.item() if isinstance(t, np.generic) else t for t in tokens]
        idf = getattr(layer, "idf_weights", None)
        if idf is not None:
            state["idf_weights"] = np.asarray(idf, dtype="float32").tolist()
    if isinstance(layer, Discretization) and layer.bin_boundaries is not None:
        state["bin_boundaries"] = list(layer.bin_boundaries)
    return state


def _restore_layer_state(layer, state):
    if not isinstance(state, dict):
        return  # a Keras build config per layer (None): nothing was adapted into it
    if state.get("build_config"):
        layer.build_from_config(state["build_config"])
    if "weights" in state:
        layer.set_weights([np.asarray(w["value"], dtype=w["dtype"]) for w in state["weights"]])
    if "vocabulary" in state and state["vocabulary"]:
        idf = state.get("idf_weights")
        start = len(idf) - len(state["vocabulary"]) if idf is not None else 0
        layer.set_vocabulary(state["vocabulary"], None if idf is None else idf[start:])
    if "bin_boundaries" in state:
        layer.bin_boundaries = [float(b) for b in state["bin_boundaries"]]


register_builtin_classes({"FeatureSpace": FeatureSpace})

"""``KerasFileEditor``: look inside a ``.keras`` or ``.weights.h5`` file and edit its weights
(Keras's ``keras.saving.KerasFileEditor``).

The weights of a Keras file form a tree of HDF5 groups: ``layers/dense/vars/0`` is the first
weight of the model's first ``Dense``. The editor reads that tree into nested dicts of numpy
arrays, ``weights_dict["layers"]["dense"]["0"]`` (the ``vars`` level dropped, as Keras shows
it), lets you rename, delete and add objects and weights, and writes the result as a
``.weights.h5`` file that ``model.load_weights`` reads, in plait and in Keras. That is how an
old file is adapted to a changed architecture.

Reading is safe as plait's loaders are: links to other files, virtual datasets and arrays over
4 GiB are refused. One difference from Keras 3.15: an object whose own ``vars`` are empty but
whose children hold weights (an ``LSTM`` and its ``cell``) is kept; Keras's editor drops it,
so its comparisons and re-saved files miss those weights.

Example:
    >>> import os, tempfile, numpy as np, plait
    >>> model = plait.Sequential([plait.Input(shape=(3,)), plait.layers.Dense(2, name="proj")])
    >>> path = os.path.join(tempfile.mkdtemp(), "model.weights.h5")
    >>> model.save_weights(path)
    >>> editor = plait.saving.KerasFileEditor(path)  # doctest: +ELLIPSIS
    Keras weights file '...model.weights.h5'
    >>> editor.summary()
    Weights structure
      > layers
          └─ dense ('proj')
              ├─ 0: shape=(3, 2), dtype=float32
              └─ 1: shape=(2,), dtype=float32
    >>> editor.compare(model)["match_count"]
    ---------------------
    Comparison successful: saved file is compatible with the reference model
        Found 2 matching weights
    2
    >>> editor.rename_object("dense", "head")
    >>> editor.add_weights("head", {"2": np.zeros(2, "float32")})
    >>> sorted(editor.weights_dict["layers"]["head"])
    ['0', '1', '2']
"""

import json
import math
import os
import tempfile
import zipfile

import numpy as np

_MAX_BYTES = 1 << 32  # the largest array read, as Keras's editor (4 GiB)


def _read_group(group, path, metadata):
    """The weights below an HDF5 group as nested dicts; object names go into ``metadata``."""
    import h5py

    tree = {}
    for key in group:
        link = group.get(key, getlink=True)
        if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
            raise ValueError(f"KerasFileEditor: refusing the {type(link).__name__} at '{path}/{key}'.")
        item = group[key]
        where = f"{path}/{key}".lstrip("/")
        if isinstance(item, h5py.Group):
            if key == "vars":  # an object's own weights: shown at the object's level
                if "name" in item.attrs:
                    metadata[path.lstrip("/")] = {"name": str(item.attrs["name"])}
                tree.update(_read_group(item, path, metadata))
                continue
            child = _read_group(item, where, metadata)
            if child:  # empty objects are not shown, as in Keras
                tree[key] = child
        elif isinstance(item, h5py.Dataset):
            if item.external or item.is_virtual:
                raise ValueError(f"KerasFileEditor: refusing the external or virtual dataset at '{where}'.")
            if math.prod(item.shape) * item.dtype.itemsize > _MAX_BYTES:
                raise ValueError(f"KerasFileEditor: the array at '{where}' is larger than 4 GiB; not read.")
            tree[key] = item[()]
    return tree


def _write_group(h5, tree, path):
    """Write nested dicts of arrays in Keras's layout (an object's arrays in its ``vars``)."""
    arrays = {k: v for k, v in tree.items() if not isinstance(v, dict)}
    if arrays:
        group = h5.require_group(f"{path}/vars" if path else "vars")
        for key, value in arrays.items():
            group.create_dataset(key, data=np.asarray(value))
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            _write_group(h5, value, f"{path}/{key}" if path else key)


def _occurrences(tree, name):
    """The dicts (objects' parents) that hold ``name`` as an object or weight, anywhere."""
    found = [tree] if name in tree else []
    for value in tree.values():
        if isinstance(value, dict):
            found += _occurrences(value, name)
    return found


class KerasFileEditor:
    """Inspect and edit the weights of a ``.keras`` or ``.weights.h5`` file.

    Args:
        filepath: the file to open.

    Attributes:
        weights_dict: the weights, nested dicts of numpy arrays by object path.
        object_metadata: ``{object path: {"name": layer name}}`` as the file records them.
        config, metadata: a ``.keras`` file's ``config.json`` and ``metadata.json`` (None for
            a ``.weights.h5`` file).
    """

    def __init__(self, filepath):
        import h5py

        self.filepath = os.fspath(filepath)
        self.config = self.metadata = None
        self.object_metadata = {}
        if self.filepath.endswith(".keras"):
            with zipfile.ZipFile(self.filepath) as archive:
                self.config = json.loads(archive.read("config.json"))
                self.metadata = json.loads(archive.read("metadata.json"))
                with tempfile.TemporaryDirectory() as tmp:
                    weights = archive.extract("model.weights.h5", tmp)
                    with h5py.File(weights, "r") as h5:
                        self.weights_dict = _read_group(h5, "", self.object_metadata)
            print(f"Keras model file '{self.filepath}'")
            print(f"Saved with Keras {self.metadata.get('keras_version')} - date: {self.metadata.get('date_saved')}")
        elif self.filepath.endswith(".weights.h5"):
            with h5py.File(self.filepath, "r") as h5:
                self.weights_dict = _read_group(h5, "", self.object_metadata)
            print(f"Keras weights file '{self.filepath}'")
        else:
            raise ValueError(
                f"KerasFileEditor opens `.keras` and `.weights.h5` files. Received: filepath={self.filepath!r}"
            )

    # ------------------------------------------------------------------ reading
    def summary(self):
        """Print the tree of objects and weights (shapes and dtypes)."""
        print("Weights structure")
        self._print(self.weights_dict, "  ", "", first=True)

    def _print(self, tree, prefix, path, first=False):
        items = list(tree.items())
        for i, (key, value) in enumerate(items):
            last = i == len(items) - 1
            connector = "> " if first and i == 0 else ("└─ " if last else "├─ ")
            where = f"{path}/{key}".lstrip("/")
            if isinstance(value, dict):
                name = self.object_metadata.get(where, {}).get("name")
                print(f"{prefix}{connector}{key}" + (f" ('{name}')" if name else ""))
                self._print(value, prefix + ("    " if last else "│   "), where)
            else:
                print(f"{prefix}{connector}{key}: shape={tuple(value.shape)}, dtype={value.dtype}")

    def compare(self, reference_model):
        """List where the file and ``reference_model``'s weights differ (missing objects or
        weights, other shapes), as Keras's editor does.

        Args:
            reference_model: a built plait model.

        Returns:
            ``{"status": "success" | "error", "error_count": ..., "match_count": ...}``:
            mismatches, and weights found in both with the same shape.
        """
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "reference.weights.h5")
            reference_model.save_weights(path)
            import h5py

            with h5py.File(path, "r") as h5:
                reference_tree = _read_group(h5, "", {})
        errors, matches = self._diff(self.weights_dict, reference_tree, "")
        print("-" * 21)
        if errors:
            print(
                f"Found {errors} error{'s' if errors != 1 else ''}: saved file is not compatible with the "
                "reference model"
            )
        else:
            print("Comparison successful: saved file is compatible with the reference model")
            print(f"    Found {matches} matching weight{'s' if matches != 1 else ''}")
        return {"status": "error" if errors else "success", "error_count": errors, "match_count": matches}

    def _diff(self, saved, reference, path):
        errors = matches = 0
        for key in list(reference) + [k for k in saved if k not in reference]:
            where = f"{path}/{key}".lstrip("/")
            kind = "Object" if isinstance(reference.get(key, saved.get(key)), dict) else "Weight"
            if key not in saved or key not in reference:
                present, missing = (
                    ("reference model", "saved file") if key not in saved else ("saved file", "reference model")
                )
                print(f"...{kind} {where} present in {present}, missing from {missing}")
                errors += 1
            elif isinstance(reference[key], dict) != isinstance(saved[key], dict):
                print(f"...{where} is an object in one and a weight in the other")
                errors += 1
            elif isinstance(reference[key], dict):
                more_errors, more_matches = self._diff(saved[key], reference[key], where)
                errors, matches = errors + more_errors, matches + more_matches
            elif tuple(reference[key].shape) != tuple(saved[key].shape):
                print(
                    f"...Weight shape mismatch for {where}\n    In reference model: shape={tuple(reference[key].shape)}"
                    f"\n    In saved file: shape={tuple(saved[key].shape)}"
                )
                errors += 1
            else:
                matches += 1
        return errors, matches

    # ------------------------------------------------------------------ editing
    def _parent(self, name):
        """The dict holding the object or weight ``name`` (a path, or a name found once)."""
        if "/" in name:
            parts = name.split("/")
            tree = self.weights_dict
            for part in parts[:-1]:
                if not isinstance(tree.get(part), dict):
                    raise ValueError(f"KerasFileEditor: path '{name}' not found in the file.")
                tree = tree[part]
            if parts[-1] not in tree:
                raise ValueError(f"KerasFileEditor: path '{name}' not found in the file.")
            return tree, parts[-1]
        found = _occurrences(self.weights_dict, name)
        if len(found) > 1:
            raise ValueError(f"KerasFileEditor: name '{name}' occurs more than once in the file; pass its full path.")
        if not found:
            raise ValueError(
                f"KerasFileEditor: name '{name}' is not in the file; `editor.summary()` lists the objects."
            )
        return found[0], name

    def rename_object(self, object_name, new_name):
        """Rename an object (``"dense_2"`` or ``"layers/dense_2"``) to ``new_name`` (a leaf name)."""
        if "/" in new_name:
            raise ValueError(f"KerasFileEditor: `new_name` must be a leaf name, not a path. Received: {new_name!r}")
        parent, key = self._parent(object_name)
        parent[new_name] = parent.pop(key)

    def delete_object(self, object_name):
        """Remove an object (``"dense_2"`` or ``"layers/dense_2"``) and its weights."""
        parent, key = self._parent(object_name)
        del parent[key]

    def add_object(self, object_path, weights):
        """Add an object at ``object_path`` (``"layers/dense_2"``) with ``weights``
        (``{"0": kernel, "1": bias}``)."""
        _check_weights(weights)
        tree = self.weights_dict
        parts = object_path.split("/")
        for part in parts[:-1]:
            if not isinstance(tree.get(part), dict):
                raise ValueError(f"KerasFileEditor: path '{'/'.join(parts[:-1])}' not found in the file.")
            tree = tree[part]
        tree[parts[-1]] = dict(weights)

    def delete_weight(self, object_name, weight_name):
        """Remove the weight ``weight_name`` (``"0"``) of an object."""
        parent, key = self._parent(object_name)
        if weight_name not in parent[key]:
            raise ValueError(
                f"KerasFileEditor: weight '{weight_name}' not found in object '{object_name}'. "
                f"Weights found: {list(parent[key])}"
            )
        del parent[key][weight_name]

    def add_weights(self, object_name, weights):
        """Add ``weights`` (``{"2": array}``) to an existing object."""
        _check_weights(weights)
        parent, key = self._parent(object_name)
        parent[key].update(weights)

    # ------------------------------------------------------------------ writing
    def save(self, filepath):
        """Write the edited weights as a ``.weights.h5`` file (``model.load_weights`` reads it)."""
        import h5py

        filepath = os.fspath(filepath)
        if not filepath.endswith(".weights.h5"):
            raise ValueError(f"KerasFileEditor.save writes a `.weights.h5` file. Received: filepath={filepath!r}")
        with h5py.File(filepath, "w") as h5:
            _write_group(h5, self.weights_dict, "")

    def resave_weights(self, filepath):
        """The same as :meth:`save` (Keras's other name)."""
        self.save(filepath)

    def __repr__(self):
        return f"<KerasFileEditor {self.filepath!r}>"


def _check_weights(weights):
    if not isinstance(weights, dict):
        raise ValueError(
            "KerasFileEditor: `weights` must be a dict of weight name ('0', '1', ...) to array. "
            f"Received: {type(weights).__name__}"
        )


__all__ = ["KerasFileEditor"]

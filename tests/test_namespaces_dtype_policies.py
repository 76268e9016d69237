"""``plait.dtype_policies`` against ``keras.dtype_policies``: the same configs both ways, the
same lookups, the quantized policies as Keras writes them."""

import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402
from plait import dtype_policies  # noqa: E402

NAMES = ["float32", "mixed_float16", "mixed_bfloat16"]


@pytest.mark.parametrize("name", NAMES)
def test_policies_serialize_as_keras(name):
    ours, theirs = dtype_policies.get(name), keras.dtype_policies.get(name)
    assert dtype_policies.serialize(ours) == keras.dtype_policies.serialize(theirs)
    assert ours.get_config() == theirs.get_config()
    assert ours.quantization_mode is theirs.quantization_mode is None
    # a Keras config loads here, and ours loads in Keras
    assert dtype_policies.deserialize(keras.dtype_policies.serialize(theirs)) == ours
    assert keras.dtype_policies.deserialize(dtype_policies.serialize(ours)).name == name
    assert str(ours.compute_dtype).removeprefix("torch.") == theirs.compute_dtype
    assert str(ours.variable_dtype).removeprefix("torch.") == theirs.variable_dtype
    assert dtype_policies.get(dtype_policies.serialize(ours)) == ours
    assert dtype_policies.DTypePolicy is plait.DTypePolicy is plait.mixed_precision.DTypePolicy


def test_get_defaults_and_bad_identifiers():
    assert dtype_policies.get(None) == plait.mixed_precision.global_policy()
    assert isinstance(dtype_policies.FloatDTypePolicy("float32"), dtype_policies.DTypePolicy)
    with pytest.raises(ValueError, match="Received: 3"):
        dtype_policies.get(3)
    with pytest.raises(ValueError, match="Unknown dtype policy"):
        dtype_policies.get("no_such_policy")
    with pytest.raises(ValueError, match="Unknown dtype policy class"):
        dtype_policies.deserialize({"class_name": "Nope", "config": {}})


@pytest.mark.parametrize(
    "name", ["int8_from_float32", "int4/-1_from_float32", "int4/128_from_mixed_bfloat16", "float8_from_float32"]
)
def test_quantized_policies_match_keras(name):
    ours, theirs = dtype_policies.get(name), keras.dtype_policies.get(name)
    assert dtype_policies.serialize(ours) == keras.dtype_policies.serialize(theirs)
    assert (ours.name, ours.quantization_mode) == (theirs.name, theirs.quantization_mode)
    assert str(ours.compute_dtype).removeprefix("torch.") == theirs.compute_dtype
    assert dtype_policies.deserialize(keras.dtype_policies.serialize(theirs)) == ours
    assert keras.dtype_policies.deserialize(dtype_policies.serialize(ours)).name == name


def test_quantized_policies_check_their_names():
    with pytest.raises(ValueError, match="_from_"):
        dtype_policies.get("int8")
    with pytest.raises(ValueError, match="Invalid quantization mode"):
        dtype_policies.QuantizedDTypePolicy("int3", "float32")
    with pytest.raises(ValueError, match="int4/<block_size>"):
        dtype_policies.Int4DTypePolicy("int4/x", "float32")


def test_policy_map_matches_keras():
    ours = dtype_policies.DTypePolicyMap("mixed_bfloat16", {"dense/kernel": "mixed_float16"})
    theirs = keras.dtype_policies.DTypePolicyMap("mixed_bfloat16", {"dense/kernel": "mixed_float16"})
    assert ours.get_config() == theirs.get_config()
    for path in ["dense/kernel", "other", "dense/kernel/extra"]:
        theirs_name = getattr(theirs[path], "name", theirs[path])  # Keras hands back a name as given
        assert ours[path].name == theirs_name
    restored = dtype_policies.DTypePolicyMap.from_config(theirs.get_config())
    assert restored["dense/kernel"].name == "mixed_float16"
    with pytest.raises(ValueError, match="already has a policy"):
        ours["dense/kernel"] = "float32"


def test_every_keras_dtype_policies_name_exists():
    names = [n for n in dir(keras.dtype_policies) if not n.startswith("_")]
    assert [n for n in names if not hasattr(dtype_policies, n)] == []

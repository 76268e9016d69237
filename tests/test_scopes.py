"""Keras 3's scopes and graph functions on plait, run side by side with Keras itself:
``name_scope``, ``device``, ``StatelessScope``, ``SymbolicScope``, ``RematScope``/``remat``,
``Function``, ``legacy.saving``, ``saving.KerasFileEditor``, ``distribution.distribute_tensor``,
``mixed_precision.dtype_policy``. Tolerances: float32 results of the same math, atol 1e-6."""

import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

import plait  # noqa: E402
from plait.scopes import in_symbolic_scope  # noqa: E402

ATOL = 1e-6
# Keras's own numpy conversions on torch 2.13 + numpy 2 warn so; not plait's.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def both(program):
    """``program(lib)`` for plait and for Keras."""
    return program(plait), program(keras)


# ---------------------------------------------------------------------- name_scope
def test_name_scope_prefixes_weight_paths_as_keras():
    def program(lib):
        paths = []
        with lib.name_scope("outer"):
            paths.append(lib.Variable(1.0, name="v").path)
            dense = lib.layers.Dense(2, name="d")
            dense.build((None, 3))
            paths.append(dense.kernel.path)
            with lib.name_scope("inner"):
                paths.append(lib.Variable(1.0, name="w").path)
            with lib.name_scope("outer"):  # no caller: a second level of the same name
                paths.append(lib.Variable(1.0, name="w").path)
        with lib.name_scope("elsewhere", override_parent="root/branch"):
            paths.append(lib.Variable(1.0, name="w").path)
        late = lib.layers.Dense(2, name="late")  # made outside, built inside: the scope of the build
        with lib.name_scope("o2"):
            late(np.ones((1, 3), "float32"))
        paths.append(late.kernel.path)
        inputs = lib.Input(shape=(3,))
        with lib.name_scope("graph"):
            outputs = lib.layers.Dense(2, name="d3")(inputs)
        paths += [w.path for w in lib.Model(inputs, outputs).weights]
        paths.append(lib.Variable(1.0, name="free").path)
        return paths

    ours, theirs = both(program)
    assert ours == theirs
    assert ours[0] == "outer/v" and ours[-1] == "free"


def test_name_scope_caller_deduplicates_and_bad_names_are_refused():
    owner = object()
    with plait.name_scope("block", caller=owner):
        with plait.name_scope("block", caller=owner):  # the same caller re-entering: no new level
            assert plait.Variable(1.0, name="w").path == "block/w"
    with pytest.raises(ValueError, match="without '/'"):
        plait.name_scope("a/b")
    with pytest.raises(ValueError, match="name_scope"):
        plait.name_scope(3)


# ---------------------------------------------------------------------- device
def test_device_places_tensors_and_weights():
    with plait.device("meta") as where:
        layer = plait.layers.Dense(4)
        layer.build((None, 2))
        made = torch.zeros(3)
    assert where == torch.device("meta")
    assert layer.kernel.device.type == "meta" and made.device.type == "meta"
    assert torch.zeros(1).device.type == "cpu"  # the block ended
    with plait.device("GPU:1") as where:  # Keras's spelling, any case
        assert where == torch.device("cuda:1")
    with pytest.raises(ValueError, match="device_name"):
        with plait.device(0):
            pass
    with pytest.raises(ValueError, match="not a device torch knows"):
        with plait.device("tpu:0"):
            pass


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_cuda_places_layers_and_trains_there():
    with plait.device("gpu:0"):
        model = plait.Sequential([plait.Input(shape=(3,)), plait.layers.Dense(2)])
    assert all(p.device.type == "cuda" for p in model.parameters())
    with plait.device("cpu"):
        assert torch.ones(1).device.type == "cpu"


# ---------------------------------------------------------------------- StatelessScope
def test_stateless_scope_uses_mapped_values_and_collects_writes_as_keras():
    x = np.random.RandomState(0).randn(2, 3).astype("float32")
    mapped = np.arange(6, dtype="float32").reshape(3, 2)

    def program(lib):
        dense = lib.layers.Dense(2)
        dense.build((None, 3))
        dense.set_weights([np.full((3, 2), 0.5, "float32"), np.array([0.1, -0.2], "float32")])
        with lib.StatelessScope([(dense.kernel, mapped)]) as scope:
            first = np.asarray(dense(x).detach())
            dense.kernel.assign(mapped * 2)
            second = np.asarray(dense(x).detach())
            dense.kernel.assign_add(np.ones((3, 2), "float32"))
            inside = np.asarray(dense.kernel.numpy())
        current = np.asarray(scope.get_current_value(dense.kernel))
        return first, second, inside, current, dense.kernel.numpy(), scope.get_current_value(dense.bias)

    ours, theirs = both(program)
    for a, b in zip(ours[:5], theirs[:5]):
        np.testing.assert_allclose(a, b, atol=ATOL)
    np.testing.assert_array_equal(ours[4], np.full((3, 2), 0.5))  # the weight itself never changed
    assert ours[5] is None and theirs[5] is None


def test_stateless_scope_catches_batch_norm_moving_statistics():
    x = np.random.RandomState(1).randn(8, 3).astype("float32") * 3 + 1

    def program(lib):
        bn = lib.layers.BatchNormalization()
        bn.build((None, 3))
        with lib.StatelessScope() as scope:
            bn(x, training=True)
        return bn.moving_mean.numpy(), np.asarray(scope.get_current_value(bn.moving_mean))

    ours, theirs = both(program)
    np.testing.assert_array_equal(ours[0], np.zeros(3))
    np.testing.assert_allclose(ours[1], theirs[1], atol=ATOL)


def test_stateless_scope_collects_added_losses_as_keras():
    def program(lib):
        class Penalised(lib.layers.Layer):
            def call(self, x):
                self.add_loss(lib.ops.mean(lib.ops.abs(x)))
                return x

        layer = Penalised()
        x = np.array([[1.0, -3.0]], "float32")
        with lib.StatelessScope(collect_losses=True) as collecting:
            layer(x)
        with lib.StatelessScope() as dropping:
            layer(x)
        return [float(v) for v in collecting.losses], dropping.losses, list(layer.losses)

    ours, theirs = both(program)
    assert ours == theirs == ([2.0], [], [])


def test_stateless_scope_refuses_a_key_that_is_not_a_variable():
    with pytest.raises(ValueError, match="must be a Variable"):
        plait.StatelessScope([(torch.ones(2), torch.zeros(2))])
    with pytest.raises(ValueError, match="shape"):
        layer = plait.layers.Dense(2)
        layer.build((None, 3))
        plait.StatelessScope([(layer.kernel, np.zeros((2, 2)))])


# ---------------------------------------------------------------------- SymbolicScope
def test_symbolic_scope_is_open_while_a_layer_runs_for_shapes_only():
    seen = []

    class Probe(plait.layers.Layer):
        def call(self, x):
            seen.append(in_symbolic_scope())
            return x * 2

    probe = Probe()
    probe(plait.Input(shape=(3,)))  # shape inference on meta tensors
    probe(torch.ones(1, 3))  # real compute
    assert seen[0] is True and seen[-1] is False
    with plait.SymbolicScope():
        assert in_symbolic_scope()
    assert not in_symbolic_scope()


# ---------------------------------------------------------------------- remat
def counting_layer(lib, calls):
    class Count(lib.layers.Layer):
        def call(self, x):
            if x.device.type != "meta":  # real calls only (shape inference runs on meta)
                calls[self.name] = calls.get(self.name, 0) + 1
            return lib.ops.sin(x) * 2

    return Count


@pytest.mark.parametrize(
    "scope_args, names, shape",
    [
        ({"mode": "full"}, ("a", "b"), (2, 3)),
        ({"mode": "list_of_layers", "layer_names": ["a"]}, ("a", "b"), (2, 3)),
        ({"mode": "larger_than", "output_size_threshold": 5}, ("a",), (2, 3)),
        ({"mode": "larger_than", "output_size_threshold": 5}, ("a",), (1, 3)),
        ({"mode": None}, ("a",), (2, 3)),
    ],
)
def test_remat_scope_reruns_the_layers_keras_reruns(scope_args, names, shape):
    # A rematerialized layer runs again in the backward pass; the others do not.
    def program(lib):
        calls = {}
        Count = counting_layer(lib, calls)
        with lib.RematScope(**scope_args):
            layers = [Count(name=n) for n in names]
        x = torch.ones(shape, requires_grad=True)
        out = x
        for layer in layers:
            out = layer(out)
        calls.clear()  # Keras may call a layer once more to learn its output size: count the backward only
        out.sum().backward()
        return calls, x.grad.numpy()

    ours, theirs = both(program)
    assert ours[0] == theirs[0]
    np.testing.assert_allclose(ours[1], theirs[1], atol=ATOL)


def test_remat_scope_activations_mode_reruns_only_the_activation():
    calls = {"n": 0}

    def counted_relu(x):
        calls["n"] += 1
        return torch.relu(x)

    with plait.RematScope(mode="activations"):
        layer = plait.layers.Dense(3, activation=counted_relu)
    x = torch.randn(4, 2, requires_grad=True)
    layer(x).sum().backward()
    assert calls["n"] == 2
    assert layer.activation is counted_relu  # restored after the call


def test_remat_keeps_fewer_activations_and_the_same_gradients():
    # What autograd keeps for the backward pass, in bytes, with and without rematerialization.
    def build(scope):
        torch.manual_seed(0)
        with plait.RematScope(mode=scope):
            model = plait.Sequential(
                [plait.Input(shape=(64,))] + [plait.layers.Dense(64, activation="tanh") for _ in range(6)]
            )
        return model

    def saved_bytes_and_grads(model):
        kept = []

        def pack(t):
            kept.append(t.numel() * t.element_size())
            return t

        x = torch.randn(256, 64, generator=torch.Generator().manual_seed(1))
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = model(x).square().mean()
        loss.backward()
        return sum(kept), [p.grad.clone() for p in model.parameters()]

    plain, full = build(None), build("full")
    full.set_weights(plain.get_weights())
    plain_bytes, plain_grads = saved_bytes_and_grads(plain)
    remat_bytes, remat_grads = saved_bytes_and_grads(full)
    assert remat_bytes < plain_bytes / 2
    for a, b in zip(plain_grads, remat_grads):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


def test_rematerialized_model_compiles_exports_and_copies():
    import copy

    with plait.RematScope(mode="full"):
        model = plait.Sequential(
            [plait.Input(shape=(8,))] + [plait.layers.Dense(8, activation="tanh") for _ in range(2)]
        )
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    want = model(x)
    twin = copy.deepcopy(model)
    assert twin.layers[0].forward.__self__ is twin.layers[0]  # bound to the copy, not the original
    torch.testing.assert_close(twin(x), want)
    compiled = torch.compile(model)
    got = compiled(x)
    got.sum().backward()
    torch.testing.assert_close(got, want, atol=ATOL, rtol=0)
    exported = torch.export.export(model, (x,))
    torch.testing.assert_close(exported.module()(x), want, atol=ATOL, rtol=0)


def test_remat_function_matches_keras():
    x = np.linspace(-1, 1, 6, dtype="float32").reshape(2, 3)

    def program(lib):
        t = torch.tensor(x, requires_grad=True)
        out = lib.remat(lambda v: lib.ops.tanh(v) * v)(t)
        out.sum().backward()
        return out.detach().numpy(), t.grad.numpy()

    ours, theirs = both(program)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, atol=ATOL)
    with pytest.raises(ValueError, match="mode"):
        plait.RematScope(mode="some")
    with pytest.raises(TypeError, match="remat"):
        plait.remat(3)


# ---------------------------------------------------------------------- Function
def test_function_gives_keras_numbers_shapes_and_errors():
    rng = np.random.RandomState(2)
    kernel, bias = rng.randn(3, 4).astype("float32"), rng.randn(4).astype("float32")
    values = {"a": rng.randn(2, 2, 3).astype("float32"), "b": rng.randn(2, 2, 3).astype("float32")}

    def program(lib):
        lib.backend.clear_session()  # op names ("add") count from zero, whatever ran before
        a, b = lib.Input(shape=(2, 3), name="a"), lib.Input(shape=(2, 3), name="b")
        dense = lib.layers.Dense(4, name="d")
        y = lib.ops.sigmoid(dense(a + b))
        dense.set_weights([kernel, bias])
        fn = lib.Function(inputs={"a": a, "b": b}, outputs=[y, a], name="f")
        out = fn(values)
        shapes = fn.compute_output_shape({"a": (5, 2, 3), "b": (5, 2, 3)})
        errors = []
        for bad in ({"a": np.ones((1, 2, 4)), "b": np.ones((1, 2, 3))}, [values["a"], values["b"]]):
            with pytest.raises(ValueError) as error:
                fn(bad)
            errors.append(str(error.value))
        return (
            [np.asarray(o.detach() if hasattr(o, "detach") else o) for o in out],
            shapes,
            [op.name for op in fn.operations],
            errors,
        )

    ours, theirs = both(program)
    for a, b in zip(ours[0], theirs[0]):
        np.testing.assert_allclose(a, b, atol=ATOL)
    assert [tuple(s) for s in ours[1]] == [tuple(s) for s in theirs[1]] == [(5, 2, 4), (5, 2, 3)]
    assert ours[2] == theirs[2]
    assert "expected shape (None, 2, 3)" in ours[3][0] and "structure" in ours[3][1]


def test_function_on_symbolic_inputs_extends_a_graph():
    x = plait.Input(shape=(3,))
    fn = plait.Function(x, plait.layers.Dense(2, kernel_initializer="ones", use_bias=False)(x))
    new_input = plait.Input(shape=(3,))
    model = plait.Model(new_input, fn(new_input) * 3)
    np.testing.assert_allclose(model(torch.ones(1, 3)).detach().numpy(), [[9.0, 9.0]])
    spec = fn.compute_output_spec(plait.Input(batch_shape=(7, 3)))
    assert spec.shape == (7, 2)
    with pytest.raises(ValueError, match="cannot be empty"):
        plait.Function([], [x])
    with pytest.raises(TypeError, match="symbolic tensors"):
        plait.Function([x], [torch.ones(2)])


# ---------------------------------------------------------------------- legacy serialization
def test_legacy_serialization_writes_and_reads_keras_2_format_as_keras():
    def program(lib):
        ser = lib.legacy.saving.serialize_keras_object
        return [
            ser(lib.initializers.RandomNormal(stddev=0.5, seed=3)),
            ser(lib.regularizers.L1L2(l1=0.01, l2=0.02)),
            ser(lib.constraints.MaxNorm(2.0)),
            ser(lib.activations.relu),
            ser(None),
        ]

    ours, theirs = both(program)
    assert ours == theirs
    read = plait.utils.legacy.deserialize_keras_object
    regularizer = read(theirs[1], module_objects={"L1L2": plait.regularizers.L1L2})
    assert isinstance(regularizer, plait.regularizers.L1L2)
    assert regularizer.get_config() == {"l1": 0.01, "l2": 0.02}
    assert read("relu", module_objects={"relu": plait.activations.relu}) is plait.activations.relu
    with pytest.raises(ValueError, match="Unknown activation: 'nope'"):
        read("nope", module_objects={}, printable_module_name="activation")
    with pytest.raises(ValueError, match="class_name"):
        read({"config": {}})


def test_legacy_serialization_of_a_layer_as_keras_and_back():
    def program(lib):
        layer = lib.layers.Dense(2, kernel_regularizer=lib.regularizers.L2(0.5), name="head")
        return lib.legacy.saving.serialize_keras_object(layer)

    ours, theirs = both(program)
    assert ours["class_name"] == theirs["class_name"] == "Dense"
    for key in ("units", "activation", "use_bias", "name"):
        assert ours["config"][key] == theirs["config"][key], key
    for key in ("class_name", "config"):  # a nested object: kept as the layer's get_config writes it
        assert ours["config"]["kernel_regularizer"][key] == theirs["config"]["kernel_regularizer"][key]
    rebuilt = plait.legacy.saving.deserialize_keras_object(theirs, module_objects={"Dense": plait.layers.Dense})
    assert isinstance(rebuilt, plait.layers.Dense) and rebuilt.units == 2
    assert rebuilt.get_config()["kernel_regularizer"]["config"] == {"l2": 0.5}


# ---------------------------------------------------------------------- KerasFileEditor
@pytest.fixture
def keras_file(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(2)])
    path = str(tmp_path / "model.keras")
    model.save(path)
    return model, path


def test_file_editor_reads_what_keras_reads_and_keeps_nested_objects(keras_file, capsys):
    model, path = keras_file
    ours = plait.saving.KerasFileEditor(path)
    theirs = keras.saving.KerasFileEditor(path)
    assert ours.metadata == theirs.metadata and ours.config == theirs.config
    for name, value in theirs.weights_dict["layers"]["dense"].items():
        np.testing.assert_array_equal(ours.weights_dict["layers"]["dense"][name], value)
    # Keras 3.15 drops the LSTM (its own vars are empty, its cell holds the weights); plait keeps it.
    kernel = model.layers[0].cell.kernel.numpy()
    np.testing.assert_array_equal(ours.weights_dict["layers"]["lstm"]["cell"]["0"], kernel)
    capsys.readouterr()
    ours.summary()
    printed = capsys.readouterr().out
    assert "lstm" in printed and "0: shape=(3, 16), dtype=float32" in printed


def test_file_editor_edits_load_into_keras_and_plait(keras_file, tmp_path):
    model, path = keras_file
    editor = plait.saving.KerasFileEditor(path)
    twin = plait.Sequential([plait.Input((5, 3)), plait.layers.LSTM(4), plait.layers.Dense(2)])
    assert editor.compare(twin) == {"status": "success", "error_count": 0, "match_count": 5}
    new_kernel = np.full((4, 2), 0.25, "float32")
    editor.delete_weight("layers/dense", "0")
    editor.add_weights("dense", {"0": new_kernel})
    out = str(tmp_path / "edited.weights.h5")
    editor.save(out)
    model.load_weights(out)
    twin.load_weights(out)
    np.testing.assert_array_equal(model.layers[1].kernel.numpy(), new_kernel)
    np.testing.assert_array_equal(twin.layers[1].get_weights()[0], new_kernel)
    x = np.random.RandomState(3).randn(2, 5, 3).astype("float32")
    np.testing.assert_allclose(
        np.asarray(twin.predict(x, verbose=0)), np.asarray(model.predict(x, verbose=0)), atol=1e-5
    )
    # Renaming and deleting objects show in the comparison as Keras counts them.
    editor.rename_object("dense", "head")
    result = editor.compare(twin)
    assert result["status"] == "error" and result["error_count"] == 2 and result["match_count"] == 3
    editor.delete_object("head")
    editor.add_object("layers/dense", {"0": new_kernel, "1": np.zeros(2, "float32")})
    assert editor.compare(twin)["status"] == "success"
    editor.add_weights("dense", {"2": np.zeros(1, "float32")})
    assert editor.compare(twin)["error_count"] == 1


def test_file_editor_errors_name_the_problem(keras_file, tmp_path):
    _, path = keras_file
    editor = plait.saving.KerasFileEditor(path)
    with pytest.raises(ValueError, match="not in the file"):
        editor.delete_object("conv")
    with pytest.raises(ValueError, match="more than once"):
        editor.delete_object("0")
    with pytest.raises(ValueError, match="leaf name"):
        editor.rename_object("dense", "a/b")
    with pytest.raises(ValueError, match="Weights found"):
        editor.delete_weight("dense", "7")
    with pytest.raises(ValueError, match="must be a dict"):
        editor.add_weights("dense", [1])
    with pytest.raises(ValueError, match=".weights.h5"):
        editor.save(str(tmp_path / "x.h5"))
    with pytest.raises(ValueError, match="opens"):
        plait.saving.KerasFileEditor(str(tmp_path / "model.pt"))


# ---------------------------------------------------------------------- distribute_tensor
def test_distribute_tensor_in_one_process():
    from plait import distribution

    mesh = distribution.DeviceMesh((1,), ("model",), devices=["cpu:0"])
    value = torch.arange(6.0).reshape(2, 3)
    out = distribution.distribute_tensor(value, distribution.TensorLayout((None, "model"), mesh))
    torch.testing.assert_close(out, value)
    symbolic = plait.Input(shape=(3,))
    assert distribution.distribute_tensor(symbolic, distribution.TensorLayout((None, "model"), mesh)) is symbolic
    with pytest.raises(ValueError, match="rank"):
        distribution.distribute_tensor(value, distribution.TensorLayout(("model",), mesh))
    with pytest.raises(TypeError, match="TensorLayout"):
        distribution.distribute_tensor(value, ("model",))
    with pytest.raises(ValueError, match="no process group"):
        two = distribution.DeviceMesh((2,), ("model",), devices=["cpu:0", "cpu:1"])
        distribution.distribute_tensor(value, distribution.TensorLayout((None, "model"), two))


WORKER = textwrap.dedent(
    """
    import sys, numpy as np, torch
    from plait import distribution
    distribution.initialize()
    mesh = distribution.DeviceMesh((2,), ("model",), devices=["cpu:0", "cpu:1"])
    value = torch.arange(12.0).reshape(3, 4)
    out = distribution.distribute_tensor(value, distribution.TensorLayout((None, "model"), mesh))
    np.save(sys.argv[1], np.stack([out.to_local().numpy(), out.full_tensor().numpy()[:, :2]]))
    """
)


def test_distribute_tensor_shards_over_two_processes(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = []
    for rank in range(2):
        env = {
            **os.environ,
            "RANK": str(rank),
            "WORLD_SIZE": "2",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "OMP_NUM_THREADS": "1",
        }
        out = tmp_path / f"rank{rank}.npy"
        procs.append((subprocess.Popen([sys.executable, "-c", WORKER, str(out)], env=env), out))
    for proc, _ in procs:
        assert proc.wait(timeout=300) == 0
    full = np.arange(12.0).reshape(3, 4)
    for rank, (_, out) in enumerate(procs):
        local, first_half = np.load(out)
        np.testing.assert_array_equal(local, full[:, 2 * rank : 2 * rank + 2])
        np.testing.assert_array_equal(first_half, full[:, :2])


# ---------------------------------------------------------------------- mixed_precision names
def test_mixed_precision_dtype_policy_names_as_keras():
    def program(lib):
        try:
            lib.mixed_precision.set_dtype_policy("mixed_bfloat16")
            return lib.mixed_precision.dtype_policy().name, lib.layers.Dense(2).dtype_policy.name
        finally:
            lib.mixed_precision.set_dtype_policy("float32")

    ours, theirs = both(program)
    assert ours == theirs == ("mixed_bfloat16", "mixed_bfloat16")
    assert plait.FloatDTypePolicy("float32").name == "float32"
    assert plait.version() == plait.__version__

"""``import plait`` stays light: torch.compile's machinery loads on first use, not at import."""

import os
import subprocess
import sys
import textwrap

HEAVY = ("torch._dynamo", "torch._inductor", "torch.onnx", "matplotlib", "transformers", "onnx")


def modules_after(code):
    """The heavy modules in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    program = textwrap.dedent(code) + f"\nimport sys\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    result = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_import_plait_loads_no_compiler_or_optional_packages():
    assert modules_after("import plait") == "[]"
    assert "torch._dynamo" in modules_after("import plait, torch._dynamo")  # the check sees it


def test_a_short_default_fit_and_predict_load_no_compiler():
    code = """
        import numpy as np
        import plait

        model = plait.Sequential([plait.layers.Dense(4, activation="relu"), plait.layers.Dense(1)])
        model.compile("adam", "mse")  # jit_compile="auto"
        model.fit(np.ones((64, 3), "float32"), np.ones((64, 1), "float32"), epochs=2, verbose=0)
        model.predict(np.ones((4, 3), "float32"), verbose=0)
    """
    assert modules_after(code) == "[]"

"""Tests for nnbook.compiling: a compiled training step against the eager one."""

import pytest
import torch

from nnbook.compiling import CompileComparison, compare_compiled, lacks_compiler
from nnbook.models import MLP

# Importing inductor imports torch.utils.mkldnn, which uses a deprecated torch.jit decorator.
INDUCTOR_IMPORT = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script_method` is deprecated:DeprecationWarning"
)


@pytest.fixture
def batch():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(50, 2, generator=gen), torch.randint(0, 3, (50,), generator=gen)


def test_lacks_compiler_finds_the_wrapped_error():
    """Inductor's missing-compiler error is recognised through the errors that wrap it."""
    from torch._inductor.exc import InvalidCxxCompiler

    inner = InvalidCxxCompiler()
    outer = RuntimeError("backend failed")
    outer.__cause__ = inner
    assert lacks_compiler(outer)
    assert not lacks_compiler(RuntimeError("something else"))


@pytest.mark.slow
@INDUCTOR_IMPORT
def test_aot_eager_step_matches_eager(batch):
    """With aot_eager, compiled and eager steps from the same weights agree to float32."""
    torch.manual_seed(0)
    result = compare_compiled(MLP(2, 8, 3), *batch, backend="aot_eager", steps=5, repeats=2)
    assert isinstance(result, CompileComparison)
    assert result.backend == "aot_eager" and result.fallback_reason is None
    assert result.max_weight_gap < 1e-5
    assert result.first_call_seconds > 0 and result.speedup > 0


@pytest.mark.slow
@INDUCTOR_IMPORT
def test_without_a_compiler_inductor_falls_back_and_says_so(batch, monkeypatch, tmp_path):
    """No working C++ compiler: the comparison runs with aot_eager and names the reason."""
    import torch._inductor.config as inductor_config

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path))  # nothing cached to reuse
    torch.manual_seed(0)
    with inductor_config.patch({"cpp.cxx": (None, "/nonexistent/g++"), "fx_graph_cache": False}):
        result = compare_compiled(MLP(2, 8, 3), *batch, steps=2, repeats=1)
    assert result.backend == "aot_eager"
    assert "no working C++ compiler" in result.fallback_reason
    assert result.max_weight_gap < 1e-5


@pytest.mark.parametrize("kwargs", [{"steps": 0}, {"repeats": 0}])
def test_bad_counts_are_refused(batch, kwargs):
    """Zero steps or repeats are refused before anything is compiled."""
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        compare_compiled(MLP(2, 8, 3), *batch, **kwargs)

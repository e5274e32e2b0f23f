"""Claims chapter 8 makes about PyTorch: what does and does not change the last bits."""

import torch


def test_argmax_over_a_strided_dim_equals_argmax_after_a_contiguous_copy():
    """An argmax compares values and does no arithmetic: any memory layout gives the same classes.

    Ties included: both pick the first of equal maxima.
    """
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 3, 1000, generator=gen)
    logits[:, 2, ::7] = logits[:, 0, ::7]  # exact ties between classes 0 and 2
    strided = logits.argmax(dim=1)
    contiguous = logits.transpose(1, 2).contiguous().argmax(dim=2)
    assert torch.equal(strided, contiguous)


def test_float32_sums_depend_on_the_order_of_the_additions():
    """The same numbers added in another grouping can differ in the last bits (chapter 8)."""
    a, b, c = torch.tensor(1e8), torch.tensor(-1e8), torch.tensor(1.0)
    assert ((a + b) + c).item() == 1.0
    assert (a + (b + c)).item() == 0.0  # b + c rounds back to -1e8 in float32


def test_a_new_input_shape_compiles_again():
    """torch.compile checks guards on each call: same shapes reuse the code, a new one compiles."""
    import torch._dynamo

    compiled = []

    def backend(graph, example_inputs):
        compiled.append([tuple(x.shape) for x in example_inputs if isinstance(x, torch.Tensor)])
        return graph.forward

    torch._dynamo.reset()
    f = torch.compile(lambda x: torch.tanh(x) * 2, backend=backend)
    f(torch.ones(50, 2))
    f(torch.ones(50, 2))
    assert len(compiled) == 1
    f(torch.ones(30, 2))
    assert len(compiled) == 2
    torch._dynamo.reset()


def test_a_compiled_loss_has_the_eager_gradients():
    """Compiling the forward pass and loss also gives the backward pass (AOTAutograd)."""
    import torch._dynamo
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 3))
    X, y = torch.randn(50, 2), torch.randint(0, 3, (50,))
    loss_fn = nn.CrossEntropyLoss()
    torch._dynamo.reset()
    compiled = torch.compile(lambda X, y: loss_fn(model(X), y), backend="aot_eager")
    compiled(X, y).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    loss_fn(model(X), y).backward()
    for compiled_grad, p in zip(grads, model.parameters(), strict=True):
        torch.testing.assert_close(compiled_grad, p.grad)
    torch._dynamo.reset()


def test_inductor_caches_compiled_graphs_on_disk_by_default():
    """Inductor's FX graph cache, kept on disk, is on unless switched off."""
    import torch._inductor.config as inductor_config

    assert inductor_config.fx_graph_cache is True


def test_reduce_overhead_mode_uses_cuda_graphs():
    """torch.compile(mode="reduce-overhead") turns on CUDA graphs."""
    import torch._inductor

    assert torch._inductor.list_mode_options("reduce-overhead")["triton.cudagraphs"] is True


def test_distributed_sampler_gives_each_process_its_share():
    """DistributedSampler splits the indices into disjoint shares, one per process."""
    from torch.utils.data import DistributedSampler, TensorDataset

    data = TensorDataset(torch.arange(10))
    shares = [
        list(DistributedSampler(data, num_replicas=2, rank=r, shuffle=False)) for r in range(2)
    ]
    assert sorted(shares[0] + shares[1]) == list(range(10))
    assert not set(shares[0]) & set(shares[1])


def test_default_thread_count_is_at_most_the_core_count():
    """A fresh process starts with no more intra-op threads than the machine has cores."""
    import os
    import subprocess
    import sys

    code = "import torch; print(torch.get_num_threads())"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert 1 <= int(out.stdout) <= (os.cpu_count() or 1)


def test_the_mean_of_equal_halves_means_is_the_mean_up_to_rounding():
    """What DDP's averaged gradients rest on: equal in float64 to rounding, close in float32."""
    g = torch.randn(100, 51, generator=torch.Generator().manual_seed(0))
    for dtype, tol in [(torch.float32, 1e-6), (torch.float64, 1e-14)]:
        x = g.to(dtype)
        halves = (x[:50].mean(0) + x[50:].mean(0)) / 2
        torch.testing.assert_close(halves, x.mean(0), rtol=0, atol=tol)

"""Claims chapter 1 makes about PyTorch itself: dtypes, broadcasting, views, autograd, futures."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch


def same_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    """The chapter's test: do two tensors use the same block of memory?"""
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


# ---------------------------------------------------------------- tensors


def test_python_floats_become_float32_and_ints_int64():
    """torch.tensor infers float32 (the default dtype) from floats and int64 from ints."""
    assert torch.get_default_dtype() == torch.float32
    assert torch.tensor([[0.5, 1.0]]).dtype == torch.float32
    assert torch.tensor([0, 2, 1]).dtype == torch.int64


def test_to_another_dtype_makes_a_new_tensor():
    """Converting the dtype copies; converting to the same dtype returns the tensor itself."""
    x = torch.ones(3)
    assert x.to(torch.float64).dtype == torch.float64
    assert not same_memory(x.to(torch.float64), x)
    assert x.to(torch.float32) is x


def test_to_the_device_a_tensor_is_on_returns_it_unchanged():
    """tensor.to(device) returns the tensor itself if it is already on that device."""
    x = torch.zeros(2, 3)
    assert x.to("cpu") is x


def test_boolean_mask_selects_rows():
    """A boolean mask over the first dimension picks the rows where it is true."""
    points = torch.tensor([[0.5, 1.0], [2.0, -1.0], [3.0, 0.5], [1.5, 2.0]])
    labels = torch.tensor([0, 2, 1, 2])
    torch.testing.assert_close(points[labels == 2], points[[1, 3]])


@pytest.mark.parametrize(
    ("left", "right", "result"),
    [
        ((4, 2), (2,), (4, 2)),  # a missing leading dimension is added
        ((4, 1, 2), (1, 4, 2), (4, 4, 2)),  # size-1 dimensions stretch
        ((3,), (1,), (3,)),
    ],
)
def test_broadcasting_lines_shapes_up_from_the_right(left, right, result):
    """Shapes are aligned from the right; size-1 or missing dimensions stretch to match."""
    assert (torch.zeros(left) - torch.zeros(right)).shape == result
    assert torch.broadcast_shapes(left, right) == result


def test_broadcasting_refuses_mismatched_sizes():
    """Two dimensions of different sizes, neither 1, do not broadcast."""
    with pytest.raises(RuntimeError, match="must match"):
        torch.zeros(4, 2) - torch.zeros(3)


def test_pairwise_differences_by_broadcasting():
    """points[:, None] - points[None, :] holds every difference points[i] - points[j]."""
    points = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    diffs = points[:, None, :] - points[None, :, :]
    for i in range(5):
        for j in range(5):
            torch.testing.assert_close(diffs[i, j], points[i] - points[j], rtol=0, atol=0)


def test_reshaping_keeps_the_numbers():
    """unsqueeze adds a size-1 dimension; view(-1) infers the size; flatten gives 1-D."""
    logits = torch.tensor([2.0, -1.0, 0.5])
    assert logits.unsqueeze(0).shape == (1, 3)
    grid = torch.arange(12).reshape(3, 4)
    assert grid.view(2, -1).shape == (2, 6)
    assert grid.flatten().tolist() == list(range(12))


# ---------------------------------------------------------------- views and copies


def test_a_slice_is_a_view_and_writing_through_it_changes_the_original():
    """Basic indexing shares memory: a write through the row shows in the original."""
    grid = torch.arange(12).reshape(3, 4)
    row = grid[1]
    row[0] = 100
    assert grid[1, 0].item() == 100
    assert same_memory(row, grid)
    assert row.data_ptr() != grid.data_ptr()  # the same memory, read from another offset


def test_clone_is_an_independent_copy():
    """clone() copies: writing into the clone leaves the original alone."""
    grid = torch.arange(12).reshape(3, 4)
    copy = grid[1].clone()
    copy[0] = -1
    assert grid[1, 0].item() == 4
    assert not same_memory(copy, grid)


def test_transpose_is_a_non_contiguous_view_that_view_refuses():
    """.T shares memory but is not contiguous; view() refuses it and names reshape."""
    grid = torch.arange(12).reshape(3, 4)
    grid_t = grid.T
    assert same_memory(grid_t, grid)
    assert not grid_t.is_contiguous()
    with pytest.raises(RuntimeError, match=r"view size is not compatible.*reshape"):
        grid_t.view(12)


def test_contiguous_and_reshape_copy_a_non_contiguous_tensor():
    """contiguous() and reshape() of a transpose copy it into row order."""
    grid = torch.arange(12).reshape(3, 4)
    grid_t = grid.T
    assert not same_memory(grid_t.contiguous(), grid)
    assert not same_memory(grid_t.reshape(12), grid)
    assert grid_t.reshape(12).tolist() == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]


def test_reshape_of_a_contiguous_tensor_is_a_view():
    """reshape() returns a view when the memory order allows it."""
    m = torch.arange(12.0).reshape(3, 4)
    assert same_memory(m.reshape(4, 3), m)
    assert same_memory(m.contiguous(), m) and m.contiguous() is m


@pytest.mark.parametrize(
    ("name", "index"),
    [("a list", lambda m: m[[0, 2]]), ("a mask", lambda m: m[m > 5])],
)
def test_advanced_indexing_copies(name, index):
    """Indexing with a list or a boolean mask returns a copy, not a view."""
    m = torch.arange(12.0).reshape(3, 4)
    picked = index(m)
    assert not same_memory(picked, m), name
    picked.fill_(-1)
    assert (m >= 0).all(), name


def test_a_column_slice_is_a_view():
    """m[:, 1] is a strided view of m."""
    m = torch.arange(12.0).reshape(3, 4)
    column = m[:, 1]
    assert same_memory(column, m)
    assert column.stride() == (4,)


# ---------------------------------------------------------------- autograd


def _line_loss():
    x = torch.tensor([0.0, 1.0, 2.0, 3.0])
    t = torch.tensor([1.0, 3.0, 4.0, 7.0])
    w = torch.tensor(0.5, requires_grad=True)
    b = torch.tensor(0.0, requires_grad=True)
    return x, t, w, b, ((w * x + b - t) ** 2).mean()


def test_operations_on_tracked_tensors_record_a_graph():
    """The loss requires gradients and its grad_fn is the last operation, a mean."""
    *_, loss = _line_loss()
    assert loss.requires_grad
    assert loss.grad_fn is not None and loss.grad_fn.name() == "MeanBackward0"
    assert loss.item() == 11.625


def test_backward_fills_grad_with_the_hand_derived_gradient():
    """dL/dw = 2 mean(r x) and dL/db = 2 mean(r) for the mean squared error of a line."""
    x, t, w, b, loss = _line_loss()
    assert w.grad is None and b.grad is None
    loss.backward()
    r = (w * x + b - t).detach()
    torch.testing.assert_close(w.grad, 2 * (r * x).mean())
    torch.testing.assert_close(b.grad, 2 * r.mean())
    assert (w.grad.item(), b.grad.item()) == (-12.5, -6.0)


def test_gradients_accumulate_over_two_backward_passes_until_zeroed():
    """A second backward adds the same gradient again (exactly twice); zero_() resets it."""
    x, t, w, b, loss = _line_loss()
    loss.backward()
    once = (w.grad.clone(), b.grad.clone())
    ((w * x + b - t) ** 2).mean().backward()
    assert torch.equal(w.grad, 2 * once[0]) and torch.equal(b.grad, 2 * once[1])
    w.grad.zero_()
    assert w.grad.item() == 0.0


def test_a_tensor_used_twice_gets_the_sum_of_its_gradients():
    """Accumulation is what sums the gradient of a tensor used in several places."""
    w = torch.tensor(2.0, requires_grad=True)
    (w * 3.0 + w * 5.0).backward()
    assert w.grad.item() == 8.0


def test_backward_frees_the_graph():
    """A second backward through the same graph fails: the loss must be computed again."""
    *_, loss = _line_loss()
    loss.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


def test_no_grad_records_no_graph():
    """Under torch.no_grad() results do not require gradients and have no grad_fn."""
    x, _, w, b, _ = _line_loss()
    with torch.no_grad():
        y = w * x + b
    assert not y.requires_grad and y.grad_fn is None
    assert (w * x + b).grad_fn is not None  # outside, the same expression is recorded


def test_in_place_update_of_a_leaf_needs_no_grad():
    """Changing a leaf that requires gradients in place is refused outside no_grad."""
    w = torch.tensor(0.5, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        w -= 0.1
    with torch.no_grad():
        w -= 0.1
    assert w.requires_grad and w.grad_fn is None
    torch.testing.assert_close(w, torch.tensor(0.4))


def test_one_gradient_step_lowers_the_line_loss():
    """The chapter's step of 0.05 against the gradient takes the loss from 11.625 to 4.03."""
    x, t, w, b, loss = _line_loss()
    loss.backward()
    with torch.no_grad():
        w -= 0.05 * w.grad
        b -= 0.05 * b.grad
        new_loss = ((w * x + b - t) ** 2).mean()
    torch.testing.assert_close(new_loss, torch.tensor(4.0322), rtol=0, atol=1e-4)


@pytest.mark.parametrize(("x", "t"), [(1.5, 1.0), (-0.5, 0.0), (2.0, 0.0), (0.0, 1.0)])
def test_logistic_unit_gradient_is_error_times_input(x, t):
    """For p = sigmoid(wx + b) and binary cross-entropy, dL/dw = (p - t) x, dL/db = p - t."""
    w = torch.tensor(0.8, requires_grad=True)
    b = torch.tensor(-0.3, requires_grad=True)
    p = torch.sigmoid(w * x + b)
    loss = -(t * torch.log(p) + (1 - t) * torch.log(1 - p))
    grad_w, grad_b = torch.autograd.grad(loss, [w, b])
    torch.testing.assert_close(grad_w, (p - t).detach() * x)
    torch.testing.assert_close(grad_b, (p - t).detach())


# ---------------------------------------------------------------- asynchronous work


def test_submit_returns_before_the_work_is_done_and_result_waits():
    """pool.submit queues the work and returns a future at once; result() waits for it."""
    release = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(lambda: release.wait(10) and torch.ones(2).sum().item())
        assert not future.done()  # the work is still blocked: submit did not wait for it
        release.set()
        assert future.result(timeout=10) == 2.0
        assert future.done()


def test_submit_passes_arguments_and_returns_the_tensor():
    """pool.submit(torch.matmul, a, a).result() is the product itself."""
    a = torch.randn(8, 8, generator=torch.Generator().manual_seed(0))
    with ThreadPoolExecutor(max_workers=1) as pool:
        product = pool.submit(torch.matmul, a, a).result()
    torch.testing.assert_close(product, a @ a, rtol=0, atol=0)


# ---------------------------------------------------------------- generators


def test_an_explicit_generator_ignores_global_draws_and_reseeding():
    """Global draws and torch.manual_seed leave an explicit generator's stream alone."""
    g = torch.Generator().manual_seed(3)
    first = torch.rand(2, generator=g)
    torch.rand(100)
    torch.manual_seed(0)
    second = torch.rand(2, generator=g)
    g.manual_seed(3)
    torch.testing.assert_close(torch.rand(4, generator=g), torch.cat([first, second]))

"""Every claim chapter 4 makes about PyTorch's softmax, one-hot, NLL and cross-entropy."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


@pytest.fixture
def logits_and_targets():
    """A batch of eight moderate logits over three classes, and their labels."""
    gen = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(8, 3, generator=gen)  # (N, C)
    y = torch.randint(0, 3, (8,), generator=gen)  # (N,)
    return logits, y


def test_unshuffled_loader_yields_the_first_rows():
    """DataLoader(shuffle=False) gives the first batch_size rows, in order, as (B, 2) and (B,)."""
    X = torch.arange(40.0).reshape(20, 2)
    y = torch.arange(20) % 3
    X_batch, y_batch = next(iter(DataLoader(TensorDataset(X, y), batch_size=5, shuffle=False)))
    assert torch.equal(X_batch, X[:5]) and torch.equal(y_batch, y[:5])
    assert X_batch.shape == (5, 2) and y_batch.shape == (5,)


def test_one_hot_shape_and_content():
    """F.one_hot turns (N,) labels into (N, C) rows with a single 1 at the label."""
    y = torch.tensor([2, 0, 1, 1])
    onehot = F.one_hot(y, num_classes=3)
    assert onehot.shape == (4, 3) and onehot.dtype == torch.int64
    assert torch.equal(onehot.argmax(dim=1), y)
    assert torch.equal(onehot.sum(dim=1), torch.ones(4, dtype=torch.int64))
    assert F.one_hot(torch.tensor([0, 1])).shape == (2, 2)  # C inferred from the largest label


def test_softmax_rows_sum_to_one(logits_and_targets):
    """softmax over dim=1 turns each row into a probability distribution."""
    logits, _ = logits_and_targets
    probs = torch.softmax(logits, dim=1)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(8))
    assert (probs > 0).all()


def test_argmax_of_probabilities_equals_argmax_of_logits(logits_and_targets):
    """softmax is monotone within a row, so it does not change the predicted class."""
    logits, _ = logits_and_targets
    assert torch.equal(torch.softmax(logits, dim=1).argmax(dim=1), logits.argmax(dim=1))


def test_log_softmax_equals_log_of_softmax(logits_and_targets):
    """For moderate logits, log_softmax is the log of softmax."""
    logits, _ = logits_and_targets
    torch.testing.assert_close(
        torch.log_softmax(logits, dim=1), torch.log(torch.softmax(logits, dim=1))
    )


def test_nll_by_one_hot_by_gather_and_by_nllloss_equal_cross_entropy(logits_and_targets):
    """Unreduced cross-entropy is -log_softmax at the label, however it is picked out."""
    logits, y = logits_and_targets
    log_probs = torch.log_softmax(logits, dim=1)  # (N, C)
    by_mask = -log_probs[F.one_hot(y, num_classes=3) == 1]
    by_sum = -(F.one_hot(y, num_classes=3) * log_probs).sum(dim=1)
    by_gather = -log_probs.gather(1, y.unsqueeze(1)).squeeze(1)
    by_nll = nn.NLLLoss(reduction="none")(log_probs, y)
    cross_entropy = nn.CrossEntropyLoss(reduction="none")(logits, y)
    for value in (by_mask, by_sum, by_gather, by_nll):
        torch.testing.assert_close(value, cross_entropy)


def test_reductions_mean_and_sum(logits_and_targets):
    """reduction='mean' is the unreduced losses' mean, 'sum' their sum, so sum = N * mean."""
    logits, y = logits_and_targets
    per_sample = F.cross_entropy(logits, y, reduction="none")
    mean = F.cross_entropy(logits, y, reduction="mean")
    total = F.cross_entropy(logits, y, reduction="sum")
    torch.testing.assert_close(mean, per_sample.mean())
    torch.testing.assert_close(total, per_sample.sum())
    torch.testing.assert_close(total, len(y) * mean)
    assert F.cross_entropy(logits, y).item() == mean.item()  # the default is the mean


def test_extreme_logits_break_log_of_softmax_but_not_the_fused_loss():
    """With logits [0, 200, -200] in float32, log(softmax) gives -inf; log_softmax stays exact."""
    logits = torch.tensor([[0.0, 200.0, -200.0]])
    y = torch.tensor([2])
    naive = torch.log(torch.softmax(logits, dim=1))
    assert torch.isinf(naive[0, 0]) and torch.isinf(naive[0, 2])
    assert math.isnan((-(F.one_hot(y, 3) * naive).sum()).item())  # 0 * -inf
    exp = torch.exp(logits)
    assert math.isnan((exp / exp.sum(dim=1, keepdim=True))[0, 1].item())  # inf / inf
    analytic = torch.tensor([[-200.0, 0.0, -400.0]])  # z - logsumexp(z), logsumexp = 200 + 1e-87
    torch.testing.assert_close(torch.log_softmax(logits, dim=1), analytic)
    assert F.cross_entropy(logits, y).item() == 400.0
    assert F.nll_loss(torch.log_softmax(logits, dim=1), y).item() == 400.0


def test_softmax_over_the_wrong_dim_raises_nothing(logits_and_targets):
    """softmax over dim=0 silently normalises the columns instead of the rows."""
    logits, _ = logits_and_targets
    wrong = torch.softmax(logits, dim=0)
    torch.testing.assert_close(wrong.sum(dim=0), torch.ones(3))
    assert not torch.allclose(wrong.sum(dim=1), torch.ones(8))


def test_cross_entropy_target_forms(logits_and_targets):
    """Class indices (N,) or float one-hot rows (N, C) give the same loss; other forms raise."""
    logits, y = logits_and_targets
    by_index = F.cross_entropy(logits, y, reduction="none")
    by_float_rows = F.cross_entropy(logits, F.one_hot(y, 3).float(), reduction="none")
    torch.testing.assert_close(by_float_rows, by_index)
    for bad in (y.unsqueeze(1), y.float(), F.one_hot(y, 3)):  # column, floats, int one-hot
        with pytest.raises(RuntimeError):
            F.cross_entropy(logits, bad)


def test_gather_refuses_a_one_dimensional_index(logits_and_targets):
    """gather needs an index with as many dimensions as its input: (N, 1), not (N,)."""
    logits, y = logits_and_targets
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        logits.gather(1, y)


def test_nllloss_on_log_softmax_equals_cross_entropy_after_reduction(logits_and_targets):
    """With the default mean reduction, NLLLoss(log_softmax) is CrossEntropyLoss too."""
    logits, y = logits_and_targets
    torch.testing.assert_close(
        nn.NLLLoss()(torch.log_softmax(logits, dim=1), y), nn.CrossEntropyLoss()(logits, y)
    )


def test_cross_entropy_of_probabilities_applies_a_second_softmax():
    """Probabilities fed as logits are log-softmaxed again; the loss cannot go below log(1+2/e)."""
    probs = torch.tensor([[1.0, 0.0, 0.0], [0.2, 0.5, 0.3]])  # a perfect and a vague prediction
    y = torch.tensor([0, 1])
    loss = F.cross_entropy(probs, y, reduction="none")
    torch.testing.assert_close(loss, F.nll_loss(torch.log_softmax(probs, 1), y, reduction="none"))
    torch.testing.assert_close(loss[0], torch.tensor(math.log(1 + 2 / math.e)))  # not 0
    assert (loss >= math.log(1 + 2 / math.e) - 1e-6).all()


def test_softmax_subtracts_the_maximum_so_it_does_not_overflow():
    """softmax of [0, 200, -200] in float32 is finite: [0, 1, 0], the tiny entries underflowed."""
    probs = torch.softmax(torch.tensor([[0.0, 200.0, -200.0]]), dim=1)
    assert torch.isfinite(probs).all()
    assert probs.tolist() == [[0.0, 1.0, 0.0]]


def test_fused_gradient_is_softmax_minus_one_hot_and_the_naive_one_is_nan():
    """d cross_entropy / d z = softmax(z) - one_hot(y); through log(softmax) it is all nan."""
    z = torch.tensor([[0.0, 200.0, -200.0]], requires_grad=True)
    y = torch.tensor([2])
    F.cross_entropy(z, y).backward()
    torch.testing.assert_close(z.grad, torch.softmax(z.detach(), 1) - F.one_hot(y, 3))
    z_naive = z.detach().clone().requires_grad_()
    (-torch.log(torch.softmax(z_naive, dim=1))[0, 2]).backward()
    assert torch.isnan(z_naive.grad).all()
    moderate = torch.tensor([[0.5, -1.0, 2.0]], requires_grad=True)
    F.cross_entropy(moderate, y).backward()
    torch.testing.assert_close(moderate.grad, torch.softmax(moderate.detach(), 1) - F.one_hot(y, 3))


@pytest.mark.parametrize(("dtype", "first_inf"), [(torch.float32, 104), (torch.float64, 746)])
def test_log_of_softmax_fails_where_exp_underflows(dtype, first_inf):
    """log(softmax([0, g]))[0] is -inf from the first g whose exp(-g) rounds to zero."""
    gaps = torch.tensor([first_inf - 1.0, float(first_inf)], dtype=dtype)
    pairs = torch.stack([torch.zeros_like(gaps), gaps], dim=1)
    naive = torch.log(torch.softmax(pairs, dim=1))[:, 0]
    assert torch.isfinite(naive[0]) and torch.isinf(naive[1])
    torch.testing.assert_close(
        torch.log_softmax(pairs, dim=1)[:, 0], -gaps - torch.log1p(torch.exp(-gaps))
    )


def test_summed_loss_gradient_is_n_times_the_mean_gradient():
    """reduction='sum' scales the gradient by N, like an N times larger learning rate."""
    gen = torch.Generator().manual_seed(1)
    X, y = torch.randn(20, 2, generator=gen), torch.randint(0, 3, (20,), generator=gen)
    layer = nn.Linear(2, 3)
    grads = {}
    for reduction in ("mean", "sum"):
        layer.zero_grad()
        nn.CrossEntropyLoss(reduction=reduction)(layer(X), y).backward()
        grads[reduction] = layer.weight.grad.clone()
    torch.testing.assert_close(grads["sum"], 20 * grads["mean"])


def test_softmax_of_one_logit_is_a_sigmoid_and_keeps_the_others_ratio():
    """With the other logits fixed, p_k = sigmoid(z_k - logsumexp(others)); p_1 / p_2 is fixed."""
    others = torch.tensor([0.3, -0.8])
    z0 = torch.linspace(-6, 6, 25)
    rows = torch.cat([z0.unsqueeze(1), others.expand(25, 2)], dim=1)  # (25, 3)
    probs = torch.softmax(rows, dim=1)
    torch.testing.assert_close(probs[:, 0], torch.sigmoid(z0 - torch.logsumexp(others, 0)))
    torch.testing.assert_close(
        probs[:, 1] / probs[:, 2], torch.exp(others[0] - others[1]).expand(25)
    )
    assert (probs[1:, 0] > probs[:-1, 0]).all()  # p_0 rises with z_0
    assert (probs[1:, 1:] < probs[:-1, 1:]).all()  # the others fall
    crossing = z0 > others[0]  # class 0 overtakes class 1 exactly where z_0 passes z_1
    assert torch.equal(probs[:, 0] > probs[:, 1], crossing)


def test_softmax_ignores_a_shift_of_all_logits(logits_and_targets):
    """Adding the same number to every logit of a row leaves the softmax unchanged."""
    logits, _ = logits_and_targets
    torch.testing.assert_close(torch.softmax(logits + 3.0, dim=1), torch.softmax(logits, dim=1))


def test_equal_logits_cost_log_c():
    """A blind guess (equal logits, every class at 1/C) has cross-entropy log C."""
    for n_classes in (2, 3, 10):
        logits = torch.zeros(4, n_classes)
        y = torch.arange(4) % n_classes
        torch.testing.assert_close(F.cross_entropy(logits, y), torch.tensor(math.log(n_classes)))


@pytest.mark.parametrize(("reduction", "scale"), [("mean", 1 / 8), ("sum", 1.0)])
def test_cross_entropy_gradient_is_softmax_minus_one_hot(logits_and_targets, reduction, scale):
    """d loss / d logits = (softmax - one_hot) / N with the mean, without the 1/N with the sum."""
    logits, y = logits_and_targets
    z = logits.clone().requires_grad_()
    F.cross_entropy(z, y, reduction=reduction).backward()
    expected = (torch.softmax(logits, dim=1) - F.one_hot(y, 3)) * scale
    torch.testing.assert_close(z.grad, expected)
    torch.testing.assert_close(z.grad.sum(dim=1), torch.zeros(8))  # every row sums to zero
    signs = torch.where(F.one_hot(y, 3) == 1, -1.0, 1.0)  # the true class < 0, the others > 0
    assert (z.grad * signs > 0).all()
    assert (z.grad.abs() < scale).all()  # never above 1 per sample


def test_cross_entropy_grows_at_most_linearly_in_the_logits():
    """Lowering the true class's logit by t raises the loss by at most t: slopes in [-1, 0]."""
    t = torch.linspace(-50, 50, 101)
    rows = torch.stack([t, torch.zeros(101), torch.zeros(101)], dim=1)  # the label's logit is t
    losses = F.cross_entropy(rows, torch.zeros(101, dtype=torch.long), reduction="none")
    slopes = losses.diff() / t.diff()
    assert (slopes <= 0).all() and (slopes >= -1 - 1e-5).all()
    torch.testing.assert_close(losses[0], torch.tensor(50 + math.log(2)))  # -t + log(2) far out

"""Every claim chapter 6 makes about PyTorch: batched products, optimizers, initialisation, tanh."""

import math

import pytest
import torch
from torch import nn


def stacked_and_separate(make_optimizer, steps=3):
    """Two members trained as stacked tensors with one optimizer, and the same two separately."""
    gen = torch.Generator().manual_seed(0)
    W0 = torch.randn(2, 3, 2, generator=gen)  # (K, out, in)
    X = torch.randn(2, 5, 2, generator=gen)  # (K, N, in)
    target = torch.randn(2, 5, 3, generator=gen)
    stacked = nn.Parameter(W0.clone())
    separate = [nn.Parameter(W0[k].clone()) for k in range(2)]
    opt_stacked = make_optimizer([stacked])
    opt_separate = [make_optimizer([p]) for p in separate]
    for _ in range(steps):
        opt_stacked.zero_grad()
        ((X @ stacked.transpose(1, 2) - target) ** 2).sum().backward()
        opt_stacked.step()
        for k, (p, opt) in enumerate(zip(separate, opt_separate, strict=True)):
            opt.zero_grad()
            ((X[k] @ p.T - target[k]) ** 2).sum().backward()
            opt.step()
    return stacked.detach(), torch.stack([p.detach() for p in separate])


def test_baddbmm_is_bias_plus_batched_matmul():
    """baddbmm(b, h, W^T) computes every member's linear layer b + h W^T at once."""
    gen = torch.Generator().manual_seed(0)
    h, W, b = torch.randn(4, 5, 2, generator=gen), torch.randn(4, 3, 2), torch.randn(4, 3)
    out = torch.baddbmm(b.unsqueeze(1), h, W.transpose(1, 2))  # (K, N, out)
    for k in range(4):
        torch.testing.assert_close(out[k], nn.functional.linear(h[k], W[k], b[k]))


def test_gradient_of_summed_member_losses_is_each_members_own_gradient():
    """Back-propagating the sum of the members' losses gives each slice its own loss's gradient."""
    gen = torch.Generator().manual_seed(0)
    W = torch.randn(3, 4, 2, generator=gen, requires_grad=True)
    X = torch.randn(3, 6, 2, generator=gen)
    losses = (X @ W.transpose(1, 2)).tanh().pow(2).sum(dim=(1, 2))  # (K,)
    losses.sum().backward()
    for k in range(3):
        Wk = W[k].detach().clone().requires_grad_(True)
        (X[k] @ Wk.T).tanh().pow(2).sum().backward()
        torch.testing.assert_close(W.grad[k], Wk.grad)


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda p: torch.optim.SGD(p, lr=0.01),
        lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
        lambda p: torch.optim.Adam(p, lr=0.01),
        lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1),
    ],
    ids=["sgd", "momentum", "adam", "adamw"],
)
def test_elementwise_optimizers_update_stacked_members_as_separate_ones(make_optimizer):
    """SGD, momentum, Adam and AdamW make the same update on a stacked tensor as on each slice."""
    stacked, separate = stacked_and_separate(make_optimizer)
    torch.testing.assert_close(stacked, separate)


def test_gradient_norm_clipping_mixes_the_members():
    """Clipping the stacked gradient by its norm makes one member's step depend on the other's."""

    def clipped_step(params):
        opt = torch.optim.SGD(params, lr=0.1)
        original = opt.step

        def step():
            nn.utils.clip_grad_norm_(params, max_norm=1.0)
            original()

        opt.step = step
        return opt

    stacked, separate = stacked_and_separate(clipped_step, steps=1)
    assert not torch.allclose(stacked, separate)


def test_zero_padded_tanh_unit_outputs_zero_and_gets_no_gradient():
    """A hidden unit with all-zero weights outputs tanh(0) = 0 and its weights get zero gradient."""
    gen = torch.Generator().manual_seed(0)
    W1 = torch.randn(3, 2, generator=gen)
    W1[2] = 0  # the padding unit
    b1 = torch.zeros(3)
    W2 = torch.randn(3, 3, generator=gen)
    W2[:, 2] = 0
    params = [p.clone().requires_grad_(True) for p in (W1, b1, W2)]
    h = torch.tanh(torch.randn(7, 2, generator=gen) @ params[0].T + params[1])
    assert torch.equal(h[:, 2], torch.zeros(7))
    (h @ params[2].T).pow(2).sum().backward()
    assert (params[0].grad[2] == 0).all() and params[1].grad[2] == 0
    assert (params[2].grad[:, 2] == 0).all()


def test_momentum_moves_ten_times_as_far_in_steady_state():
    """With a constant gradient, SGD with momentum 0.9 settles at 1/(1 - 0.9) = 10 plain steps."""
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.01, momentum=0.9)
    previous = 0.0
    for _ in range(300):
        opt.zero_grad()
        p.sum().backward()  # gradient 1
        opt.step()
        step, previous = previous - p.item(), p.item()
    assert step == pytest.approx(10 * 0.01, rel=1e-4)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_adam_first_step_is_the_learning_rate_whatever_the_gradient_scale(scale):
    """Adam's step is about lr whatever the size of the gradient, so its lr is a step size."""
    p = nn.Parameter(torch.zeros(3))
    opt = torch.optim.Adam([p], lr=0.01)
    (scale * torch.tensor([1.0, -2.0, 3.0]) * p).sum().backward()
    opt.step()
    torch.testing.assert_close(p.detach().abs(), torch.full((3,), 0.01), rtol=1e-4, atol=0)


def test_linear_initialisation_is_uniform_within_one_over_sqrt_fan_in():
    """nn.Linear draws its weights and biases uniformly in +-1/sqrt(fan_in), +-0.71 for 2 inputs."""
    torch.manual_seed(0)
    layer = nn.Linear(2, 20000)
    bound = 1 / math.sqrt(2)
    for values in (layer.weight, layer.bias):
        assert values.abs().max() <= bound
        assert values.abs().max() > 0.99 * bound  # the whole range is used
        assert values.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)


def test_tanh_slope_beyond_two_is_below_eight_hundredths():
    """The slope of tanh, 1 - tanh(z)^2, is below 0.08 wherever |z| > 2."""
    z = torch.tensor([2.0, -2.0, 3.0], requires_grad=True)
    torch.tanh(z).sum().backward()
    assert (z.grad < 0.08).all() and z.grad[0] == pytest.approx(1 - math.tanh(2) ** 2)


def test_a_first_layer_weights_gradient_is_proportional_to_its_input():
    """The gradient of a Linear weight is (gradient of the pre-activation) x (input)."""
    layer = nn.Linear(2, 1)
    x = torch.tensor([[16.0, 1.0]])
    z = layer(x)
    z.sum().backward()
    torch.testing.assert_close(layer.weight.grad, x)  # d z / d w = x
    assert layer.bias.grad.item() == 1.0  # the weight on x1 gets 16 times the bias's gradient

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

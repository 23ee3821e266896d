import io
import math

import pytest
import torch

from reid_plugins.solver.gradnorm import GradNorm, last_shared_layer, rescale_into_box

X1, X2 = torch.tensor([3.0, 4.0], dtype=torch.float64), torch.tensor([1.0, 0.0], dtype=torch.float64)


def toy_losses(W):
    """L_k = (W . x_k)^2, so grad_W L_k = 2 (W . x_k) x_k and ||grad_W L_k|| = 2 |W . x_k| ||x_k||."""
    return [(W @ X1) ** 2, (W @ X2) ** 2]


def shared(values):
    return torch.tensor(values, dtype=torch.float64, requires_grad=True)


def test_two_sgd_steps_match_hand_computation():
    gn = GradNorm(2, alpha=1.5, lr=0.025, log_reg=1e-3, optimizer="sgd")
    # step 1 at W = (1, 0): L = (9, 1), ||grad L|| = (2*3*5, 2*1*1) = (30, 2), w = (1, 1) -> G = (30, 2);
    # ratios equal -> targets = mean G = 16 for both; d/ds_k sum|G - T| = sign(G_k - T_k) G_k = (30, -2)
    # s = -0.025 * (30, -2) = (-0.75, 0.05); w = 2 exp(s) / sum exp(s) = (2, 2 e^0.8) / (1 + e^0.8)
    W = shared([1.0, 0.0])
    total = gn(toy_losses(W), W)
    assert total.item() == pytest.approx(10.0)                      # weights before the update: 9 + 1
    w1 = torch.tensor([2.0, 2.0 * math.exp(0.8)], dtype=torch.float64) / (1.0 + math.exp(0.8))
    assert torch.allclose(gn.weights, w1, atol=1e-12)
    assert gn.initial_losses.tolist() == [9.0, 1.0]
    # step 2 at W = (1, -0.5): L = (1, 1), ||grad L|| = (10, 2); ratios L/L0 = (1/9, 1) -> r = (0.2, 1.8)
    W = shared([1.0, -0.5])
    total = gn(toy_losses(W), W)
    assert total.item() == pytest.approx(float(w1.sum()))           # w . (1, 1)
    G = w1 * torch.tensor([10.0, 2.0], dtype=torch.float64)
    T = G.mean() * torch.tensor([0.2, 1.8], dtype=torch.float64) ** 1.5
    assert (G[0] > T[0]) and (G[1] < T[1])
    s = w1.log()
    s = s - 0.025 * (torch.stack([G[0], -G[1]]) + 2e-3 * s)          # + d/ds of 1e-3 * sum s^2
    expected = 2.0 * s.exp() / s.exp().sum()
    assert torch.allclose(gn.weights, expected, atol=1e-12)
    assert torch.allclose(gn.last_stats["targets"], T, atol=1e-12)
    assert torch.allclose(gn.last_stats["grad_norms"], G, atol=1e-12)


def test_first_task_reference_and_adam_first_step():
    # reference "first": Gref = G_1 = 30 -> T = (30, 30): task 1 is on target (sign 0), task 2 below -> grad (0, -2)
    gn = GradNorm(2, lr=0.025, reference="first", optimizer="sgd")
    W = shared([1.0, 0.0])
    gn(toy_losses(W), W)
    s = torch.tensor([0.0, 0.05], dtype=torch.float64)
    assert torch.allclose(gn.weights, 2.0 * s.exp() / s.exp().sum(), atol=1e-12)
    # Adam's first step moves every coordinate by lr * sign(gradient): s = (-0.025, +0.025)
    gn = GradNorm(2, lr=0.025)
    gn(toy_losses(W), W)
    s = torch.tensor([-0.025, 0.025], dtype=torch.float64)
    assert torch.allclose(gn.weights, 2.0 * s.exp() / s.exp().sum(), atol=1e-9)


def test_network_gradient_is_weighted_sum_and_untouched_by_the_update():
    gn = GradNorm(2, lr=0.5, optimizer="sgd")
    W = shared([1.0, 0.0])
    gn(toy_losses(W), W)                                            # move the weights away from 1
    w_before = gn.weights.clone()
    W = shared([0.5, 2.0])
    total = gn(toy_losses(W), W)
    assert W.grad is None                                           # GradNorm's own gradients never reach W
    total.backward()
    expected = w_before[0] * 2 * (W @ X1) * X1 + w_before[1] * 2 * (W @ X2) * X2
    assert torch.allclose(W.grad, expected.detach(), atol=1e-12)


def test_weights_always_sum_to_k_and_initial_losses_recorded_once():
    gn = GradNorm(3, lr=0.3, optimizer="sgd")
    g = torch.Generator().manual_seed(0)
    first = None
    for step in range(6):
        W = shared(torch.randn(2, generator=g).tolist())
        losses = toy_losses(W) + [((W - 1) ** 2).sum() + 0.1]
        if first is None:
            first = torch.stack([l.detach() for l in losses])
        gn(losses, W)
        assert gn.weights.sum().item() == pytest.approx(3.0, abs=1e-12)
        assert torch.equal(gn.initial_losses, first)
    assert gn.steps == 6


@pytest.mark.parametrize("weights, total, low, high, expected", [
    ([1.0, 1.0, 8.0], 3.0, 1e-4, 10.0, [0.3, 0.3, 2.4]),        # plain renormalisation
    ([1.0, 1.0, 8.0], 3.0, 1e-4, 2.0, [0.5, 0.5, 2.0]),         # 8 hits the top; the rest share 1
    ([1.0, 100.0, 100.0], 3.0, 0.4, 10.0, [0.4, 1.3, 1.3]),     # 1 hits the floor; the rest share 2.6
    ([1e-12, 5.0], 2.0, 0.5, 10.0, [0.5, 1.5]),
])
def test_rescale_into_box_hand_cases(weights, total, low, high, expected):
    out = rescale_into_box(torch.tensor(weights, dtype=torch.float64), total, low, high)
    assert torch.allclose(out, torch.tensor(expected, dtype=torch.float64), atol=1e-12)
    assert out.sum().item() == pytest.approx(total, abs=1e-12)


def test_clipping_inside_gradnorm():
    # a huge learning rate drives s to (-30, 2): w2 is clipped at max_weight and w1 takes the rest of K = 2
    gn = GradNorm(2, lr=1.0, max_weight=1.2, optimizer="sgd")
    W = shared([1.0, 0.0])
    gn(toy_losses(W), W)
    assert torch.allclose(gn.weights, torch.tensor([0.8, 1.2], dtype=torch.float64), atol=1e-12)
    gn = GradNorm(2, lr=1.0, min_weight=0.5, optimizer="sgd")
    gn(toy_losses(W), W)
    assert torch.allclose(gn.weights, torch.tensor([0.5, 1.5], dtype=torch.float64), atol=1e-12)


def run_steps(gn, W, steps, seed):
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(2, generator=g, dtype=torch.float64)
        losses = [(W @ X1 - x[0]) ** 2 + 0.1, (W @ X2 - x[1]) ** 2 + 0.1]
        total = gn(losses, W)
        (grad,) = torch.autograd.grad(total, W)
        with torch.no_grad():
            W -= 0.01 * grad


def test_state_dict_round_trip_resumes_identically():
    a, b = GradNorm(2), GradNorm(2)
    W = shared([0.3, -0.2])
    run_steps(a, W, 3, seed=1)
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    buffer.seek(0)
    b.load_state_dict(torch.load(buffer, weights_only=True))
    assert torch.equal(a.weights, b.weights) and torch.equal(a.initial_losses, b.initial_losses)
    Wa, Wb = W.detach().clone().requires_grad_(), W.detach().clone().requires_grad_()
    run_steps(a, Wa, 2, seed=2)
    run_steps(b, Wb, 2, seed=2)                                     # same Adam moments -> same trajectory
    assert torch.equal(a.weights, b.weights) and a.steps == b.steps == 5
    with pytest.raises(ValueError, match="checkpoint has 2 tasks"):
        GradNorm(3).load_state_dict(a.state_dict())


def test_faster_training_task_loses_weight():
    # L1 and L2 start equal, but the network optimizer moves W[0] 20x faster than W[1]: task 1 trains faster,
    # so GradNorm lowers its weight and raises task 2's
    gn = GradNorm(2)
    W = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    for _ in range(60):
        total = gn([(W[0] - 1) ** 2, (W[1] - 1) ** 2], W)
        (grad,) = torch.autograd.grad(total, W)
        with torch.no_grad():
            W -= 0.1 * torch.tensor([1.0, 0.05], dtype=torch.float64) * grad
    w = gn.weights
    assert w[0] < 0.5 < 1.5 < w[1]
    assert w.sum().item() == pytest.approx(2.0, abs=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(num_tasks=0), "num_tasks"),
    (dict(num_tasks=2, lr=0.0), "lr"),
    (dict(num_tasks=2, alpha=-1.0), "alpha"),
    (dict(num_tasks=2, min_weight=2.0), "min_weight"),
    (dict(num_tasks=2, max_weight=0.5), "max_weight"),
    (dict(num_tasks=2, reference="median"), "reference"),
    (dict(num_tasks=2, optimizer="rmsprop"), "optimizer"),
    (dict(num_tasks=2, objective_weight=-1.0), "objective_weight"),
])
def test_constructor_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GradNorm(**kwargs)


def test_step_errors():
    gn = GradNorm(2)
    W = shared([1.0, 0.0])
    with pytest.raises(ValueError, match="expected 2 task losses, got 1"):
        gn(toy_losses(W)[:1], W)
    with pytest.raises(ValueError, match="task 1's loss does not require grad"):
        gn([toy_losses(W)[0], torch.tensor(1.0)], W)
    other = shared([1.0])
    with pytest.raises(ValueError, match="task 1's loss does not depend on the shared parameter"):
        gn([toy_losses(W)[0], (other * 2).sum()], W)
    with pytest.raises(ValueError, match=r"initial loss of task\(s\) \[1\]"):
        gn([toy_losses(W)[0], (W * 0).sum()], W)
    with pytest.raises(ValueError, match="requires grad"):
        gn(toy_losses(W), W.detach())


def test_eq5_target_without_exponent_and_eq6_weight_on_the_gradnorm_term():
    """BDAM eq. 5/6: Gref = G_1, target r_k Gref (alpha = 1), objective 1.5 * sum|G - T| + 1e-3 * sum s^2."""
    gn = GradNorm(2, alpha=1.0, reference="first", objective_weight=1.5, lr=0.025, log_reg=1e-3, optimizer="sgd")
    W = shared([1.0, 0.0])
    gn(toy_losses(W), W)                       # step 1: G = (30, 2), ratios equal, T = (30, 30): grad (0, -1.5 * 2)
    s1 = torch.tensor([0.0, 0.025 * 3.0], dtype=torch.float64)
    w1 = 2.0 * s1.exp() / s1.exp().sum()
    assert torch.allclose(gn.weights, w1, atol=1e-12)
    W = shared([1.0, -0.5])
    gn(toy_losses(W), W)                       # step 2: L/L0 = (1/9, 1) -> r = (0.2, 1.8); G = w1 * (10, 2)
    G = w1 * torch.tensor([10.0, 2.0], dtype=torch.float64)
    T = G[0] * torch.tensor([0.2, 1.8], dtype=torch.float64)        # no exponent
    assert torch.allclose(gn.last_stats["targets"], T, atol=1e-12)
    s = w1.log()
    sign = torch.sign(G - T)
    s = s - 0.025 * (1.5 * sign * G + 2e-3 * s)
    assert torch.allclose(gn.weights, 2.0 * s.exp() / s.exp().sum(), atol=1e-12)


def test_loss_scale_gives_the_same_update():
    """A mixed-precision scaler's factor: gradients of scale * L_k, divided by scale, are the same norms."""
    a, b = GradNorm(2, optimizer="sgd"), GradNorm(2, optimizer="sgd")
    for step in range(3):
        W = shared([1.0 - 0.3 * step, 0.2 * step])
        a(toy_losses(W), W)
        b(toy_losses(W), W, loss_scale=1024.0)
    assert torch.allclose(a.weights, b.weights, atol=1e-12)
    assert torch.allclose(a.last_stats["grad_norms"], b.last_stats["grad_norms"], atol=1e-12)


class _TwoHeads(torch.nn.Module):
    """trunk -> shared -> (head_a -> loss A, head_b -> loss B), plus a side branch only loss B uses."""

    def __init__(self):
        super().__init__()
        self.trunk = torch.nn.Linear(3, 4)
        self.shared = torch.nn.Linear(4, 4)
        self.side = torch.nn.Linear(3, 4)
        self.head_a = torch.nn.Linear(4, 1)
        self.head_b = torch.nn.Linear(4, 1)

    def forward(self, x):
        h = self.shared(torch.relu(self.trunk(x)))
        late = self.side(x)            # runs after `shared`, reaches loss B only
        return self.head_a(h).sum(), (self.head_b(h + late)).sum()


def test_last_shared_layer_is_the_last_layer_every_loss_reaches():
    torch.manual_seed(0)
    net = _TwoHeads()
    a, b = net(torch.randn(5, 3))
    name, params = last_shared_layer([a, b], net.named_parameters())
    assert name == "shared" and [id(p) for p in params] == [id(net.shared.weight), id(net.shared.bias)]
    # with loss B alone the last layer it reaches is its head
    assert last_shared_layer([b], net.named_parameters())[0] == "head_b"
    # frozen parameters are never chosen
    net.shared.requires_grad_(False)
    a, b = net(torch.randn(5, 3))
    assert last_shared_layer([a, b], net.named_parameters())[0] == "trunk"
    with pytest.raises(ValueError, match="no parameter is reached by all 2 losses"):
        last_shared_layer([net.head_a.weight.sum(), net.head_b.weight.sum()], net.named_parameters())

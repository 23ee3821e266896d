"""GradNorm task weighting (Chen et al. 2018; BDAM eqs. 5-6) as an optimizer-side component.

It owns the task weights and their optimizer and touches nothing else: per training step it is given the task
losses and the shared parameter(s) W, and returns the weighted total for the network's backward.

Design decisions:
- Weights are w_k = exp(s_k) (BDAM eq. 6); the log-weights s are the optimised variables (Adam, lr 0.025 by
  default), so the regulariser lambda * sum_k (log w_k)^2 is lambda * ||s||^2. After every update w is *projected*
  onto {sum_k w_k = K, min_weight <= w_k <= max_weight}: w <- clip(c w, min, max) with the unique scale c that makes
  the sum exactly K (ratios between unclipped weights are kept). Renormalising then clipping (or the reverse) in
  sequence would break one of the two constraints; the projection satisfies both exactly. s is then reset to log w.
- The GradNorm objective is sum_k |G_k - T_k| with G_k = ||grad_W (w_k L_k)|| = w_k ||grad_W L_k|| and the detached
  target T_k = Gref * r_k^alpha, r_k = (L_k / L_k(0)) / mean_j (L_j / L_j(0)). Because G_k is linear in w_k, only
  the norms ||grad_W L_k|| are needed (torch.autograd.grad without create_graph): the weights' gradient is exact and
  nothing second-order reaches the network; the network's W.grad is left untouched.
- alpha is the exponent of the target, T_k = Gref * r_k^alpha: standard GradNorm's asymmetry (Chen et al., 0.12-1.5).
  BDAM's eq. 5 has no exponent (alpha = 1) and writes its alpha (1.5) in front of L_GradNorm in eq. 6 instead: that
  is ``objective_weight``, the weight of sum_k |G_k - T_k| against the log-weight regulariser in the weights'
  objective objective_weight * L_GradNorm + log_reg * sum_k (log w_k)^2 (eq. 6 without the network's sum_k w_k L_k,
  which the weights' update does not see, as in the reference implementations).
- Gref, the reference gradient norm: BDAM's eq. 5 takes "the gradient norm of the first task", standard GradNorm the
  mean over tasks. ``reference="mean"`` (default, standard GradNorm) or ``"first"``.
- The shared layer W: ``last_shared_layer`` finds the last parameterised layer, in forward order, that every task's
  loss reaches, from the losses' autograd graphs.
- The returned total uses the weights from before this step's update (as in the reference implementations).
- Under torch.distributed the per-task gradient norms and losses are averaged over ranks before the update so every
  rank keeps identical weights (``sync_distributed``).
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

__all__ = ["GradNorm", "last_shared_layer", "rescale_into_box"]


def rescale_into_box(weights: torch.Tensor, total: float, low: float, high: float) -> torch.Tensor:
    """clip(c * weights, low, high) with the scale c > 0 for which the result sums to ``total``.

    weights must be positive and low * n <= total <= high * n. sum(clip(c w)) is continuous, piecewise linear and
    non-decreasing in c, with kinks at c = low / w_i and high / w_i: find the segment that crosses ``total`` and
    solve the linear equation on it."""
    w = weights.detach().double()
    n = w.numel()
    if n == 0 or not bool((w > 0).all()) or not bool(torch.isfinite(w).all()):
        raise ValueError(f"rescale_into_box: weights must be finite and > 0, got {weights.tolist()}")
    if not low * n <= total <= high * n:
        raise ValueError(f"rescale_into_box: total {total} is outside [n*low, n*high] = [{low * n}, {high * n}]")
    clipped_sum = lambda c: float((c * w).clamp(low, high).sum())  # noqa: E731
    kinks = torch.cat([low / w, high / w]).sort().values.tolist()
    prev = 0.0
    for kink in kinks:
        if clipped_sum(kink) >= total:
            break
        prev = kink
    mid = 0.5 * (prev + kink)
    free = (mid * w > low) & (mid * w < high)
    fixed = low * int((mid * w <= low).sum()) + high * int((mid * w >= high).sum())
    scale = (total - fixed) / float(w[free].sum()) if bool(free.any()) else kink
    return (scale * w).clamp(low, high).to(weights.dtype)


def _parameter_uses(loss: torch.Tensor) -> Dict[int, int]:
    """{id(parameter): the largest autograd sequence number of an operation that consumes it} over the graph of
    ``loss``. Sequence numbers grow in the order operations run in the forward pass."""
    uses: Dict[int, int] = {}
    if loss.grad_fn is None:
        return uses
    stack, seen = [loss.grad_fn], {loss.grad_fn}
    while stack:
        node = stack.pop()
        seq = node._sequence_nr()
        for nxt, _ in node.next_functions:
            if nxt is None:
                continue
            variable = getattr(nxt, "variable", None)   # AccumulateGrad: a leaf that requires grad
            if variable is not None:
                uses[id(variable)] = max(uses.get(id(variable), -1), seq)
            elif nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return uses


def last_shared_layer(losses: Sequence[torch.Tensor], named_parameters) -> Tuple[str, List[torch.Tensor]]:
    """The last parameterised layer, in forward order, that every loss reaches: (module name, its parameters that
    every loss reaches).

    Walks each loss's autograd graph to the parameters it depends on, intersects the sets, and takes the parameter
    consumed last in the forward pass (largest autograd sequence number of its consuming operation); the layer is
    that parameter's module. Walking the graphs costs no backward pass. Raises ValueError when no parameter is shared
    by all losses."""
    named = [(n, p) for n, p in named_parameters if p.requires_grad]
    if not losses:
        raise ValueError("last_shared_layer: no losses given")
    per_loss = [_parameter_uses(loss) for loss in losses]
    common = set(per_loss[0]).intersection(*per_loss[1:])
    shared = [(n, p) for n, p in named if id(p) in common]
    if not shared:
        raise ValueError(f"last_shared_layer: no parameter is reached by all {len(losses)} losses; choose the "
                         "shared parameters by name")
    last_use = lambda p: max(uses.get(id(p), -1) for uses in per_loss)  # noqa: E731
    name, _ = max(shared, key=lambda item: last_use(item[1]))
    module = name.rpartition(".")[0]
    return module, [p for n, p in shared if n.rpartition(".")[0] == module]


def _flat_grad_norm(loss: torch.Tensor, params: Sequence[torch.Tensor], task: int,
                    loss_scale: float = 1.0) -> torch.Tensor:
    grads = torch.autograd.grad(loss * loss_scale if loss_scale != 1.0 else loss, params, retain_graph=True,
                                allow_unused=True)
    if all(g is None for g in grads):
        raise ValueError(f"GradNorm: task {task}'s loss does not depend on the shared parameter(s) "
                         f"{[tuple(p.shape) for p in params]}; choose a layer every task's loss passes through")
    return torch.sqrt(sum(g.detach().double().pow(2).sum() for g in grads if g is not None)) / loss_scale


class GradNorm:
    """Learns K task weights by GradNorm. ``total = gradnorm(losses, shared_param)`` each step, then
    ``total.backward()`` and the network optimizer's step as usual (the weights are not network parameters).

    num_tasks: K. alpha: restoring-force exponent. lr: learning rate of the log-weights. min_weight/max_weight: clip
    range (must contain 1 so that weights summing to K fit). log_reg: lambda of lambda * sum_k (log w_k)^2.
    reference: "mean" | "first" (Gref, see the module doc). optimizer: "adam" | "sgd" (for the log-weights).
    objective_weight: the factor of L_GradNorm in the weights' objective (BDAM eq. 6's alpha).
    """

    def __init__(self, num_tasks: int, alpha: float = 1.5, lr: float = 0.025, min_weight: float = 1e-4,
                 max_weight: float = 10.0, log_reg: float = 1e-3, reference: str = "mean",
                 optimizer: str = "adam", sync_distributed: bool = True, objective_weight: float = 1.0):
        if isinstance(num_tasks, bool) or not isinstance(num_tasks, int) or num_tasks < 1:
            raise ValueError(f"GradNorm: num_tasks must be a positive int, got {num_tasks!r}")
        for name, value in (("alpha", alpha), ("log_reg", log_reg), ("objective_weight", objective_weight)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"GradNorm: {name} must be a finite number >= 0, got {value!r}")
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"GradNorm: lr must be a finite number > 0, got {lr!r}")
        if not 0 < min_weight <= 1 <= max_weight < math.inf:
            raise ValueError(f"GradNorm: need 0 < min_weight <= 1 <= max_weight (weights sum to num_tasks), got "
                             f"min_weight={min_weight!r}, max_weight={max_weight!r}")
        if reference not in ("mean", "first"):
            raise ValueError(f"GradNorm: reference must be 'mean' or 'first', got {reference!r}")
        if optimizer not in ("adam", "sgd"):
            raise ValueError(f"GradNorm: optimizer must be 'adam' or 'sgd', got {optimizer!r}")
        self.num_tasks, self.alpha, self.lr, self.log_reg = num_tasks, float(alpha), float(lr), float(log_reg)
        self.objective_weight = float(objective_weight)
        self.min_weight, self.max_weight = float(min_weight), float(max_weight)
        self.reference, self.sync_distributed = reference, sync_distributed
        # float64: the weights are K numbers, and the sum-to-K constraint then holds to ~1e-15
        self.log_weights = torch.zeros(num_tasks, dtype=torch.float64, requires_grad=True)
        opt_cls = torch.optim.Adam if optimizer == "adam" else torch.optim.SGD
        self.optimizer = opt_cls([self.log_weights], lr=self.lr)
        self.initial_losses: Optional[torch.Tensor] = None
        self.steps = 0
        self.last_stats: Dict[str, torch.Tensor] = {}

    # ------------------------------------------------------------------------------------------------ state
    @property
    def weights(self) -> torch.Tensor:
        """The current task weights w_k = exp(s_k) (detached, sum K)."""
        return self.log_weights.detach().exp()

    def state_dict(self) -> dict:
        return {"num_tasks": self.num_tasks, "log_weights": self.log_weights.detach().clone(),
                "initial_losses": None if self.initial_losses is None else self.initial_losses.clone(),
                "steps": self.steps, "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        missing = {"num_tasks", "log_weights", "initial_losses", "steps", "optimizer"} - set(state)
        if missing:
            raise ValueError(f"GradNorm.load_state_dict: missing keys {sorted(missing)}")
        if state["num_tasks"] != self.num_tasks:
            raise ValueError(f"GradNorm.load_state_dict: checkpoint has {state['num_tasks']} tasks, this GradNorm "
                             f"has {self.num_tasks}")
        with torch.no_grad():
            self.log_weights.copy_(state["log_weights"])
        losses = state["initial_losses"]
        self.initial_losses = None if losses is None else losses.to(self.log_weights.device).clone()
        self.steps = int(state["steps"])
        self.optimizer.load_state_dict(state["optimizer"])

    def _to(self, device: torch.device) -> None:
        """Follow the losses' device (the first call, or a resumed checkpoint loaded on CPU)."""
        if self.log_weights.device == device:
            return
        self.log_weights.data = self.log_weights.data.to(device)
        for slot in self.optimizer.state.values():
            for key, value in slot.items():
                if torch.is_tensor(value) and key != "step":
                    slot[key] = value.to(device)
        if self.initial_losses is not None:
            self.initial_losses = self.initial_losses.to(device)

    # ------------------------------------------------------------------------------------------------ step
    def _check_losses(self, losses) -> None:
        if len(losses) != self.num_tasks:
            raise ValueError(f"GradNorm: expected {self.num_tasks} task losses, got {len(losses)}")
        for k, loss in enumerate(losses):
            if not torch.is_tensor(loss) or loss.numel() != 1:
                raise ValueError(f"GradNorm: task {k}'s loss must be a scalar tensor, got "
                                 f"{tuple(loss.shape) if torch.is_tensor(loss) else type(loss).__name__}")
            if not loss.requires_grad:
                raise ValueError(f"GradNorm: task {k}'s loss does not require grad (is it detached?)")

    def weighted_sum(self, losses: Sequence[torch.Tensor]) -> torch.Tensor:
        """sum_k w_k L_k with the current weights, no update (e.g. for validation)."""
        w = self.weights.to(losses[0].device)
        return sum(w[k].to(loss.dtype) * loss.reshape(()) for k, loss in enumerate(losses))

    def _synced(self, values: torch.Tensor) -> torch.Tensor:
        dist = torch.distributed
        if self.sync_distributed and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            values = values.clone()
            dist.all_reduce(values)
            values /= dist.get_world_size()
        return values

    def __call__(self, losses: Sequence[torch.Tensor],
                 shared_params: Union[torch.Tensor, Sequence[torch.Tensor]], loss_scale: float = 1.0) -> torch.Tensor:
        """Weighted total sum_k w_k L_k (weights before this step's update) and one GradNorm update of w.

        loss_scale: the gradients are taken of loss_scale * L_k and divided by it (a mixed-precision gradient
        scaler's factor, so that float16 task gradients do not underflow)."""
        self._check_losses(losses)
        params = [shared_params] if torch.is_tensor(shared_params) else list(shared_params)
        if not params or not all(torch.is_tensor(p) and p.requires_grad for p in params):
            raise ValueError("GradNorm: shared_params must be a tensor (or tensors) that requires grad, e.g. the "
                             "weight of the last layer shared by all tasks")
        self._to(losses[0].device)
        total = self.weighted_sum(losses)

        norms = torch.stack([_flat_grad_norm(loss, params, k, float(loss_scale)) for k, loss in enumerate(losses)])
        current = torch.stack([loss.detach().reshape(()).double() for loss in losses])
        stats = self._synced(torch.cat([norms, current]).to(self.log_weights.device))
        norms, current = stats[:self.num_tasks], stats[self.num_tasks:]
        if not bool(torch.isfinite(stats).all()):
            raise ValueError(f"GradNorm: non-finite task loss or gradient norm: losses {current.tolist()}, "
                             f"gradient norms {norms.tolist()}")
        if self.initial_losses is None:
            if not bool((current > 0).all()):
                bad = [k for k in range(self.num_tasks) if current[k] <= 0]
                raise ValueError(f"GradNorm: the initial loss of task(s) {bad} is {current[bad].tolist()}, but "
                                 "L_k(t)/L_k(0) needs L_k(0) > 0; leave such a loss out of GradNorm")
            self.initial_losses = current.clone()
        self._update(norms, current)
        self.steps += 1
        return total

    def _update(self, norms: torch.Tensor, current: torch.Tensor) -> None:
        s = self.log_weights
        with torch.enable_grad():
            grad_norms = torch.exp(s) * norms                                  # G_k = w_k ||grad_W L_k||
            ratios = current / self.initial_losses
            relative = ratios / ratios.mean().clamp_min(torch.finfo(torch.float64).tiny)
            g_ref = grad_norms.mean() if self.reference == "mean" else grad_norms[0]
            targets = (g_ref * relative.pow(self.alpha)).detach()
            objective = (self.objective_weight * (grad_norms - targets).abs().sum()
                         + self.log_reg * s.pow(2).sum())
            (grad,) = torch.autograd.grad(objective, s)
        s.grad = grad
        self.optimizer.step()
        s.grad = None
        with torch.no_grad():
            projected = rescale_into_box(s.exp(), float(self.num_tasks), self.min_weight, self.max_weight)
            s.copy_(projected.log())
        self.last_stats = {"grad_norms": grad_norms.detach(), "targets": targets, "loss_ratios": relative.detach(),
                           "gradnorm_loss": objective.detach()}

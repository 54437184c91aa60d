"""Pure step functions for the training loop: each returns a named dict of scalar losses with a ``"total"``;
the loop only does ``zero_grad`` / ``total.backward()`` / ``step``.

Per generator step (all methods)::

    losses = generator_losses(model, adversary, batch_src, batch_tgt, method_cfg, progress)
    opt_model.zero_grad(); losses["total"].backward(); opt_model.step()
    # dann: the domain classifier trains in this same backward (gradient reversal): step its optimizer too.

Per critic step (``wh``/``awh`` only, ``method_cfg.critic_steps`` per generator step)::

    shared = SharedForward(model)                                   # once per run
    fs, ft = shared.critic_inputs(step, batch_src, batch_tgt)       # the step's forward, features detached
    c = critic_losses(fs, ft, critic, method_cfg)
    opt_critic.zero_grad(); c["total"].backward(); opt_critic.step()
    # ... then the network update on the same forward:
    losses = generator_losses(model, critic, batch_src, batch_tgt, method_cfg, progress, out=shared.take(step))

The real domain's 3D labels (``xyz_m`` of target rows) are read only by the ``oracle`` (or a method with
``target_3d`` set: the fully supervised scenario).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from awhourglass.data.sample import SOURCE, TARGET, Batch
from awhourglass.losses import (
    check_halves,
    critic_objective,
    depth_reg_loss_eq10,
    gradient_penalty_eq4,
    pose_loss_eq8,
    total_loss_eq11,
    wasserstein_eq6,
)
from awhourglass.models.config import ModelConfig
from awhourglass.models.critic import FeatureCritic, dann_lambda, grad_reverse
from awhourglass.models.depth import masked_avg_pool
from awhourglass.models.hourglass import AWHourglassNet, HourglassOutput
from awhourglass.models.similarity import channel_weights, weight_features
from awhourglass.skeleton import DEFAULT_SCALE_BONE
from awhourglass.train.config import MethodConfig
from awhourglass.train.precision import Precision, autocast_dtype


def make_adversary(model_cfg: ModelConfig, method_cfg: MethodConfig) -> FeatureCritic | None:
    """The critic (``wh``/``awh``) or domain classifier (``dann``) for these configs; ``None`` for other methods."""
    if not (method_cfg.uses_critic or method_cfg.uses_domain_classifier):
        return None
    n = len(method_cfg.critic_stacks(model_cfg.num_stacks))
    return FeatureCritic(model_cfg.width, n, method_cfg.critic_width, final_bias=method_cfg.uses_domain_classifier)


def concat_batches(a: Batch, b: Batch) -> Batch:
    """Rows of ``a`` then rows of ``b`` in one :class:`Batch`."""
    fields = {}
    for k, v in a.__dict__.items():
        w = b.__dict__[k]
        fields[k] = torch.cat([v, w]) if isinstance(v, torch.Tensor) else list(v) + list(w)
    return Batch(**fields)


def check_pair(batch_src: Batch, batch_tgt: Batch | None) -> None:
    """Raise ``ValueError`` unless the halves are a source batch and a target batch of equal shapes."""
    if batch_tgt is None:
        raise ValueError("this method needs a target batch (batch_tgt is None)")
    if len(batch_src) != len(batch_tgt) or batch_src.image.shape != batch_tgt.image.shape:
        raise ValueError(f"mismatched batch halves: source images {tuple(batch_src.image.shape)} vs target "
                         f"{tuple(batch_tgt.image.shape)}; expected equal shapes (B, 3, H, W)")
    if any(d != SOURCE for d in batch_src.domain_ids()) or any(d != TARGET for d in batch_tgt.domain_ids()):
        raise ValueError(f"batch halves: expected domain {SOURCE} (source) in batch_src and {TARGET} (target) in "
                         "batch_tgt")


def forward_batch(model: AWHourglassNet, batch: Batch, precision: Precision = "fp32") -> HourglassOutput:
    """Training forward: the network on ``batch`` with per-sample domains and the depth decoder on its 2D labels.

    ``precision="bf16"`` / ``"fp16"``: the network's convolutions run under autocast in that type; its outputs
    (2.5D decoding, features, depth image) are fp32, and the losses, the critic and its gradient penalty run in
    fp32 after it. ``model`` may be the network compiled (``torch.compile``).
    """
    dtype = autocast_dtype(precision)
    with torch.autocast(batch.image.device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        # the host copy of the domains: domain-specific BatchNorm groups its rows without a device sync
        return model(batch.image, domain=batch.domain_ids(), depth_uv_px=batch.uv_px)


def pose_losses(out: HourglassOutput, batch: Batch, method_cfg: MethodConfig,
                scale_bone: tuple[int, int] = DEFAULT_SCALE_BONE) -> dict[str, torch.Tensor]:
    """Task terms of Eq. 11 for a (possibly mixed-domain) batch, per the method.

    Source rows: Eq. 8 (2D + λ_alpha·depth). Target rows: 2D only (Eq. 11's L_2D^t), plus depth for the
    ``oracle``. Depth regularizer (Eq. 10) on every row with a depth image. Intermediate supervision on every
    stack but the last, with the terms of ``method_cfg.intermediate``.

    Returns:
        ``src_2d, src_z, tgt_2d, tgt_z, src_reg, tgt_reg, intermediate, total`` (all scalars).
    """
    src = batch.domain == SOURCE
    tgt = batch.domain == TARGET
    if method_cfg.name == "oracle" and not method_cfg.oracle_with_source:
        src = torch.zeros_like(src)
    if method_cfg.name == "source_only":
        tgt = torch.zeros_like(tgt)
    has3d = batch.has_3d.bool()
    src_3d = src & has3d
    tgt_3d = tgt & has3d if method_cfg.uses_target_3d else torch.zeros_like(tgt)
    la = method_cfg.lambda_alpha

    def eq8(stack, rows_2d, rows_3d):
        return pose_loss_eq8(stack.uv_px, stack.z_norm, batch.uv_px, batch.vis, batch.xyz_m, rows_2d, rows_3d, la,
                             scale_bone)

    last = out.stacks[-1]
    s, t = eq8(last, src, src_3d), eq8(last, tgt, tgt_3d)
    losses = {"src_2d": s["2d"], "src_z": s["z"], "tgt_2d": t["2d"], "tgt_z": t["z"]}
    if out.depth_pred is not None:
        size = out.depth_pred.shape[-1]
        gt, mask = masked_avg_pool(batch.depth, batch.depth_mask, size)
        has_depth = batch.has_depth.bool()
        losses["src_reg"] = depth_reg_loss_eq10(out.depth_pred, gt, mask, src & has_depth)
        losses["tgt_reg"] = depth_reg_loss_eq10(out.depth_pred, gt, mask, tgt & has_depth)
    else:
        losses["src_reg"] = losses["tgt_reg"] = last.z_norm.new_zeros(())
    inter = last.z_norm.new_zeros(())
    terms = set(method_cfg.intermediate)
    for stack in out.stacks[:-1]:
        if "src_2d" in terms or "src_3d" in terms:
            r = eq8(stack, src, src_3d)
            inter = inter + ("src_2d" in terms) * r["2d"] + ("src_3d" in terms) * la * r["z"]
        if "tgt_2d" in terms:
            inter = inter + eq8(stack, tgt, torch.zeros_like(tgt))["2d"]
    losses["intermediate"] = inter
    # Eq. 11 without its adversarial term (added by generator_losses), plus the intermediate supervision.
    task = total_loss_eq11(s["total"], t["total"], losses["src_reg"], losses["tgt_reg"], inter.new_zeros(()),
                           method_cfg.lambda_res, method_cfg.lambda_reg, lambda_adv=0.0)
    losses["total"] = task + method_cfg.lambda_intermediate * inter
    return losses


@contextlib.contextmanager
def frozen(module: nn.Module | None) -> Iterator[None]:
    """Parameters of ``module`` do not require grad inside the block, so a graph built there gives them none."""
    if module is None:
        yield
        return
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(f)


def _adapted(feats_src: list[torch.Tensor], feats_tgt: list[torch.Tensor], method_cfg: MethodConfig):
    """α-weighted features (``awh``) or the features themselves (``wh``: α ≡ 1), and the α per point."""
    out_s, out_t, alphas = [], [], []
    for fs, ft in zip(feats_src, feats_tgt, strict=True):
        if method_cfg.name == "awh":
            alpha = channel_weights(fs, ft, method_cfg.similarity)
            fs, ft = weight_features(fs, alpha), weight_features(ft, alpha)
        else:
            alpha = torch.ones(fs.shape[1], dtype=fs.dtype, device=fs.device)
        out_s.append(fs)
        out_t.append(ft)
        alphas.append(alpha)
    return out_s, out_t, alphas


def generator_losses(model: AWHourglassNet, adversary: FeatureCritic | None, batch_src: Batch,
                     batch_tgt: Batch | None, method_cfg: MethodConfig, progress: float = 0.0,
                     return_outputs: bool = False, out: HourglassOutput | None = None,
                     precision: Precision = "fp32"):
    """All losses of one network update (paper Eq. 11), for any method.

    Args:
        model: the network (train mode).
        adversary: the critic (``wh``/``awh``; frozen here) or domain classifier (``dann``; trained here
            through gradient reversal); ignored (may be None) for the other methods.
        batch_src, batch_tgt: the two halves (equal sizes); ``batch_tgt`` may be None for ``source_only``.
        progress: training progress in [0, 1] (the DANN λ_p schedule).
        return_outputs: also return the network output of the concatenated batch (source rows first).
        out: that output already computed, with its graph (:class:`SharedForward`: the step's critic updates
            read its features); ``None`` runs the forward here, in ``precision`` (:func:`forward_batch`).

    Returns:
        the :func:`pose_losses` dict plus ``wd`` (``wh``/``awh``), ``alpha_mean`` (detached), or ``domain`` and
        ``dann_lambda`` (``dann``); ``total`` includes the adversarial term.
    """
    if method_cfg.uses_target:
        check_pair(batch_src, batch_tgt)
        batch = concat_batches(batch_src, batch_tgt)
    else:
        if any(d != SOURCE for d in batch_src.domain_ids()):
            raise ValueError("source_only: batch_src must contain source-domain samples only")
        batch = batch_src
    if out is None:
        out = forward_batch(model, batch, precision)
    losses = pose_losses(out, batch, method_cfg, model.cfg.scale_bone)
    n = len(batch_src)
    points = method_cfg.critic_stacks(model.cfg.num_stacks)
    if method_cfg.uses_critic or method_cfg.uses_domain_classifier:
        if adversary is None:
            raise ValueError(f"method {method_cfg.name!r} needs an adversary (see make_adversary)")
        feats = [out.stacks[k].features for k in points]
    if method_cfg.uses_critic:
        fs, ft, alphas = _adapted([f[:n] for f in feats], [f[n:] for f in feats], method_cfg)
        with frozen(adversary):
            scores = adversary([torch.cat([a, b]) for a, b in zip(fs, ft, strict=True)])
        l_wd = wasserstein_eq6([s[:n] for s in scores], [s[n:] for s in scores])
        losses["wd"] = l_wd
        losses["alpha_mean"] = torch.stack([a.mean() for a in alphas]).mean().detach()
        losses["total"] = losses["total"] + method_cfg.lambda_wd * l_wd
    elif method_cfg.uses_domain_classifier:
        lam = dann_lambda(progress)
        logits = adversary([grad_reverse(f, lam) for f in feats])
        labels = (batch.domain == TARGET).to(logits[0].dtype)
        l_dom = torch.stack([nn.functional.binary_cross_entropy_with_logits(lg, labels) for lg in logits]).sum()
        losses["domain"] = l_dom
        losses["dann_lambda"] = torch.tensor(lam, device=l_dom.device)
        losses["total"] = losses["total"] + method_cfg.lambda_dann * l_dom
    return (losses, out) if return_outputs else losses


class SharedForward:
    """One network forward per phase-2 step, shared by the step's critic updates and its network update.

    The network does not change during the critic updates, so the features they need are those of the network
    update's own forward: :meth:`critic_inputs` runs that forward (with its graph) once per step and hands the
    critic its features detached; :meth:`take` hands the same output to :func:`generator_losses` (``out=``).
    Against a separate no-grad forward for the critic this saves a quarter of a WH/AWH step, and train-mode
    BatchNorm updates its running statistics once per step, as in every other method.
    """

    def __init__(self, model: AWHourglassNet, precision: Precision = "fp32") -> None:
        self.model, self.precision = model, precision
        self._key: object = None
        self._out: HourglassOutput | None = None

    def critic_inputs(self, key: object, batch_src: Batch, batch_tgt: Batch) -> tuple[list, list]:
        """Per-stack features ``(source, target)`` of step ``key``'s halves, detached (forward on first call)."""
        if self._key != key or self._out is None:
            check_pair(batch_src, batch_tgt)
            self._out = forward_batch(self.model, concat_batches(batch_src, batch_tgt), self.precision)
            self._key = key
        n = len(batch_src)
        return [f[:n].detach() for f in self._out.features], [f[n:].detach() for f in self._out.features]

    def take(self, key: object) -> HourglassOutput | None:
        """The output of step ``key``'s forward (then forgotten, freeing its graph after the update), or None."""
        out = self._out if self._key == key else None
        self._key, self._out = None, None
        return out


@torch.no_grad()
def critic_features(model: AWHourglassNet, batch_src: Batch, batch_tgt: Batch) -> tuple[list, list]:
    """Per-stack features of both halves without a graph into the network (training shares the network
    update's forward instead: :class:`SharedForward`)."""
    check_pair(batch_src, batch_tgt)
    batch = concat_batches(batch_src, batch_tgt)
    out = model(batch.image, domain=batch.domain_ids())
    n = len(batch_src)
    return [f[:n] for f in out.features], [f[n:] for f in out.features]


def critic_losses(features_src: list[torch.Tensor], features_tgt: list[torch.Tensor], critic: FeatureCritic,
                  method_cfg: MethodConfig) -> dict[str, torch.Tensor]:
    """One critic update (``wh``/``awh``): ``total = −L_wd + λ_gp·GP`` on the (α-weighted) detached features.

    Args:
        features_src, features_tgt: per-stack feature lists (``out.features`` of each half, one entry per
            stack); the stacks of ``method_cfg.critic_at`` are selected here.

    Returns:
        ``wd`` (the critic's Wasserstein estimate), ``gp``, ``alpha_mean``, ``total``.
    """
    if not method_cfg.uses_critic:
        raise ValueError(f"critic_losses: method {method_cfg.name!r} has no Wasserstein critic")
    check_halves(features_src, features_tgt)
    points = method_cfg.critic_stacks(len(features_src))
    fs, ft, alphas = _adapted([features_src[k].detach() for k in points], [features_tgt[k].detach() for k in points],
                              method_cfg)
    scores = critic([torch.cat([a, b]) for a, b in zip(fs, ft, strict=True)])
    n = fs[0].shape[0]
    l_wd = wasserstein_eq6([s[:n] for s in scores], [s[n:] for s in scores])
    gp = gradient_penalty_eq4(critic, fs, ft)
    return {"wd": l_wd, "gp": gp, "alpha_mean": torch.stack([a.mean() for a in alphas]).mean(),
            "total": critic_objective(l_wd, gp, method_cfg.lambda_gp)}

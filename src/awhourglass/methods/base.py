"""What every training method shares: the network's forward on a batch, the task terms of paper Eq. 11, and Eq. 11
itself, assembled once in :meth:`Method.generator_losses` from the method's adversarial term.

A method (one small subclass per file in this package, listed once in :data:`~awhourglass.methods.table.METHODS`)
says which rows its task terms read (:meth:`Method.rows`), whether it reads the target and the target's 3D labels,
what adversary it trains (none, a Wasserstein critic, a domain classifier) and the adversarial term of its
network update (:meth:`Method.adversarial`), its critic update where it has one (:meth:`Method.critic_losses`) and
its phase-2 learning rate (:meth:`Method.lr_at`). The training loop calls these and decides nothing by name.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from torch import nn

from awhourglass.data.sample import SOURCE, TARGET, Batch
from awhourglass.losses import depth_reg_loss_eq10, pose_loss_eq8, total_loss_eq11
from awhourglass.models.config import ModelConfig
from awhourglass.models.critic import FeatureCritic
from awhourglass.models.depth import masked_avg_pool
from awhourglass.models.hourglass import HourglassOutput
from awhourglass.skeleton import DEFAULT_SCALE_BONE

if TYPE_CHECKING:
    from awhourglass.methods.config import MethodConfig

Adversary = Literal["none", "critic", "domain_classifier"]


@dataclass
class AdversarialTerm:
    """A method's domain term of one network update: Eq. 11's ``L_adv`` with its weight, and what the logs show."""

    loss: torch.Tensor
    weight: float
    logs: dict[str, torch.Tensor] = field(default_factory=dict)


def concat_batches(a: Batch, b: Batch) -> Batch:
    """Rows of ``a`` then rows of ``b`` in one :class:`Batch`."""
    fields: dict[str, Any] = {}
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


def step_decay_lr(base_lr: float, step: int, milestones: tuple[int, ...] | list[int], gamma: float) -> float:
    """Step-decay learning rate of 0-based ``step``: ``base · gamma^(milestones passed)``."""
    return base_lr * gamma ** sum(1 for m in milestones if step >= m)


def ganin_lr(base_lr: float, progress: float, alpha: float = 10.0, beta: float = 0.75) -> float:
    """Ganin et al.'s annealing ``μ_p = μ_0 / (1 + α p)^β`` at training progress ``p`` in [0, 1] (α 10, β 0.75)."""
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"ganin_lr: progress must be in [0, 1], got {progress}")
    return base_lr / math.pow(1.0 + alpha * progress, beta)


class Method:
    """One training method. Subclasses set the class attributes and override the hooks they change.

    Attributes:
        name: the config's ``method.name``. label: the label every report shows (:meth:`label_of` adds options).
        uses_target: reads the target domain in phase 2 (half/half batches).
        reads_target_3d: supervises the target's 3D labels (the oracle); the others never load them.
        adversary: ``none``, ``critic`` (Wasserstein critic with its own updates) or ``domain_classifier``
            (trained in the network update through gradient reversal).
        lr_schedule: phase 2's default learning-rate schedule (``step`` or ``ganin``; ``method.lr_schedule``
            overrides it).
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    uses_target: ClassVar[bool] = True
    reads_target_3d: ClassVar[bool] = False
    adversary: ClassVar[Adversary] = "none"
    lr_schedule: ClassVar[Literal["step", "ganin"]] = "step"

    def label_of(self, cfg: MethodConfig) -> str:
        """The label with the config's options that change the method (e.g. AWH's intermediate supervision)."""
        return self.label

    # --- what the network update reads and adds -----------------------------------------------------------
    def rows(self, batch: Batch, cfg: MethodConfig) -> tuple[torch.Tensor, torch.Tensor]:
        """Boolean ``(B,)`` masks of the rows whose task terms count: ``(source rows, target rows)``."""
        return batch.domain == SOURCE, batch.domain == TARGET

    def make_adversary(self, model_cfg: ModelConfig, cfg: MethodConfig) -> FeatureCritic | None:
        """The critic or domain classifier this method trains (None: no adversary)."""
        if self.adversary == "none":
            return None
        n = len(cfg.critic_stacks(model_cfg.num_stacks))
        return FeatureCritic(model_cfg.width, n, cfg.critic_width, final_bias=self.adversary == "domain_classifier")

    def adversarial(self, out: HourglassOutput, batch: Batch, n_source: int, adversary: nn.Module | None,
                    cfg: MethodConfig, progress: float) -> AdversarialTerm | None:
        """The domain term of the network update on the concatenated batch (source rows first), or None."""
        return None

    def critic_losses(self, features_src: list[torch.Tensor], features_tgt: list[torch.Tensor],
                      critic: FeatureCritic, cfg: MethodConfig) -> dict[str, torch.Tensor]:
        """One critic update's losses with a ``total`` (methods with ``adversary == "critic"``)."""
        raise ValueError(f"critic_losses: method {self.name!r} has no Wasserstein critic")

    def lr_at(self, base_lr: float, step: int, steps: int, milestones: tuple[int, ...] | list[int], gamma: float,
              cfg: MethodConfig) -> float:
        """Phase 2's learning rate at 0-based ``step`` of ``steps``: the config's schedule, else the method's."""
        schedule = self.lr_schedule if cfg.lr_schedule == "method" else cfg.lr_schedule
        if schedule == "ganin":
            return ganin_lr(base_lr, min(step / max(steps, 1), 1.0))
        return step_decay_lr(base_lr, step, milestones, gamma)

    # --- the shared parts -----------------------------------------------------------------------------------
    def task_terms(self, out: HourglassOutput, batch: Batch, cfg: MethodConfig,
                   scale_bone: tuple[int, int] = DEFAULT_SCALE_BONE,
                   ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """Task terms of Eq. 11 for a (possibly mixed-domain) batch, on the rows of :meth:`rows`.

        Source rows: Eq. 8 (2D + λ_alpha·depth). Target rows: 2D only (Eq. 11's L_2D^t), plus depth where the
        target's 3D labels are supervised. Depth regularizer (Eq. 10) on every row with a depth image.
        Intermediate supervision on every stack but the last, with the terms of ``cfg.intermediate``.

        Returns:
            ``{src_2d, src_z, tgt_2d, tgt_z, src_reg, tgt_reg, intermediate}`` (scalars, what the logs show) and
            the two Eq. 8 sums: L_2.5D^s and L_2D^t (plus its depth term for a 3D-supervised target).
        """
        src, tgt = self.rows(batch, cfg)
        has3d = batch.has_3d.bool()
        src_3d = src & has3d
        tgt_3d = tgt & has3d if cfg.uses_target_3d else torch.zeros_like(tgt)
        la = cfg.lambda_alpha

        def eq8(stack, rows_2d, rows_3d):
            return pose_loss_eq8(stack.uv_px, stack.z_norm, batch.uv_px, batch.vis, batch.xyz_m, rows_2d, rows_3d,
                                 la, scale_bone)

        last = out.stacks[-1]
        s, t = eq8(last, src, src_3d), eq8(last, tgt, tgt_3d)
        terms = {"src_2d": s["2d"], "src_z": s["z"], "tgt_2d": t["2d"], "tgt_z": t["z"]}
        if out.depth_pred is not None:
            size = out.depth_pred.shape[-1]
            gt, mask = masked_avg_pool(batch.depth, batch.depth_mask, size)
            has_depth = batch.has_depth.bool()
            terms["src_reg"] = depth_reg_loss_eq10(out.depth_pred, gt, mask, src & has_depth)
            terms["tgt_reg"] = depth_reg_loss_eq10(out.depth_pred, gt, mask, tgt & has_depth)
        else:
            terms["src_reg"] = terms["tgt_reg"] = last.z_norm.new_zeros(())
        inter = last.z_norm.new_zeros(())
        chosen = set(cfg.intermediate)
        for stack in out.stacks[:-1]:
            if "src_2d" in chosen or "src_3d" in chosen:
                r = eq8(stack, src, src_3d)
                inter = inter + ("src_2d" in chosen) * r["2d"] + ("src_3d" in chosen) * la * r["z"]
            if "tgt_2d" in chosen:
                inter = inter + eq8(stack, tgt, torch.zeros_like(tgt))["2d"]
        terms["intermediate"] = inter
        return terms, s["total"], t["total"]

    def batch_of(self, batch_src: Batch, batch_tgt: Batch | None) -> Batch:
        """The network update's batch: the two halves concatenated (source rows first), or the source alone for
        a method that does not read the target; ``ValueError`` for halves that do not pair."""
        if self.uses_target:
            check_pair(batch_src, batch_tgt)
            assert batch_tgt is not None  # check_pair refuses None
            return concat_batches(batch_src, batch_tgt)
        if any(d != SOURCE for d in batch_src.domain_ids()):
            raise ValueError(f"{self.name}: batch_src must contain source-domain samples only")
        return batch_src

    def generator_losses(self, out: HourglassOutput, batch: Batch, n_source: int, adversary: nn.Module | None,
                         cfg: MethodConfig, progress: float = 0.0,
                         scale_bone: tuple[int, int] = DEFAULT_SCALE_BONE) -> dict[str, torch.Tensor]:
        """All losses of one network update on :meth:`batch_of`'s batch and the network's output ``out`` of it:
        the task terms, the method's adversarial term, and their paper Eq. 11 ``total`` (with the weighted
        intermediate supervision), assembled here and nowhere else.

        Args:
            n_source: the number of source rows (first) of ``batch``.
            adversary: the critic (frozen here) or domain classifier (trained here through gradient reversal);
                ignored (may be None) for methods without one.
            progress: training progress in [0, 1] (schedules such as DANN's λ_p).
        """
        losses, src_pose, tgt_pose = self.task_terms(out, batch, cfg, scale_bone)
        if self.adversary != "none" and adversary is None:
            raise ValueError(f"method {self.name!r} needs an adversary (see Method.make_adversary)")
        adv = self.adversarial(out, batch, n_source, adversary, cfg, progress)
        inter = losses["intermediate"]
        losses["total"] = total_loss_eq11(
            src_pose, tgt_pose, losses["src_reg"], losses["tgt_reg"],
            adv.loss if adv is not None else inter.new_zeros(()), cfg.lambda_res, cfg.lambda_reg,
            adv.weight if adv is not None else 0.0, l_intermediate=cfg.lambda_intermediate * inter)
        if adv is not None:
            losses.update(adv.logs)
        return losses


__all__ = ["AdversarialTerm", "Method", "check_pair", "concat_batches", "frozen", "ganin_lr", "step_decay_lr"]

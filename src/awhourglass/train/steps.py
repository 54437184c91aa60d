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

The losses themselves are the method's (:mod:`awhourglass.methods`: one object per method, Eq. 11 assembled in
``Method.generator_losses``); these functions run the network's forward and call the configured method. The
real domain's 3D labels (``xyz_m`` of target rows) are read only by the ``oracle`` (or a method with
``target_3d`` set: the fully supervised scenario).
"""

from __future__ import annotations

import torch

from awhourglass.data.sample import Batch
from awhourglass.methods.base import check_pair, concat_batches
from awhourglass.methods.config import MethodConfig
from awhourglass.models.config import ModelConfig
from awhourglass.models.critic import FeatureCritic
from awhourglass.models.hourglass import AWHourglassNet, HourglassOutput
from awhourglass.train.precision import Precision, autocast_dtype


def make_adversary(model_cfg: ModelConfig, method_cfg: MethodConfig) -> FeatureCritic | None:
    """The critic or domain classifier of the configured method (``Method.make_adversary``); None without one."""
    return method_cfg.method.make_adversary(model_cfg, method_cfg)


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


def generator_losses(model: AWHourglassNet, adversary: torch.nn.Module | None, batch_src: Batch,
                     batch_tgt: Batch | None, method_cfg: MethodConfig, progress: float = 0.0,
                     return_outputs: bool = False, out: HourglassOutput | None = None,
                     precision: Precision = "fp32"):
    """All losses of one network update (paper Eq. 11) of the configured method (``Method.generator_losses``).

    Args:
        model: the network (train mode).
        adversary: the critic (frozen here) or domain classifier (trained here through gradient reversal);
            ignored (may be None) for methods without one.
        batch_src, batch_tgt: the two halves (equal sizes); ``batch_tgt`` may be None for ``source_only``.
        progress: training progress in [0, 1] (the DANN λ_p schedule).
        return_outputs: also return the network output of the concatenated batch (source rows first).
        out: that output already computed, with its graph (:class:`SharedForward`: the step's critic updates
            read its features); ``None`` runs the forward here, in ``precision`` (:func:`forward_batch`).

    Returns:
        the task terms (``Method.task_terms``), the adversarial term's logs (``wd`` and ``alpha_mean`` for WH/AWH,
        ``domain`` and ``dann_lambda`` for DANN) and ``total``.
    """
    method = method_cfg.method
    batch = method.batch_of(batch_src, batch_tgt)
    if out is None:
        out = forward_batch(model, batch, precision)
    losses = method.generator_losses(out, batch, len(batch_src), adversary, method_cfg, progress,
                                     model.cfg.scale_bone)
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
    """One critic update of the configured method (``Method.critic_losses``; WH/AWH: ``−L_wd + λ_gp·GP``)."""
    return method_cfg.method.critic_losses(features_src, features_tgt, critic, method_cfg)


__all__ = ["SharedForward", "check_pair", "concat_batches", "critic_features", "critic_losses", "forward_batch",
           "generator_losses", "make_adversary"]

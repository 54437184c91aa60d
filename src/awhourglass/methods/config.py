"""The method's part of a training config: which method (a name in :data:`~awhourglass.methods.table.METHODS`)
and the weights of paper Eq. 11."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from awhourglass.config import ConfigError, check_betas, check_number
from awhourglass.models.config import SimilarityConfig

if TYPE_CHECKING:
    from awhourglass.methods.base import Method

IntermediateTerm = Literal["src_2d", "src_3d", "tgt_2d"]


@dataclass
class MethodConfig:
    """Which method trains the network, and the weights of paper Eq. 11.

    Attributes:
        name: a method of :data:`~awhourglass.methods.table.METHODS`: ``source_only`` (source 2.5D + depth reg
            only), ``oracle`` (target 3D used), ``joint`` (wo/AWH: half/half, no critic), ``wh`` (α ≡ 1, Shen et
            al. 2018), ``dann`` (gradient reversal, Ganin et al. 2016), ``awh`` (the method).
        lambda_wd: weight of L_wd for the feature extractor.
        lambda_res: weight of the pose terms L_2.5D^s + L_2D^t.
        lambda_reg: weight of the depth regularizer L_reg^s + L_reg^t.
        lambda_alpha: weight of the depth term inside Eq. 8.
        lambda_gp: gradient-penalty weight of the critic (WGAN-GP: 10).
        lambda_dann: weight of the domain-classification loss (``dann``).
        lambda_intermediate: weight of the intermediate-supervision terms.
        intermediate: terms supervised at every stack but the last (paper Table 1: ``src_2d`` = R2D,
            ``src_3d`` = R3D, ``tgt_2d`` = S2D; empty = wo/IL, the paper's final choice).
        critic_at: which stacks' features go to the critic / domain classifier.
        critic_steps: critic updates per generator update.
        critic_lr, critic_betas: Adam settings of the critic (WGAN-GP).
        critic_width: channels of the critic.
        similarity: the Eq. 5 options.
        oracle_with_source: the oracle also trains on the source half (False: target only).
        target_3d: also supervise the target's 3D labels (the paper's fully supervised MPD scenario,
            e.g. "RHD+MPD+w/AWH"); always on for the ``oracle``, off for the weakly supervised setting.
        lr_schedule: phase 2's learning rate: ``method`` (the method's own: Ganin's annealing for ``dann``, the
            phase's step decay for the others), ``step`` (the step decay for every method) or ``ganin``
            (``lr / (1 + 10 p)^0.75`` at progress ``p``, Ganin et al. 2016).
    """

    name: str = "awh"
    lambda_wd: float = 0.1
    lambda_res: float = 1.0
    lambda_reg: float = 1.0
    lambda_alpha: float = 10.0
    lambda_gp: float = 10.0
    lambda_dann: float = 0.1
    lambda_intermediate: float = 1.0
    intermediate: tuple[IntermediateTerm, ...] = ()
    critic_at: Literal["first", "last", "all"] = "last"
    critic_steps: int = 5
    critic_lr: float = 1e-4
    critic_betas: tuple[float, float] = (0.0, 0.9)
    critic_width: int = 64
    similarity: SimilarityConfig = field(default_factory=SimilarityConfig)
    oracle_with_source: bool = True
    target_3d: bool = False
    lr_schedule: Literal["method", "step", "ganin"] = "method"

    def __post_init__(self) -> None:
        from awhourglass.methods.table import METHODS  # the table imports the methods, which read this config

        if self.name not in METHODS:
            raise ConfigError(f"MethodConfig.name must be one of {', '.join(METHODS)}, got {self.name!r}")
        bad = sorted(set(self.intermediate) - {"src_2d", "src_3d", "tgt_2d"})
        if bad:
            raise ConfigError(f"MethodConfig.intermediate: unknown term(s) {bad}; allowed src_2d, src_3d, tgt_2d")
        if self.critic_steps < 1:
            raise ConfigError(f"MethodConfig.critic_steps must be >= 1, got {self.critic_steps}")
        if self.critic_width < 1:
            raise ConfigError(f"MethodConfig.critic_width must be >= 1, got {self.critic_width}")
        check_number("MethodConfig.critic_lr", self.critic_lr, positive=True)
        check_betas("MethodConfig.critic_betas", self.critic_betas)
        for name in ("lambda_wd", "lambda_res", "lambda_reg", "lambda_alpha", "lambda_gp", "lambda_dann",
                     "lambda_intermediate"):
            check_number(f"MethodConfig.{name}", getattr(self, name), positive=False)

    @property
    def method(self) -> Method:
        """The method object of :attr:`name` (:data:`~awhourglass.methods.table.METHODS`)."""
        from awhourglass.methods.table import METHODS

        return METHODS[self.name]

    @property
    def label(self) -> str:
        """The method's label with its options (the one every report, the demo and ``awh train --help`` show)."""
        return self.method.label_of(self)

    @property
    def uses_target_3d(self) -> bool:
        """Whether the target's 3D labels are supervised (the method's own choice, or a fully supervised
        target)."""
        return self.method.reads_target_3d or self.target_3d

    @property
    def uses_critic(self) -> bool:
        """True for the Wasserstein methods (``wh``, ``awh``), which need separate critic steps."""
        return self.method.adversary == "critic"

    @property
    def uses_domain_classifier(self) -> bool:
        """True for ``dann``, whose classifier trains in the generator step through gradient reversal."""
        return self.method.adversary == "domain_classifier"

    @property
    def uses_target(self) -> bool:
        """False only for a method that never reads the target (``source_only``)."""
        return self.method.uses_target

    def critic_stacks(self, num_stacks: int) -> list[int]:
        """Indices of the stacks whose features the critic / domain classifier sees."""
        return {"first": [0], "last": [num_stacks - 1], "all": list(range(num_stacks))}[self.critic_at]


__all__ = ["IntermediateTerm", "MethodConfig"]

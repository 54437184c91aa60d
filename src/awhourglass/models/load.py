"""Rebuild the pose network a checkpoint describes (``config["model"]`` + ``modules["model"]``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from awhourglass.checkpoint import CheckpointError, checkpoint_dict, load_checkpoint, model_entry
from awhourglass.config import ConfigError, from_dict, to_dict
from awhourglass.models.config import ModelConfig
from awhourglass.models.hourglass import AWHourglassNet


def network_from_dict(ckpt: dict[str, Any], path: str | os.PathLike[str]) -> AWHourglassNet:
    """The pose network of a checkpoint already read by :func:`~awhourglass.checkpoint.load_checkpoint`.

    Raises:
        CheckpointError: no pose network, a model config this code does not accept, or weights that do not
            match the config (each naming ``path``).
    """
    cfg_dict, state = model_entry(ckpt, path)
    try:
        cfg = from_dict(ModelConfig, cfg_dict)
    except (ConfigError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {path}: its model config is not valid here: {exc}") from None
    model = AWHourglassNet(cfg)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = (str(exc).strip().splitlines() or ["state dict mismatch"])[0]
        raise CheckpointError(f"checkpoint {path}: the weights do not match its model config: {first}") from None
    return model


def network_from_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> AWHourglassNet:
    """Read ``path`` (restricted unpickler, every check of :mod:`awhourglass.checkpoint`) → network in eval mode."""
    return network_from_dict(load_checkpoint(path), path).to(device).eval()


def network_checkpoint(model: AWHourglassNet, extra_config: dict[str, Any] | None = None, step: int = 0) -> dict:
    """A checkpoint of ``model`` alone (no optimizer state), readable by every command."""
    return checkpoint_dict({**(extra_config or {}), "model": to_dict(model.cfg)}, {"model": model.state_dict()},
                           "done", step)


def graft_network(source: AWHourglassNet, cfg: ModelConfig, seed: int = 0) -> tuple[AWHourglassNet, list[str]]:
    """A network of ``cfg`` holding ``source``'s weights wherever the two share a tensor (same name, same shape).

    What lets a design that adds layers (e.g. FSSC's extra first-stack convolutions) start from a network
    pretrained without them. The tensors ``source`` has no match for are freshly initialized, from ``seed``.

    Returns:
        The grafted network and the names of its freshly initialized tensors (parameters and buffers).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = AWHourglassNet(cfg)
    theirs = source.state_dict()
    state = net.state_dict()
    fresh = [k for k, v in state.items() if k not in theirs or theirs[k].shape != v.shape]
    net.load_state_dict({k: (v if k in fresh else theirs[k]) for k, v in state.items()})
    return net, fresh


__all__ = ["graft_network", "network_checkpoint", "network_from_checkpoint", "network_from_dict"]

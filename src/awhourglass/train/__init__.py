"""Training: phase 1 (pretrain on the source) and phase 2 (adapt on half/half batches), resumable and data-parallel.

Entry points (imported from their modules, so importing one part does not pull in the others)::

    from awhourglass.train.config import TrainConfig, load_train_config
    from awhourglass.train.run import train, fit          # train(cfg, out_dir, resume) -> Path of model.pt
    from awhourglass.train.checkpoint import load_checkpoint, CheckpointStore

Modules: ``config`` (typed config), ``run`` (top level), ``pretrain`` / ``adapt`` (the phase loops),
``loop`` (shared update, logging and checkpoint cadence), ``parts`` (network, datasets and step
functions from a config), ``steps`` (loss step functions), ``batches`` (deterministic sharded batches),
``checkpoint``, ``distributed``, ``logging``. See docs/training.md.
"""

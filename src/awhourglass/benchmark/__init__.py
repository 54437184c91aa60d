"""``awh benchmark``: the methods compared over paired seeds on the embedded benchmark, every choice made on
validation (``config``: settings and the pretraining stage; ``compare``: the compare stage). Speed figures are
``awh bench`` (:mod:`awhourglass.speed`)."""

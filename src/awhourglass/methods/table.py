"""The one table of training methods: training, the demo, the benchmark, the CLI and the docs read it.

Adding a method is one file in this package (a :class:`~awhourglass.methods.base.Method` subclass) and one line
here.
"""

from __future__ import annotations

from awhourglass.methods.awh import AWH
from awhourglass.methods.base import Method
from awhourglass.methods.dann import DANN
from awhourglass.methods.joint import Joint
from awhourglass.methods.oracle import Oracle
from awhourglass.methods.source_only import SourceOnly
from awhourglass.methods.wh import WH

METHODS: dict[str, Method] = {m.name: m for m in (SourceOnly(), Oracle(), Joint(), WH(), DANN(), AWH())}

__all__ = ["METHODS"]

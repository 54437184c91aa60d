"""Training methods, one small object each (:mod:`awhourglass.methods.base`), listed once in
:data:`~awhourglass.methods.table.METHODS`; ``method.name`` in a training config picks one."""

from awhourglass.methods.base import AdversarialTerm, Method
from awhourglass.methods.config import MethodConfig
from awhourglass.methods.table import METHODS

__all__ = ["METHODS", "AdversarialTerm", "Method", "MethodConfig"]

"""Speed measurement against this machine's own limit: `awh bench`.

The yardstick is a large fp32 matmul measured in the same run (:mod:`.peak`); every
network figure is reported as images/s and as utilization = achieved FLOP/s / that peak,
with FLOPs counted from the running model (:mod:`.flops`), never guessed.
"""

from awhourglass.speed.flops import count_flops
from awhourglass.speed.peak import MatmulPeak, measure_matmul_peak
from awhourglass.speed.timing import Timing, time_fn

__all__ = ["MatmulPeak", "Timing", "count_flops", "measure_matmul_peak", "time_fn"]

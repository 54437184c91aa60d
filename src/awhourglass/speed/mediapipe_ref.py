"""Reference point: MediaPipe's hand landmark network, batch-1 latency on this CPU (optional extra).

Only the landmark network is timed (image-to-tensor + TFLite/XNNPACK inference on a 224×224
crop), not the palm detector, because that is what our network replaces: both take a hand crop.
It runs from the ``.tflite`` files shipped inside the ``mediapipe`` wheel (0.10.x wheels ship
``mediapipe/modules/hand_landmark/hand_landmark_{full,lite}.tflite``; the 1.x wheels ship none,
and downloading one at run time is not allowed here), through a two-node MediaPipe graph.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from awhourglass.eval.mediapipe_landmarks import landmark_graph, locate_model
from awhourglass.speed.timing import Clock, Timing, time_fn


@dataclass(frozen=True)
class MediaPipeLatency:
    """Outcome of the MediaPipe reference measurement.

    Attributes:
        available: whether it ran.
        reason: why not, when ``available`` is False ("" otherwise).
        version: the mediapipe version found ("" when not installed).
        model: the model file timed, relative to the mediapipe package's parent directory.
        best_s / median_s / repeats: batch-1 seconds per image (0 when not available).
        threads: XNNPACK threads asked for (0: MediaPipe's default, one thread).
    """

    available: bool
    reason: str
    version: str = ""
    model: str = ""
    best_s: float = 0.0
    median_s: float = 0.0
    repeats: int = 0
    threads: int = 0


class MediaPipeLandmark:
    """MediaPipe's hand landmark network, ready to run at batch 1: ``call()`` runs one 224² image through it.

    Build with :meth:`open`, which returns a reason string instead when mediapipe cannot run here; ``close()``
    the graph when done. Used by :func:`measure_mediapipe_landmark` and by ``awh bench``, which interleaves
    its calls with the other timed workloads.
    """

    def __init__(
        self, graph: Any, image_frame: Callable[[], Any], version: str, model: str, threads: int = 0
    ) -> None:
        self.version, self.model, self.threads = version, model, threads
        self._graph, self._image_frame = graph, image_frame
        self._seen: list[int] = []
        self._ts = 0
        graph.observe_output_stream("tensors", lambda _stream, _packet: self._seen.append(1))
        graph.start_run()

    @classmethod
    def open(
        cls, variant: Literal["full", "lite"] = "full", threads: int | None = None
    ) -> MediaPipeLandmark | MediaPipeLatency:
        """The runnable network, or a not-available :class:`MediaPipeLatency` that says why.

        ``threads``: XNNPACK threads; ``None`` keeps MediaPipe's default (one thread in 0.10.21: its CPU time
        equals its wall time), which is what a user of MediaPipe gets.
        """
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {threads}")
        found = locate_model(variant)
        if isinstance(found, str):
            return MediaPipeLatency(False, found, _mediapipe_version())
        mp, model = found
        version = getattr(mp, "__version__", "?")
        from mediapipe.python import packet_creator
        from mediapipe.python._framework_bindings import calculator_graph

        graph = calculator_graph.CalculatorGraph(graph_config=landmark_graph(model, threads))
        image = np.random.default_rng(0).integers(0, 256, size=(224, 224, 3), dtype=np.uint8)

        def frame() -> Any:
            return packet_creator.create_image_frame(image_format=mp.ImageFormat.SRGB, data=image)

        return cls(graph, frame, version, model, threads or 0)

    def __call__(self) -> None:
        self._graph.add_packet_to_input_stream("image", self._image_frame().at(self._ts))
        self._ts += 1
        self._graph.wait_until_idle()

    def close(self) -> str:
        """Close the graph; returns "" if every input gave an output, else what went wrong."""
        self._graph.close()
        if len(self._seen) != self._ts:
            return f"graph produced {len(self._seen)} outputs for {self._ts} inputs"
        return ""

    def result(self, timing: Timing) -> MediaPipeLatency:
        """Close the graph and report ``timing`` (or why it is not valid)."""
        problem = self.close()
        if problem:
            return MediaPipeLatency(False, problem, self.version, self.model)
        return MediaPipeLatency(
            True, "", self.version, self.model, timing.best_s, timing.median_s, timing.repeats, self.threads
        )


def _mediapipe_version() -> str:
    try:
        import mediapipe as mp
    except ImportError:
        return ""
    return getattr(mp, "__version__", "?")


def measure_mediapipe_landmark(
    variant: Literal["full", "lite"] = "full",
    *,
    warmup: int = 5,
    repeats: int = 20,
    min_time_s: float = 0.5,
    clock: Clock = "wall",
    threads: int | None = None,
) -> MediaPipeLatency:
    """Time MediaPipe's hand landmark network at batch 1, or say why it cannot run here.

    With ``clock="cpu"`` the figure is the CPU time of the whole process (MediaPipe runs its graph on its own
    threads), so XNNPACK's worker threads count too.
    """
    net = MediaPipeLandmark.open(variant, threads)
    if isinstance(net, MediaPipeLatency):
        return net
    try:
        timing = time_fn(net, warmup=warmup, repeats=repeats, min_time_s=min_time_s, clock=clock)
    except BaseException:
        net.close()
        raise
    return net.result(timing)

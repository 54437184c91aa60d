"""Reference point: MediaPipe's hand landmark network, batch-1 latency on this CPU (optional extra).

Only the landmark network is timed (image-to-tensor + TFLite/XNNPACK inference on a 224×224
crop), not the palm detector, because that is what our network replaces: both take a hand crop.
It runs from the ``.tflite`` files shipped inside the ``mediapipe`` wheel (0.10.x wheels ship
``mediapipe/modules/hand_landmark/hand_landmark_{full,lite}.tflite``; the 1.x wheels ship none,
and downloading one at run time is not allowed here), through a two-node MediaPipe graph.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

import numpy as np

from awhourglass.bench.timing import Clock, time_fn

_GRAPH = """
input_stream: "image"
output_stream: "tensors"
node {{
  calculator: "ImageToTensorCalculator"
  input_stream: "IMAGE:image"
  output_stream: "TENSORS:input_tensors"
  options {{ [mediapipe.ImageToTensorCalculatorOptions.ext] {{
    output_tensor_width: 224 output_tensor_height: 224 keep_aspect_ratio: true
    output_tensor_float_range {{ min: 0.0 max: 1.0 }} }} }}
}}
node {{
  calculator: "InferenceCalculator"
  input_stream: "TENSORS:input_tensors"
  output_stream: "TENSORS:tensors"
  options {{ [mediapipe.InferenceCalculatorOptions.ext] {{ model_path: "{model}" delegate {{ xnnpack {{}} }} }} }}
}}
"""


@dataclass(frozen=True)
class MediaPipeLatency:
    """Outcome of the MediaPipe reference measurement.

    Attributes:
        available: whether it ran.
        reason: why not, when ``available`` is False ("" otherwise).
        version: the mediapipe version found ("" when not installed).
        model: the model file timed, relative to the mediapipe package's parent directory.
        best_s / median_s / repeats: batch-1 seconds per image (0 when not available).
    """

    available: bool
    reason: str
    version: str = ""
    model: str = ""
    best_s: float = 0.0
    median_s: float = 0.0
    repeats: int = 0


def measure_mediapipe_landmark(
    variant: Literal["full", "lite"] = "full",
    *,
    warmup: int = 5,
    repeats: int = 20,
    min_time_s: float = 0.5,
    clock: Clock = "wall",
) -> MediaPipeLatency:
    """Time MediaPipe's hand landmark network at batch 1, or say why it cannot run here.

    With ``clock="cpu"`` the figure is the CPU time of the whole process (MediaPipe runs its graph on its own
    threads), so XNNPACK's worker threads count too.
    """
    try:
        import mediapipe as mp
        from mediapipe.python import packet_creator
        from mediapipe.python._framework_bindings import calculator_graph, resource_util
    except ImportError as exc:
        return MediaPipeLatency(False, f"mediapipe (0.10.x) is not installed or lacks its graph API: {exc}")
    version = getattr(mp, "__version__", "?")
    root = os.path.dirname(os.path.dirname(mp.__file__))
    model = f"mediapipe/modules/hand_landmark/hand_landmark_{variant}.tflite"
    if not os.path.isfile(os.path.join(root, model)):
        return MediaPipeLatency(False, f"mediapipe {version} does not ship {model} (0.10.x wheels do)", version)
    resource_util.set_resource_dir(root)
    graph = calculator_graph.CalculatorGraph(graph_config=_GRAPH.format(model=model))
    seen: list[int] = []
    graph.observe_output_stream("tensors", lambda _stream, _packet: seen.append(1))
    graph.start_run()
    image = np.random.default_rng(0).integers(0, 256, size=(224, 224, 3), dtype=np.uint8)
    ts = [0]

    def one() -> None:
        packet = packet_creator.create_image_frame(image_format=mp.ImageFormat.SRGB, data=image)
        graph.add_packet_to_input_stream("image", packet.at(ts[0]))
        ts[0] += 1
        graph.wait_until_idle()

    try:
        timing = time_fn(one, warmup=warmup, repeats=repeats, min_time_s=min_time_s, clock=clock)
    finally:
        graph.close()
    if len(seen) != ts[0]:
        return MediaPipeLatency(False, f"graph produced {len(seen)} outputs for {ts[0]} inputs", version, model)
    return MediaPipeLatency(True, "", version, model, timing.best_s, timing.median_s, timing.repeats)

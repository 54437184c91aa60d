"""MediaPipe Hands' landmark network on a hand crop (the optional ``mediapipe`` extra, 0.10.x: it ships the model).

Only the landmark network runs (``hand_landmark_full.tflite`` from the wheel, through a small MediaPipe graph), not
the palm detector: it is given the same square crop as our network, resized to 224 × 224, without the rotation
MediaPipe's own tracker applies. Its first output tensor holds 21 × (x, y, z) in input pixels (x / 224 is
MediaPipe's normalized coordinate, so pixel corners: 0.5 is subtracted for the package's pixel centres). It takes
left and right hands alike (no mirroring).
"""

from __future__ import annotations

import os
from typing import Any, Literal

import numpy as np

from awhourglass.skeleton import NUM_JOINTS

MP_INPUT_PX = 224
_IMAGE_TO_TENSOR = """
input_stream: "image"
output_stream: "{output}"
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
  options {{ [mediapipe.InferenceCalculatorOptions.ext] {{
    model_path: "{model}" delegate {{ xnnpack {{{threads}}} }} }} }}
}}
"""
_TO_FLOATS = """
node {
  calculator: "TensorsToFloatsCalculator"
  input_stream: "TENSORS:tensors"
  output_stream: "FLOATS:floats"
}
"""


def landmark_graph(model: str, threads: int | None = None, floats: bool = False) -> str:
    """The graph text: a 224² RGB image → the landmark network; output stream ``tensors`` (all output tensors) or,
    with ``floats``, ``floats`` (tensor 0 as a list of floats)."""
    xnnpack = "" if threads is None else f" num_threads: {threads} "
    text = _IMAGE_TO_TENSOR.format(output="floats" if floats else "tensors", model=model, threads=xnnpack)
    return text + (_TO_FLOATS if floats else "")


def locate_model(variant: Literal["full", "lite"] = "full") -> tuple[Any, str] | str:
    """``(mediapipe module, model path relative to its resource dir)`` with the resource dir set, or the reason
    (one line) why MediaPipe's landmark network cannot run here."""
    try:
        import mediapipe as mp
        from mediapipe.python._framework_bindings import resource_util
    except ImportError as exc:
        return f"mediapipe (0.10.x) is not installed or lacks its graph API: {exc}"
    version = getattr(mp, "__version__", "?")
    root = os.path.dirname(os.path.dirname(mp.__file__))
    model = f"mediapipe/modules/hand_landmark/hand_landmark_{variant}.tflite"
    if not os.path.isfile(os.path.join(root, model)):
        return f"mediapipe {version} does not ship {model} (0.10.x wheels do)"
    resource_util.set_resource_dir(root)
    return mp, model


class MediaPipeLandmarks:
    """The landmark network: ``net(crop (224, 224, 3) uint8) → (21, 2)`` joints in the crop's pixels.

    Build with :meth:`open` (a reason string instead when MediaPipe is not available); ``close()`` when done.
    """

    def __init__(self, mp: Any, model: str) -> None:
        from mediapipe.python import packet_creator, packet_getter
        from mediapipe.python._framework_bindings import calculator_graph

        self.version, self.model = getattr(mp, "__version__", "?"), model
        self._mp, self._create = mp, packet_creator.create_image_frame
        self._out: list[list[float]] = []
        self._graph = calculator_graph.CalculatorGraph(graph_config=landmark_graph(model, floats=True))
        self._graph.observe_output_stream("floats", lambda _s, p: self._out.append(packet_getter.get_float_list(p)))
        self._graph.start_run()
        self._ts = 0

    @classmethod
    def open(cls, variant: Literal["full", "lite"] = "full") -> MediaPipeLandmarks | str:
        """The runnable network, or the one-line reason why not."""
        found = locate_model(variant)
        return found if isinstance(found, str) else cls(*found)

    def __call__(self, crop_rgb: np.ndarray) -> np.ndarray:
        crop = np.ascontiguousarray(crop_rgb, dtype=np.uint8)
        if crop.shape != (MP_INPUT_PX, MP_INPUT_PX, 3):
            raise ValueError(f"MediaPipe's landmark network takes a (224, 224, 3) crop, got {crop.shape}")
        self._out.clear()
        packet = self._create(image_format=self._mp.ImageFormat.SRGB, data=crop)
        self._graph.add_packet_to_input_stream("image", packet.at(self._ts))
        self._ts += 1
        self._graph.wait_until_idle()
        if len(self._out) != 1 or len(self._out[0]) < 3 * NUM_JOINTS:
            raise RuntimeError(f"MediaPipe's landmark graph gave {len(self._out)} outputs for one crop")
        xyz = np.asarray(self._out[0][: 3 * NUM_JOINTS], np.float64).reshape(NUM_JOINTS, 3)
        return xyz[:, :2] - 0.5

    def close(self) -> None:
        self._graph.close()

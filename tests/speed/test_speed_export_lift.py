"""`awh export --lift`: the ONNX graph also lifts the 2.5D output to millimetres, as geometry does in PyTorch."""

import dataclasses

import numpy as np
import onnxruntime as ort
import pytest
import torch
from torch import nn

from awhourglass import geometry
from awhourglass.checkpoint import atomic_save, checkpoint_dict
from awhourglass.export import LIFT_INPUTS, LIFT_OUTPUTS, LiftedPose, export_lifted
from awhourglass.models import AWHourglassNet, ModelConfig
from awhourglass.models.hourglass import HourglassOutput, StackOutput

TINY = ModelConfig(input_size=32, width=8, num_stacks=2, depth=2, depth_out_size=16, depth_width=4)
NETWORK_OUTPUTS = ["uv_px", "z_norm", "stacks_1_heatmap"]


def _tiny_checkpoint(path) -> AWHourglassNet:
    torch.manual_seed(0)
    model = AWHourglassNet(TINY)
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm2d):  # non-trivial running statistics
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
    atomic_save(checkpoint_dict({"model": dataclasses.asdict(TINY)}, {"model": model.state_dict()}), path)
    return model.eval()


def _intrinsics(batch: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """Realistic crop intrinsics ``(B, 3, 3)``: focal 250–350 px (fy ≠ fx), principal point near the centre."""
    f = 250.0 + 100.0 * torch.rand(batch, generator=gen)
    K = torch.zeros(batch, 3, 3)
    K[:, 0, 0], K[:, 1, 1] = f, f * 1.02
    K[:, :2, 2] = (size - 1) / 2 + 1.5 * torch.randn(batch, 2, generator=gen)
    K[:, 2, 2] = 1.0
    return K


def _reference_mm(uv: np.ndarray, z: np.ndarray, K: np.ndarray, bone_mm: np.ndarray, bone=TINY.scale_bone):
    """What the graph must return, in float64 numpy: ``(xyz_mm, xyz_cam_mm, ok)``."""
    uv, z, K, bone_mm = (np.asarray(a, np.float64) for a in (uv, z, K, bone_mm))
    rel, ok = geometry.lift_root_relative(uv, z, K, bone=bone)
    cam_m = geometry.decode_25d(uv, z, K, bone_mm / 1000.0, bone=bone)
    return rel * bone_mm[:, None, None], cam_m * 1000.0, ok


def _run(path, image, K, bone_mm) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": image.numpy(), "K": K.numpy(), "bone_mm": bone_mm.numpy()})
    return dict(zip([o.name for o in session.get_outputs()], got, strict=True))


def test_awh_export_lift_matches_pytorch_and_geometry(tmp_path, capsys):
    from awhourglass.cli import main

    model = _tiny_checkpoint(tmp_path / "model.pt")
    out = tmp_path / "lifted.onnx"
    assert main(["export", str(tmp_path / "model.pt"), "--onnx", str(out), "--lift"]) == 0
    assert "K (B, 3, 3)" in capsys.readouterr().out
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(LIFT_INPUTS)
    assert [o.name for o in session.get_outputs()] == [*NETWORK_OUTPUTS, *LIFT_OUTPUTS]
    gen = torch.Generator().manual_seed(1)
    for batch in (3, 1):  # the batch dimension is dynamic; each row has its own K and bone
        x = torch.rand(batch, 3, 32, 32, generator=gen)
        K, bone_mm = _intrinsics(batch, 32, gen), 70.0 + 30.0 * torch.rand(batch, generator=gen)
        got = _run(out, x, K, bone_mm)
        with torch.no_grad():
            ref = model(x)
        np.testing.assert_allclose(got["uv_px"], ref.uv_px.numpy(), atol=1e-4, rtol=0)
        np.testing.assert_allclose(got["z_norm"], ref.z_norm.numpy(), atol=1e-4, rtol=0)
        np.testing.assert_allclose(got["stacks_1_heatmap"], ref.stacks[1].heatmap.numpy(), atol=1e-4, rtol=0)
        assert got["xyz_mm"].shape == got["xyz_cam_mm"].shape == (batch, 21, 3)
        # The lift in the graph is geometry's, on the graph's own 2.5D output (itself PyTorch's within 1e-4
        # above): equal up to the float32 rounding of the outputs (half an ulp, 6e-8 relative; the lift runs in
        # float64). Relative, since a random network's hand stands 40-80 m away (a 2D scale bone under a pixel
        # at f ≈ 300 px), where one float32 ulp is already 4e-3 mm. The 1e-4 mm absolute check is below.
        xyz_mm, cam_mm, ok = _reference_mm(got["uv_px"], got["z_norm"], K.numpy(), bone_mm.numpy())
        np.testing.assert_array_equal(got["root_depth_ok"], ok)
        np.testing.assert_allclose(got["xyz_mm"], xyz_mm, rtol=1e-6, atol=1e-4)
        np.testing.assert_allclose(got["xyz_cam_mm"], cam_mm, rtol=1e-6, atol=1e-4)
        # Against PyTorch's own 2.5D output: onnxruntime's uv_px differs by a few 1e-6 px, a ~1e-5 relative change
        # of that sub-pixel bone, which the closed-form root depth passes on to every coordinate (seen: ≤ 1.5e-4
        # relative); this catches a wrong unit, bone or K row, each off by far more.
        xyz_mm, cam_mm, ok = _reference_mm(ref.uv_px.numpy(), ref.z_norm.numpy(), K.numpy(), bone_mm.numpy())
        np.testing.assert_array_equal(got["root_depth_ok"], ok)
        np.testing.assert_allclose(got["xyz_mm"], xyz_mm, rtol=1e-3, atol=1e-4)
        np.testing.assert_allclose(got["xyz_cam_mm"], cam_mm, rtol=1e-3, atol=1e-4)


class _Exact25D(nn.Module):
    """A stand-in pose network whose 2.5D output is read off the image exactly (one float32 multiply or
    subtract, correctly rounded in PyTorch and onnxruntime alike): row 0 of channels 0, 1 carries ``u/S, v/S``,
    channel 2 ``(z_norm + 2)/4``. With no network jitter, the lift is compared at 1e-4 mm on realistic hands."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.scale = nn.Parameter(torch.ones(()))  # a parameter, as a network has

    def forward(self, image: torch.Tensor) -> HourglassOutput:
        s = self.cfg.input_size
        uv = image[:, :2, 0, :21].transpose(1, 2) * (s * self.scale)
        z = image[:, 2, 0, :21] * 4.0 - 2.0
        heat = image[:, :1, : self.cfg.heatmap_size, : self.cfg.heatmap_size].repeat(1, 21, 1, 1)
        stack = StackOutput(heat, heat, uv, z, heat)
        return HourglassOutput(stacks=[stack], uv_px=uv, z_norm=z)


def _hands_m(batch: int, gen: np.random.Generator) -> np.ndarray:
    """Camera-space hands ``(B, 21, 3)`` [m]: roots at 0.35–0.9 m, joints within a hand's reach of the root."""
    root = np.stack([gen.uniform(-0.03, 0.03, batch), gen.uniform(-0.03, 0.03, batch), gen.uniform(0.35, 0.9, batch)],
                    -1)
    return root[:, None, :] + gen.normal(0.0, 0.035, (batch, 21, 3))


def test_lifted_graph_matches_geometry_within_1e_4_mm_on_realistic_hands(tmp_path):
    cfg = ModelConfig(input_size=64, width=8, num_stacks=1, depth=2, depth_out_size=16, depth_width=4)
    net = _Exact25D(cfg)
    path = tmp_path / "exact.onnx"
    assert export_lifted(net, path) == ["uv_px", "z_norm", "stacks_0_heatmap", *LIFT_OUTPUTS]
    gen = np.random.default_rng(3)
    batch = 5
    K = _intrinsics(batch, 64, torch.Generator().manual_seed(2))
    hands = _hands_m(batch, gen)
    uv, z = geometry.encode_25d(hands, K.double().numpy())
    z[-1, 9] = z[-1, 0] + 1.5  # a bone longer than itself along the ray: no real root depth (ok False)
    image = torch.from_numpy(gen.uniform(0, 1, (batch, 3, 64, 64))).float()
    image[:, 0, 0, :21] = torch.from_numpy(uv[..., 0] / 64)
    image[:, 1, 0, :21] = torch.from_numpy(uv[..., 1] / 64)
    image[:, 2, 0, :21] = torch.from_numpy((z + 2.0) / 4.0)
    _, bone_m = geometry.root_and_scale(hands)
    bone_mm = torch.from_numpy(bone_m * 1000.0).float()
    for rows in (slice(None), slice(0, 1)):
        got = _run(path, image[rows], K[rows], bone_mm[rows])
        with torch.no_grad():
            ref = net(image[rows])
        np.testing.assert_array_equal(got["uv_px"], ref.uv_px.numpy())  # exact: no jitter to amplify
        xyz_mm, cam_mm, ok = _reference_mm(ref.uv_px.numpy(), ref.z_norm.numpy(), K[rows].numpy(),
                                           bone_mm[rows].numpy())
        np.testing.assert_array_equal(got["root_depth_ok"], ok)
        np.testing.assert_allclose(got["xyz_mm"], xyz_mm, atol=1e-4, rtol=0)
        np.testing.assert_allclose(got["xyz_cam_mm"], cam_mm, atol=1e-4, rtol=0)
    full = _run(path, image, K, bone_mm)
    assert full["root_depth_ok"].tolist() == [True] * (batch - 1) + [False]  # the vertex fallback is compared too
    # and the graph recovers the hands themselves (mm, camera space), to the float32 rounding of uv and z
    np.testing.assert_allclose(full["xyz_cam_mm"][:-1], hands[:-1] * 1000.0, atol=0.01, rtol=0)
    assert np.abs(full["xyz_cam_mm"][:-1]).max() < 1200  # realistic: the check above is at float32's mm scale


def test_plain_export_is_unchanged_by_the_lift(tmp_path):
    from awhourglass.export import export_checkpoint

    _tiny_checkpoint(tmp_path / "model.pt")
    plain, lifted = tmp_path / "plain.onnx", tmp_path / "lifted.onnx"
    assert export_checkpoint(tmp_path / "model.pt", plain) == NETWORK_OUTPUTS
    assert export_checkpoint(tmp_path / "model.pt", lifted, lift=True) == [*NETWORK_OUTPUTS, *LIFT_OUTPUTS]
    session = ort.InferenceSession(str(plain), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("image", ["batch", 3, 32, 32])]
    assert [o.name for o in session.get_outputs()] == NETWORK_OUTPUTS
    gen = torch.Generator().manual_seed(4)
    x = torch.rand(2, 3, 32, 32, generator=gen)
    got_plain = session.run(None, {"image": x.numpy()})
    got_lifted = _run(lifted, x, _intrinsics(2, 32, gen), torch.tensor([80.0, 95.0]))
    for name, g in zip(NETWORK_OUTPUTS, got_plain, strict=True):  # the network part is the same graph
        np.testing.assert_allclose(got_lifted[name], g, atol=1e-6, rtol=0)


def test_lift_refuses_inputs_that_do_not_match_the_images(tmp_path):
    model = _tiny_checkpoint(tmp_path / "model.pt")
    lifted = LiftedPose(model)
    x, gen = torch.rand(3, 3, 32, 32), torch.Generator().manual_seed(5)
    K, bone_mm = _intrinsics(3, 32, gen), torch.full((3,), 80.0)
    with pytest.raises(ValueError, match=r"K: expected shape \(3, 3, 3\) \(one crop intrinsics per image\), got \(2,"):
        lifted(x, K[:2], bone_mm)
    with pytest.raises(ValueError, match=r"K: expected shape \(3, 3, 3\).*got \(3, 9\)"):
        lifted(x, K.reshape(3, 9), bone_mm)
    with pytest.raises(ValueError, match=r"bone_mm: expected shape \(3,\) \(one bone length per image\), got \(3, 1\)"):
        lifted(x, K, bone_mm[:, None])
    # the graph's three inputs share one batch symbol: onnxruntime refuses a K or bone_mm of another batch
    # (even a single row, which plain broadcasting would have applied to every image)
    path = tmp_path / "lifted.onnx"
    export_lifted(model, path)
    with pytest.raises(Exception, match=r"dim_param|broadcast"):
        _run(path, x, K[:1], bone_mm)
    with pytest.raises(Exception, match=r"dim_param|broadcast"):
        _run(path, x, K, bone_mm[:2])

"""The shipped source network: its bytes match the recorded sha256, it loads with weights_only=True."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from awhourglass.config import from_dict
from awhourglass.demo.pretrained import MANIFEST, SHIPPED, read_manifest, sha256_of, shipped_network
from awhourglass.errors import AwhError
from awhourglass.models.config import ModelConfig
from awhourglass.models.hourglass import AWHourglassNet


def test_shipped_network_matches_its_manifest_and_loads_weights_only():
    doc = read_manifest()
    assert SHIPPED.name == doc["file"] and SHIPPED.stat().st_size <= 10 * 2**20
    assert sha256_of(SHIPPED) == doc["sha256"]
    for key in ("command", "data_seed", "code_version", "steps"):
        assert doc[key] not in (None, "", "unknown")
    ckpt = torch.load(SHIPPED, map_location="cpu", weights_only=True)
    net = AWHourglassNet(from_dict(ModelConfig, doc["model"]))
    net.load_state_dict(ckpt["modules"]["model"])  # strict: every weight of the recorded architecture
    assert ckpt["config"]["model"] == doc["model"] and ckpt["step"] == doc["steps"]
    path, _ = shipped_network()
    assert path == SHIPPED


def test_a_damaged_shipped_network_is_refused(tmp_path):
    shutil.copyfile(SHIPPED, tmp_path / SHIPPED.name)
    doc = json.loads(MANIFEST.read_text())
    (tmp_path / MANIFEST.name).write_text(json.dumps(doc))
    assert shipped_network(tmp_path / MANIFEST.name)[0] == tmp_path / SHIPPED.name
    with open(tmp_path / SHIPPED.name, "r+b") as f:  # flip one byte
        f.seek(1000)
        b = f.read(1)
        f.seek(1000)
        f.write(bytes([b[0] ^ 0xFF]))
    with pytest.raises(AwhError, match="sha256"):
        shipped_network(tmp_path / MANIFEST.name)
    (tmp_path / SHIPPED.name).unlink()
    with pytest.raises(AwhError, match="missing"):
        shipped_network(tmp_path / MANIFEST.name)

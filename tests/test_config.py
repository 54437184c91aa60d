from dataclasses import dataclass, field
from typing import Literal

import pytest

from awhourglass.config import ConfigError, dump_yaml, from_dict, load_yaml


@dataclass
class Inner:
    width: int = 64
    rate: float = 1e-3


@dataclass
class Outer:
    name: str = "x"
    mode: Literal["a", "b"] = "a"
    inner: Inner = field(default_factory=Inner)
    sizes: tuple[int, ...] = (1, 2)
    pair: tuple[int, float] = (1, 2.0)
    maybe: float | None = None
    flag: bool = False


def test_round_trip_through_yaml(tmp_path):
    cfg = Outer(name="y", mode="b", inner=Inner(width=8, rate=0.5), sizes=(3,), maybe=2.5, flag=True)
    p = tmp_path / "c.yaml"
    p.write_text(dump_yaml(cfg))
    assert load_yaml(Outer, p) == cfg


def test_defaults_and_int_to_float():
    cfg = from_dict(Outer, {"inner": {"rate": 1}})
    assert cfg.inner == Inner(64, 1.0) and isinstance(cfg.inner.rate, float)


@pytest.mark.parametrize(
    "data,match",
    [
        ({"nmae": "typo"}, r"unknown key\(s\) \['nmae'\]"),
        ({"inner": {"widht": 3}}, r"Outer.inner: unknown key"),
        ({"mode": "c"}, "not one of"),
        ({"inner": {"width": 2.5}}, "expected an integer"),
        ({"flag": "yes"}, "true/false"),
        ({"pair": [1]}, "expected 2 items"),
        ({"maybe": "x"}, "expected a number"),
    ],
)
def test_bad_configs_are_rejected(data, match):
    with pytest.raises(ConfigError, match=match):
        from_dict(Outer, data)


def test_unreadable_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_yaml(Outer, tmp_path / "missing.yaml")
    p = tmp_path / "bad.yaml"
    p.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(Outer, p)

"""Segment properties: the format notes' example, the rules, and a layer that carries them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest

from voxelio import CloudVolume, SegmentProperties
from voxelio.errors import InfoError

EXAMPLE = {
    "@type": "neuroglancer_segment_properties",
    "inline": {
        "ids": ["1", "42"],
        "properties": [
            {"id": "label", "type": "label", "values": ["soma", "axon"]},
            {"id": "description", "type": "description", "values": ["...", "..."]},
            {"id": "notes", "type": "string", "description": "free text", "values": ["a", "b"]},
            {"id": "tags", "type": "tags", "tags": ["exc", "inh"],
             "tag_descriptions": ["excitatory", "inhibitory"], "values": [[0], [0, 1]]},
            {"id": "volume_um3", "type": "number", "data_type": "float32", "values": [12.5, 3.0]},
        ],
    },
}  # fmt: skip


def test_the_format_notes_example_round_trips_exactly() -> None:
    props = SegmentProperties.from_json(EXAMPLE)
    assert props.to_json() == EXAMPLE
    assert props.ids == (1, 42)
    assert props.get(42) == {"label": "axon", "description": "...", "notes": "b",
                             "tags": ["exc", "inh"], "volume_um3": 3.0}  # fmt: skip
    assert props.get(7) == {}
    assert props.named("tags").tag_descriptions == ("excitatory", "inhibitory")


def test_no_inline_means_no_properties() -> None:
    empty = SegmentProperties.from_json({"@type": "neuroglancer_segment_properties"})
    assert len(empty) == 0 and empty.properties == ()


def test_build_from_columns() -> None:
    props = SegmentProperties.build(
        [5, 3, 9],
        labels=["a", "b", "c"],
        tags=[["inh"], [], ["exc", "inh"]],
        tag_descriptions={"exc": "excitatory"},
        numbers={
            "size": np.array([1, 2, 300], np.uint16),
            "score": [0.5, 1, 2],
            "mean": np.array([0.25, 1.5, 2.0]),
        },
    )
    obj = props.to_json()
    assert obj["inline"]["ids"] == ["5", "3", "9"]
    tags = obj["inline"]["properties"][1]
    assert tags["tags"] == ["exc", "inh"] and tags["values"] == [[1], [], [0, 1]]
    assert tags["tag_descriptions"] == ["excitatory", ""]
    assert obj["inline"]["properties"][2]["data_type"] == "uint16"
    assert obj["inline"]["properties"][3]["data_type"] == "float32"
    assert obj["inline"]["properties"][4]["data_type"] == "float32"  # from float64
    assert SegmentProperties.from_json(json.loads(json.dumps(obj))) == props


def _with(change) -> dict:
    obj = copy.deepcopy(EXAMPLE)
    change(obj["inline"])
    return obj


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"@type": "neuroglancer_annotations_v1"}, "@type"),
        ({"@type": "neuroglancer_segment_properties", "inline": []}, "inline"),
        (_with(lambda o: o["properties"][0].update(type="Label")), "'Label'"),
        (_with(lambda o: o.update(ids=["1", "x"])), "'x'"),
        (_with(lambda o: o.update(ids=["1", "1"])), "unique"),
        (_with(lambda o: o.update(ids=["1", str(1 << 64)])), "uint64"),
        (_with(lambda o: o["properties"][0].update(values=["soma"])), "2 values"),
        (_with(lambda o: o["properties"].append(dict(o["properties"][0], id="x"))), "at most one"),
        (_with(lambda o: o["properties"][3].update(tags=["#exc", "inh"])), "'#'"),
        (_with(lambda o: o["properties"][3].update(tags=["ex c", "inh"])), "spaces"),
        (_with(lambda o: o["properties"][3].update(tags=["Exc", "exc"])), "ignoring case"),
        (_with(lambda o: o["properties"][3].update(values=[[0], [1, 0]])), "sorted"),
        (_with(lambda o: o["properties"][3].update(values=[[0], [2]])), "< 2"),
        (_with(lambda o: o["properties"][3].update(tag_descriptions=["x"])), "one string per tag"),
        (_with(lambda o: o["properties"][3].update(description="no")), "tags"),
        (_with(lambda o: o["properties"][4].update(data_type="uint64")), "uint64"),
        (_with(lambda o: o["properties"][4].update(data_type="uint8", values=[1, 256])), "uint8"),
        (_with(lambda o: o["properties"][4].update(values=[1, "2"])), "not a finite number"),
        (_with(lambda o: o["properties"][4].update(values=[1, float("nan")])), "not a finite"),
        (
            _with(lambda o: o["properties"][4].update(data_type="int8", values=[1, float("inf")])),
            "not a finite",
        ),
        (_with(lambda o: o.update(ids=["1", "\u00b2"])), "base-10"),
        (_with(lambda o: o["properties"][2].update(values=["a", 3])), "strings"),
        (_with(lambda o: o["properties"][2].update(type="colour")), "colour"),
    ],
)
def test_rule_breaches_are_refused(obj: dict, message: str) -> None:
    with pytest.raises(InfoError, match=message):
        SegmentProperties.from_json(obj)


def test_a_layer_commits_and_reads_its_properties(tmp_path: Path) -> None:
    import tensorstore as ts
    from cloudvolume import CloudVolume as CV

    url = f"file://{tmp_path / 'seg'}"
    info = CloudVolume.create_new_info(1, "segmentation", "uint64", "raw", [8, 8, 40], [0, 0, 0],
                                       [64, 64, 16], chunk_size=[32, 32, 16])  # fmt: skip
    vol = CloudVolume(url, info=info)
    vol.commit_info()
    vol[:, :, :] = np.arange(64 * 64 * 16, dtype=np.uint64).reshape(64, 64, 16, 1) % 3
    assert vol.segment_properties is None
    props = SegmentProperties.build([1, 2], labels=["one", "two"])
    vol.commit_segment_properties(props)
    stored = json.loads((tmp_path / "seg" / "segment_properties" / "info").read_text())
    assert stored == props.to_json()
    again = CloudVolume(url)
    assert again.info["segment_properties"] == "segment_properties"
    assert again.segment_properties == props
    # the peers still open the layer whose info now names the properties
    assert CV(url).info["segment_properties"] == "segment_properties"
    spec = {"driver": "neuroglancer_precomputed", "kvstore": f"file://{tmp_path / 'seg'}/"}
    np.testing.assert_array_equal(ts.open(spec).result()[:, :, :, 0].read().result(),
                                  vol[:, :, :][..., 0])  # fmt: skip
    (tmp_path / "seg" / "segment_properties" / "info").write_text('{"@type": "nope"}')
    with pytest.raises(InfoError, match="segment_properties/info"):
        _ = again.segment_properties

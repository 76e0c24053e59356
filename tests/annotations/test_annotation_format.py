"""The annotation info and record bytes, checked against layouts built by hand with struct."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from voxelio.annotations.records import (
    Columns,
    check_record_size,
    decode_multiple,
    decode_single,
    encode_multiple,
    encode_single,
)
from voxelio.errors import DecodingError, EncodingError, InfoError
from voxelio.meta.annotations import AnnotationInfo


def info_json(kind: str = "point", properties=(), relationships=(), rank: int = 3) -> dict:
    names = "xyzt"[:rank]
    return {
        "@type": "neuroglancer_annotations_v1",
        "dimensions": {n: [4e-9, "m"] for n in names},
        "lower_bound": [0.0] * rank,
        "upper_bound": [100.0] * rank,
        "annotation_type": kind,
        "properties": list(properties),
        "relationships": [{"id": r, "key": f"rel_{r}"} for r in relationships],
        "by_id": {"key": "by_id"},
        "spatial": [{"key": "spatial0", "grid_shape": [1] * rank, "chunk_size": [100.0] * rank,
                     "limit": 10}],
    }  # fmt: skip


MIXED = [
    {"id": "small", "type": "uint8"},
    {"id": "score", "type": "float32"},
    {"id": "delta", "type": "int16"},
    {"id": "colour", "type": "rgb"},
    {"id": "count", "type": "uint32"},
]


def test_point_record_sorts_properties_by_alignment_and_pads() -> None:
    info = AnnotationInfo.from_json(info_json(properties=MIXED))
    cols = Columns(
        np.array([[1.5, 2.5, 3.5]], np.float32),
        np.array([7], np.uint64),
        {"small": np.array([9], np.uint8), "score": np.array([0.25], np.float32),
         "delta": np.array([-3], np.int16), "colour": np.array([[1, 2, 3]], np.uint8),
         "count": np.array([70000], np.uint32)},
    )  # fmt: skip
    # geometry, then 4-byte (score, count in info order), 2-byte (delta), 1-byte (small, rgb)
    record = struct.pack("<3ffIhB3B", 1.5, 2.5, 3.5, 0.25, 70000, -3, 9, 1, 2, 3)
    record += b"\0" * (-len(record) % 4)
    assert len(record) == 28
    assert encode_multiple(info, cols) == struct.pack("<Q", 1) + record + struct.pack("<Q", 7)
    back = decode_multiple(info, struct.pack("<Q", 1) + record + struct.pack("<Q", 7), "cell")
    assert back.ids.tolist() == [7]
    assert back.properties["count"].tolist() == [70000]
    assert back.properties["colour"].tolist() == [[1, 2, 3]]
    np.testing.assert_array_equal(back.geometry, cols.geometry)


def test_by_id_value_carries_relationships_in_info_order() -> None:
    info = AnnotationInfo.from_json(info_json("line", relationships=["pre", "post"]))
    geometry = np.array([[[0, 10], [1, 11], [2, 12]]], np.float32)  # (n, rank, 2): A then B
    cols = Columns(geometry, np.array([3], np.uint64), {})
    related = [np.array([5], np.uint64), np.array([6, 8], np.uint64)]
    data = encode_single(info, cols, 0, related)
    expected = struct.pack("<6f", 0, 1, 2, 10, 11, 12) + struct.pack("<IQ", 1, 5)
    expected += struct.pack("<IQQ", 2, 6, 8)
    assert data == expected
    back, rels = decode_single(info, data, 3, "by_id/3")
    np.testing.assert_array_equal(back.geometry, geometry)
    assert {k: v.tolist() for k, v in rels.items()} == {"pre": [5], "post": [6, 8]}


def test_polylines_have_their_own_lengths() -> None:
    info = AnnotationInfo.from_json(
        info_json("polyline", properties=[{"id": "a", "type": "uint8"}])
    )
    lines = [np.array([[0, 0, 0], [1, 2, 3]], np.float32), np.array([[5, 5, 5]], np.float32)]
    cols = Columns(lines, np.array([1, 2], np.uint64), {"a": np.array([4, 5], np.uint8)})
    data = encode_multiple(info, cols)
    first = struct.pack("<I6fB3x", 2, 0, 0, 0, 1, 2, 3, 4)
    second = struct.pack("<I3fB3x", 1, 5, 5, 5, 5)
    assert data == struct.pack("<Q", 2) + first + second + struct.pack("<2Q", 1, 2)
    back = decode_multiple(info, data, "cell")
    assert [v.tolist() for v in back.geometry] == [v.tolist() for v in lines]
    with pytest.raises(DecodingError, match="cell"):
        decode_multiple(info, data[:-3], "cell")


@pytest.mark.parametrize("claimed", [2**32 - 1, 2**28])
def test_a_polyline_claiming_more_vertices_than_its_bytes_is_refused(claimed: int) -> None:
    info = AnnotationInfo.from_json(info_json("polyline"))
    with pytest.raises(DecodingError, match=f"polyline of {claimed} vertices"):
        decode_multiple(info, struct.pack("<QI", 1, claimed) + bytes(20), "spatial0/0_0_0")
    with pytest.raises(DecodingError, match="by_id/5"):
        decode_single(info, struct.pack("<I", claimed) + bytes(20), 5, "by_id/5")


@pytest.mark.parametrize("cut", [3, 9, 20])
def test_truncated_or_padded_values_are_refused_with_their_key(cut: int) -> None:
    info = AnnotationInfo.from_json(info_json(relationships=["pre"]))
    cols = Columns(np.zeros((2, 3), np.float32), np.array([1, 2], np.uint64), {})
    data = encode_multiple(info, cols)
    with pytest.raises(DecodingError, match="spatial0/0_0_0"):
        decode_multiple(info, data[:-cut], "spatial0/0_0_0")
    with pytest.raises(DecodingError, match="spatial0/0_0_0"):
        decode_multiple(info, data + b"\0" * 8, "spatial0/0_0_0")
    single = encode_single(info, cols, 0, [np.array([9], np.uint64)])
    with pytest.raises(DecodingError, match="by_id/1"):
        decode_single(info, single[:-cut], 1, "by_id/1")
    with pytest.raises(DecodingError, match="by_id/1"):
        decode_single(info, single + b"\0", 1, "by_id/1")


def test_info_round_trip_keeps_unknown_keys_and_reads_chunk_shape() -> None:
    obj = info_json("ELLIPSOID", properties=[{"id": "kind", "type": "UINT8", "enum_values": [0, 1],
                                              "enum_labels": ["a", "b"]}])  # fmt: skip
    obj["spatial"][0]["chunk_shape"] = obj["spatial"][0].pop("chunk_size")
    obj["by_id"]["sharding"] = {"@type": "neuroglancer_uint64_sharded_v1", "preshift_bits": 0,
                                "hash": "MurmurHash3_x86_128", "minishard_bits": 1,
                                "shard_bits": 1}  # fmt: skip
    obj["mine"] = {"kept": True}
    info = AnnotationInfo.from_json(obj)
    assert info.annotation_type == "ellipsoid"
    assert info.properties[0].enum == {0: "a", 1: "b"}
    out = info.to_json()
    assert out["mine"] == {"kept": True}
    assert out["spatial"][0]["chunk_size"] == [100.0] * 3
    assert out["by_id"]["sharding"]["hash"] == "murmurhash3_x86_128"
    assert AnnotationInfo.from_json(out) == info


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda o: o.update({"@type": "neuroglancer_skeletons"}), "@type"),
        (lambda o: o.update({"annotation_type": "circle"}), "circle"),
        (lambda o: o.update({"lower_bound": [0, 0]}), "lower_bound"),
        (lambda o: o.update({"upper_bound": [-1, 0, 0]}), "exceeds"),
        (lambda o: o.update({"dimensions": {"x": [0, "m"]}}), "dimensions"),
        (lambda o: o.update({"properties": [{"id": "Bad", "type": "uint8"}]}), "Bad"),
        (lambda o: o.update({"properties": [{"id": "a", "type": "uint64"}]}), "uint64"),
        (lambda o: o.update({"properties": [{"id": "a", "type": "uint8"}] * 2}), "unique"),
        (
            lambda o: o.update(
                {
                    "properties": [
                        {"id": "a", "type": "rgb", "enum_values": [1], "enum_labels": ["x"]}
                    ]
                }
            ),
            "enums",
        ),  # fmt: skip
        (
            lambda o: o.update({"properties": [{"id": "a", "type": "uint8", "enum_values": [1]}]}),
            "together",
        ),
        (lambda o: o["spatial"][0].update({"grid_shape": [1, 0, 1]}), "grid_shape"),
        (lambda o: o["spatial"][0].update({"limit": 0}), "limit"),
        (lambda o: o["spatial"][0].pop("key"), "key"),
        (lambda o: o["by_id"].update({"sharding": {"@type": "x"}}), "by_id"),
        (lambda o: o.update({"relationships": [{"key": "r"}]}), "relationships"),
    ],
)
def test_malformed_infos_are_refused_saying_what_is_wrong(change, message: str) -> None:
    obj = info_json()
    change(obj)
    with pytest.raises(InfoError, match=message):
        AnnotationInfo.from_json(obj)


def test_records_over_255_bytes_are_refused() -> None:
    props = [{"id": f"p{i}", "type": "float32"} for i in range(62)]
    info = AnnotationInfo.from_json(info_json(properties=props))
    with pytest.raises(EncodingError, match="255"):
        check_record_size(info, "somewhere/info")
    check_record_size(AnnotationInfo.from_json(info_json(properties=props[:60])), "ok")

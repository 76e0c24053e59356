"""The layer rule of DESIGN.md: each module imports only from layers below it."""

import ast
import pathlib

SRC = pathlib.Path(__file__).resolve().parents[2] / "src" / "voxelio"

LAYERS = {
    "errors": 0,
    "exceptions": 0,
    "lib": 0,
    "streaming": 0,
    "geometry": 0,
    "paths": 0,
    "meta": 0,
    "sharding.spec": 0,
    "sharding.planning": 0,
    "sharding.image": 0,
    "codecs": 1,
    "compression": 1,
    "storage": 2,
    "sharding": 3,
    "cache": 3,
    "image": 4,
    "meshes": 4,
    "skeletons": 4,
    "annotations": 4,
    "spatial_index": 4,
    "segment_properties": 4,
    "formats": 5,
    "volume": 6,
    "volume_meta": 6,
    "cutout": 6,
    "window": 6,
    "__init__": 6,
    "demo": 7,
    "cli": 7,
    "dask": 7,
}


def layer_of(module: str) -> int:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        if name in LAYERS:
            return LAYERS[name]
    raise AssertionError(f"module {module} has no layer in the table")


def imports_of(path: pathlib.Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("voxelio"):
            yield node.module.removeprefix("voxelio").lstrip(".") or "__init__", node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("voxelio."):
                    yield alias.name.removeprefix("voxelio."), node.lineno


def test_imports_only_go_down():
    problems = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        module = ".".join(rel.parts).removesuffix(".__init__") or "__init__"
        own = layer_of(module)
        for target, line in imports_of(path):
            if layer_of(target) > own:
                problems.append(f"{rel}:{line} imports {target} (layer {layer_of(target)} > {own})")
    assert not problems, "\n".join(problems)


def test_no_relative_imports():
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path}: relative import"

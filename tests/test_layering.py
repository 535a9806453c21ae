"""The package's layering: no import cycles between its packages, and lower layers never import higher ones.

Every import in every source file counts, also those inside functions (a
deferred import is still a dependency), read with :mod:`ast` by
:func:`audiodissect.stage.module_imports`.
"""

from pathlib import Path

import audiodissect
from audiodissect.stage import module_imports

ROOT = Path(audiodissect.__file__).parent

#: Lowest first. A package may import its own layer or lower ones, never a higher one.
LAYERS = [
    {"errors", "cache", "progress", "audio", "class_names", "layers", "pooling", "layout", "sentences",
     "descriptors", "executor", "arrays", "registry"},
    {"probes", "text_embedder", "similarity", "targets"},
    {"config", "rundir", "stage", "llm", "evidence"},
    {"captioners"},
    {"record", "describe", "identify", "summarize"},
    {"scoring", "prune", "planted", "analyses"},
    {"report"},
    {"results", "pipeline", "dissection"},
    {"cli", "__main__"},
]


def component(module: str) -> str | None:
    """``audiodissect.x.y`` -> ``x`` (None outside the package)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "audiodissect" else None


def import_edges() -> dict[str, dict[str, str]]:
    """{package: {imported package: a file that imports it}} over the whole source tree."""
    edges: dict[str, dict[str, str]] = {}
    for path in ROOT.rglob("*.py"):
        parts = ("audiodissect",) + path.relative_to(ROOT).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        source = component(module)
        if source is None:  # the package's own __init__
            continue
        for name in module_imports(path, module):  # the reader the stage runner derives code versions with
            target = component(name)
            if target and target != source and target != "__version__":
                edges.setdefault(source, {}).setdefault(target, str(path.relative_to(ROOT)))
    return edges


def test_every_package_has_a_layer():
    known = set().union(*LAYERS)
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in ROOT.glob("*.py") if p.stem != "__init__"}
    assert packages | modules <= known, sorted((packages | modules) - known)


def test_lower_layers_never_import_higher_ones():
    rank = {name: i for i, layer in enumerate(LAYERS) for name in layer}
    upward = [f"{src} -> {dst} ({where})" for src, targets in import_edges().items()
              for dst, where in targets.items() if rank[dst] > rank[src]]
    assert upward == []


def test_no_import_cycles_between_packages():
    graph = {src: set(targets) for src, targets in import_edges().items()}
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                cycle.extend(path[path.index(nxt):] + [node, nxt] if nxt in path else [node, nxt])
                return True
            if state.get(nxt) is None and visit(nxt, path + [node]):
                return True
        state[node] = 2
        return False

    for node in sorted(graph):
        if state.get(node) is None and visit(node, []):
            break
    assert cycle == []

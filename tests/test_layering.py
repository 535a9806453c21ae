"""The package's layering: no import cycles between its packages or between the modules of one package, and lower
layers never import higher ones.

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
     "descriptors", "executor", "arrays", "records", "registry", "frames", "htmlrepr", "default_layers", "lazy",
     "text_store", "allocator", "threads"},
    {"probes", "text_embedder", "similarity", "targets"},
    {"config", "rundir", "stage", "trust", "llm", "evidence"},
    {"captioners"},
    {"record", "describe", "identify", "summarize"},
    {"scoring", "prune", "planted", "analyses", "sae"},
    {"report"},
    {"results", "arguments", "dissection", "export", "notebook"},
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


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One cycle of `graph` ({node: nodes it imports}) as ``[a, b, ..., a]``, or ``[]`` when it has none."""
    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(node: str, path: list[str]) -> bool:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
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
    return cycle


def test_no_import_cycles_between_packages():
    graph = {src: set(targets) for src, targets in import_edges().items()}
    assert find_cycle(graph) == []


def module_graphs(root: Path) -> dict[str, dict[str, set[str]]]:
    """{package: {module: modules of the same package it imports}} for every package of the tree at `root`.

    `root` is a folder called ``audiodissect`` (the name :func:`module_imports`
    reads imports of). A package's modules are its ``__init__`` and its
    ``.py`` files (not its subpackages). ``from . import x`` reads module
    ``x``, not the package's ``__init__``; ``from . import name`` of a name
    the ``__init__`` defines reads the ``__init__``.
    """
    files: dict[str, Path] = {}
    for path in root.rglob("*.py"):
        parts = ("audiodissect",) + path.relative_to(root).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    packages = {m for m, p in files.items() if p.name == "__init__.py"}

    def home(module: str) -> str:
        return module if module in packages else module.rpartition(".")[0]

    graphs: dict[str, dict[str, set[str]]] = {}
    for module, path in files.items():
        imported = set()
        for name in module_imports(path, module):
            if name in packages:  # the stem of `from <package> import ...`: its names are listed after it
                continue
            while name and name not in files:  # `pkg.mod.name` -> `pkg.mod`, `pkg.name` -> `pkg`
                name = name.rpartition(".")[0]
            if name and name != module and home(name) == home(module):
                imported.add(name)
        graphs.setdefault(home(module), {})[module] = imported
    return graphs


def in_package_circles(root: Path) -> list[list[str]]:
    """One import cycle for each package of the tree at `root` that has one."""
    circles = []
    for graph in module_graphs(root).values():
        cycle = find_cycle(graph)
        if cycle:
            circles.append(cycle)
    return circles


def test_no_import_cycles_between_the_modules_of_a_package():
    assert in_package_circles(ROOT) == []


def _toy_package(root: Path, c_source: str) -> Path:
    """A package ``audiodissect.inner`` under `root` whose a -> b -> c chain ends in `c_source`."""
    package = root / "audiodissect" / "inner"
    package.mkdir(parents=True)
    (root / "audiodissect" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("from .a import f\n\nHELPER = 1\n")
    (package / "a.py").write_text("from . import b\n\ndef f():\n    return b.g()\n")
    (package / "b.py").write_text("def g():\n    from .c import h\n    return h()\n")  # inside a function
    (package / "c.py").write_text(c_source)
    (package / "d.py").write_text("from .. import inner\nfrom . import a, b\n")  # reads modules only
    return root / "audiodissect"


def test_a_circle_inside_a_package_is_found(tmp_path):
    circular = _toy_package(tmp_path / "circular", "from . import HELPER\n\ndef h():\n    return HELPER\n")
    graphs = module_graphs(circular)
    assert graphs["audiodissect.inner"]["audiodissect.inner.d"] == {"audiodissect.inner.a", "audiodissect.inner.b"}
    assert graphs["audiodissect.inner"]["audiodissect.inner.c"] == {"audiodissect.inner"}  # the __init__'s name
    [cycle] = in_package_circles(circular)
    assert cycle[0] == cycle[-1]
    assert set(cycle) == {"audiodissect.inner", "audiodissect.inner.a", "audiodissect.inner.b", "audiodissect.inner.c"}
    straight = _toy_package(tmp_path / "straight", "HELPER = 1\n\ndef h():\n    return HELPER\n")
    assert in_package_circles(straight) == []

"""Imports run one way: no module of pipeline/ components/ trainer/ serving/ reaches itself again through the
project's imports, counting function-level ones (a cycle hidden behind a function-level import still couples
the modules and still breaks when the import moves). Read from the source (AST), so no module is imported."""
import ast
from pathlib import Path

from pipeline.core import imports

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("tensorflow", "tfx", "apache_beam", "ml_metadata", "tensorflow_transform", "tensorflow_data_validation",
         "tensorflow_model_analysis", "tf_keras", "keras")


def test_no_import_cycle():
    cycles = imports.cycles(imports.graph(ROOT))
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_graph_sees_every_kind_of_import():
    """The walk itself: top-level, function-level and relative imports all make edges (else the cycle test
    would pass on a graph with edges missing)."""
    edges = imports.graph(ROOT)
    assert len(edges) > 60 and "pipeline.core.rundir" in edges
    assert "pipeline.preflight" in edges["pipeline.runners.local"]  # top-level `from pipeline import preflight`
    assert "pipeline.pipeline" in edges["pipeline.runners.local"]  # inside run()
    assert "trainer.architectures.base" in edges["trainer.architectures.mmoe"]


def test_cycles_are_found(tmp_path):
    """A function-level import closing a loop is a cycle."""
    (tmp_path / "pipeline").mkdir()
    (tmp_path / "pipeline" / "__init__.py").write_text("")
    (tmp_path / "pipeline" / "a.py").write_text("from pipeline import b\n")
    (tmp_path / "pipeline" / "b.py").write_text("def f():\n    from . import a\n")
    assert imports.cycles(imports.graph(tmp_path, ["pipeline"])) == [["pipeline.a", "pipeline.b", "pipeline.a"]]


def test_core_imports_no_tensorflow():
    """pipeline.core and what it imports never load TensorFlow, TFX or Beam (the CLI and the fingerprints
    read it without them)."""
    edges = imports.graph(ROOT)
    core = sorted(m for m in imports.closure(edges, [m for m in edges if m.startswith("pipeline.core")])
                  if m not in ("pipeline",))
    assert all(m.startswith("pipeline.core") for m in core), core
    for module in core:
        path = imports.modules(ROOT)[module]
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            assert not [n for n in names if n.split(".")[0] in HEAVY], (module, names)

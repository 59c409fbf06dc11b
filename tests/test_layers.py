"""The code's layers: imports flow one way, from the web through the features and the engine to the
models, and the project package imports no module of the app when it is imported."""

import ast

import pytest

from tests.support.dyno import ROOT

# Lower layers first; a module may import its own layer and those below it.
LAYERS = [
    ("models", ("counter.models", "counter.text", "counter.migrations")),
    ("engine", ("counter.engine",)),
    ("features", ("counter.features",)),
    ("web", ("counter.web",)),
    ("app", ("counter.admin", "counter.apps", "counter.management")),
]
PACKAGES = ("counter", "counter.engine", "counter.features", "counter.web", "herokuapp")


def layer(module):
    """The rank of ``module`` in LAYERS, or None for a module outside the app."""
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return rank
    return None


def imported(tree, module_level_only=False):
    """(line, module) of each import in ``tree``; ``from a import b`` counts as ``a.b``, which
    ranks as ``a`` itself when b is a name rather than a module."""
    if module_level_only:
        nodes = [
            node for top in tree.body if not isinstance(top, ast.FunctionDef | ast.ClassDef) for node in ast.walk(top)
        ]
    else:
        nodes = ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def modules(package):
    for path in sorted((ROOT / package).rglob("*.py")):
        yield ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"), path


def upward_imports(module, source):
    rank = layer(module)
    found = []
    for line, name in imported(ast.parse(source)):
        target = layer(name)
        if target is not None and target > rank:
            found.append(f"{module}:{line} imports {name} ({LAYERS[rank][0]} -> {LAYERS[target][0]})")
    return found


def test_no_module_of_the_app_imports_one_from_a_layer_above_its_own():
    found = [error for module, path in modules("counter") for error in upward_imports(module, path.read_text())]
    assert found == []


def test_the_project_package_imports_no_module_of_the_app_when_imported():
    found = [
        f"{module}:{line} imports {name}"
        for module, path in modules("herokuapp")
        for line, name in imported(ast.parse(path.read_text()), module_level_only=True)
        if name == "counter" or name.startswith("counter.")
    ]
    assert found == []


@pytest.mark.parametrize(
    "module, source",
    [
        ("counter.engine.redis_store", "from counter.features import named\n"),
        ("counter.features.named", "def later():\n    from counter.web import api\n"),
        ("counter.models", "import counter.engine.base\n"),
    ],
)
def test_an_import_from_a_higher_layer_is_found_even_inside_a_function(module, source):
    assert len(upward_imports(module, source)) == 1


def test_every_module_of_the_app_has_a_layer():
    assert [module for module, _ in modules("counter") if module != "counter" and layer(module) is None] == []


@pytest.mark.parametrize("package", PACKAGES)
def test_each_layer_says_what_lives_in_it_and_what_it_may_import(package):
    docstring = ast.get_docstring(ast.parse((ROOT / package.replace(".", "/") / "__init__.py").read_text()))
    assert docstring and "import" in docstring

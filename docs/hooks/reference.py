"""MkDocs hook: the API reference pages, generated from the package itself at build time.

Every public name of every public module gets its own mkdocstrings entry, so a name added to
the package appears in the reference with no page to edit. "Public" is the module's
``__all__``, or, for a module without one, the classes and functions it defines or re-exports
from plait (not ``np``, ``torch`` or other imported helpers). mkdocstrings reads the live
objects (``force_inspection`` in mkdocs.yml), so names made at run time (loss classes from a
factory, ops wrapped by a decorator) are documented like the others.

``tests/test_docs.py`` builds the site and checks that every name :func:`public_names` lists
has its entry, with the same functions.
"""

import importlib
import inspect
import sys
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# (page, module, title): the reference pages, in the order the navigation lists them.
PAGES = [
    ("plait", "plait", "plait"),
    ("models", "plait.models", "plait.models"),
    ("layers", "plait.layers", "plait.layers"),
    ("ops", "plait.ops", "plait.ops"),
    ("random", "plait.random", "plait.random"),
    ("losses", "plait.losses", "plait.losses"),
    ("metrics", "plait.metrics", "plait.metrics"),
    ("optimizers", "plait.optimizers", "plait.optimizers"),
    ("callbacks", "plait.callbacks", "plait.callbacks"),
    ("activations", "plait.activations", "plait.activations"),
    ("initializers", "plait.initializers", "plait.initializers"),
    ("regularizers", "plait.regularizers", "plait.regularizers"),
    ("constraints", "plait.constraints", "plait.constraints"),
    ("saving", "plait.saving", "plait.saving"),
    ("applications", "plait.applications", "plait.applications"),
    ("datasets", "plait.datasets", "plait.datasets"),
    ("preprocessing", "plait.preprocessing", "plait.preprocessing"),
    ("utils", "plait.utils", "plait.utils"),
    ("mixed-precision", "plait.mixed_precision", "plait.mixed_precision"),
    ("distribution", "plait.distribution", "plait.distribution"),
    ("config", "plait.config", "plait.config"),
    ("backend", "plait.backend", "plait.backend"),
]


def reference_pages():
    """:data:`PAGES`, then a page for each public module of ``plait`` that it does not list yet
    (a module added to the package gets its page and its place in the navigation)."""
    plait = _import("plait")
    listed = {module for _, module, _ in PAGES}
    extra = [
        (name.replace("_", "-"), f"plait.{name}", f"plait.{name}")
        for name in sorted(plait.__all__)
        if inspect.ismodule(getattr(plait, name)) and f"plait.{name}" not in listed
    ]
    return PAGES + extra


# keras.ops's families, in the order Keras's own reference lists them.
OPS_FAMILIES = [
    ("core", "Core ops"),
    ("nn", "NN ops"),
    ("numpy", "NumPy ops"),
    ("math", "Math ops"),
    ("linalg", "Linear algebra ops"),
    ("image", "Image ops"),
    ("einops", "einops"),
]


def _import(name):
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(name)


def _from_plait(obj):
    return (getattr(obj, "__module__", None) or "").split(".")[0] == "plait"


@cache
def public_names(module_name):
    """The public names of ``module_name``, sorted as the page lists them (submodules included)."""
    module = _import(module_name)
    if module_name == "plait":  # the root re-exports the modules, each with its own page
        return tuple(n for n in module.__all__ if not inspect.ismodule(getattr(module, n)))
    if hasattr(module, "__all__"):
        names = list(module.__all__)
    else:
        names = [
            n
            for n, obj in vars(module).items()
            if not n.startswith("_") and not inspect.ismodule(obj) and callable(obj) and _from_plait(obj)
        ]
    return tuple(sorted(dict.fromkeys(names), key=lambda n: (n.lower(), n)))


def _home_of(obj, module_name):
    """The module that holds ``obj`` under its own name: where it was assigned (a submodule of
    ``module_name`` preferred), for an object whose ``__module__`` does not hold it."""
    name = obj.__name__
    holders = [
        m
        for m_name, m in list(sys.modules.items())
        if m is not None and m_name.startswith("plait.") and getattr(m, name, None) is obj
    ]
    holders.sort(key=lambda m: (not m.__name__.startswith(module_name + "."), -m.__name__.count(".")))
    return holders[0].__name__ if holders else module_name


def rehome(module_name):
    """Point each public class or function that a factory made (its ``__module__`` names the
    factory's module, which does not hold it) at the module that does, so that mkdocstrings,
    which follows ``__module__``, finds it. Changes only the objects in the docs build's process."""
    module = _import(module_name)
    for name in public_names(module_name):
        obj = getattr(module, name)
        if inspect.ismodule(obj):
            rehome(obj.__name__)
            continue
        if not (inspect.isclass(obj) or inspect.isfunction(obj)) or getattr(obj, "__name__", None) != name:
            continue
        home = sys.modules.get(obj.__module__)
        if home is None or getattr(home, obj.__qualname__, None) is not obj:
            obj.__qualname__ = name
            obj.__module__ = _home_of(obj, module_name)
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():  # methods the factory defined (``__init__``)
                if inspect.isfunction(member) and "<locals>" in member.__qualname__:
                    member.__qualname__ = f"{obj.__qualname__}.{attr}"
                    member.__module__ = obj.__module__


def entry(path, obj, name, heading_level=3, page_names=()):
    """The page's Markdown for one public name: a mkdocstrings directive, or for another name of
    an object listed on the page (``constant = Constant``), a heading that points to it."""
    canonical = getattr(obj, "__name__", None)
    if canonical and canonical != name and (inspect.isclass(obj) or inspect.isroutine(obj)):
        module_path = path.rsplit(".", 1)[0]
        hashes = "#" * heading_level
        if canonical in page_names:
            return f"{hashes} {name} {{#{path} }}\n\nAnother name for [`{canonical}`][{module_path}.{canonical}].\n"
        true_path = f"{obj.__module__}.{obj.__qualname__}"
        return (
            f"{hashes} {name} {{#{path} }}\n\nAnother name for `{true_path}`:\n\n"
            f"::: {true_path}\n    options:\n      show_root_heading: false\n"
        )
    options = [f"heading_level: {heading_level}", "show_root_full_path: false"]
    return f"::: {path}\n    options:\n" + "".join(f"      {option}\n" for option in options)


def _family(obj, module_name):
    """The submodule an object comes from, as a section title (``convolutional`` -> Convolutional)."""
    defined = getattr(obj, "__module__", "") or ""
    if not defined.startswith(module_name + "."):
        return "Other"
    part = defined[len(module_name) + 1 :].split(".")[0].lstrip("_")
    return part.replace("_", " ").capitalize() or "Other"


def module_page(module_name, title):
    module = _import(module_name)
    lines = [
        f"# {title}",
        "",
        f"::: {module_name}",
        "    options:",
        "      members: false",
        "      show_root_heading: false",
        "",
    ]
    sections = {}
    for name in public_names(module_name):
        obj = getattr(module, name)
        if inspect.ismodule(obj):
            sections.setdefault(f"{module_name}.{name}", []).extend(
                (f"{obj.__name__}.{n}", getattr(obj, n), n) for n in public_names(obj.__name__)
            )
        else:
            sections.setdefault(_family(obj, module_name), []).append((f"{module_name}.{name}", obj, name))
    single = len(sections) == 1
    for section in sorted(sections, key=lambda s: (s == "Other", s.startswith("plait."), s)):
        if not single:
            lines += [f"## {section}", ""]
        page_names = {name for items in sections.values() for _, _, name in items}
        lines += [entry(path, obj, name, 2 if single else 3, page_names) for path, obj, name in sections[section]]
    return "\n".join(lines) + "\n"


def ops_page():
    ops = _import("plait.ops")
    lines = [
        "# plait.ops",
        "",
        "::: plait.ops",
        "    options:",
        "      members: false",
        "      show_root_heading: false",
        "",
        "The families below are Keras's (`keras.ops.numpy`, `keras.ops.nn`, ...). Every op of a",
        "family except the image ops is also at the top level: `plait.ops.relu` is",
        "`plait.ops.nn.relu`.",
        "",
    ]
    for family, title in OPS_FAMILIES:
        submodule = getattr(ops, family)
        lines += [f"## {title} (`plait.ops.{family}`)", ""]
        names = public_names(f"plait.ops.{family}")
        for name in names:
            lines.append(entry(f"plait.ops.{family}.{name}", getattr(submodule, name), name, 3, names))
    others = [
        n for n in public_names("plait.ops") if n not in families_of_ops() and not inspect.ismodule(getattr(ops, n))
    ]
    if others:
        lines += ["## Other", ""]
        lines += [entry(f"plait.ops.{name}", getattr(ops, name), name) for name in others]
    return "\n".join(lines) + "\n"


@cache
def families_of_ops():
    """Top-level op name -> the family that documents it."""
    found = {}
    for family, _ in OPS_FAMILIES:
        for name in public_names(f"plait.ops.{family}"):
            found.setdefault(name, family)
    return found


def page_source(page, module_name, title):
    return ops_page() if module_name == "plait.ops" else module_page(module_name, title)


def on_config(config):
    """The navigation's "API reference" section: one entry per reference page."""
    for section in config["nav"] or []:
        if isinstance(section, dict) and "API reference" in section:
            section["API reference"] = [{title: f"api/{page}.md"} for page, _, title in reference_pages()]
    return config


def on_files(files, config):
    from mkdocs.structure.files import File

    for _, module_name, _ in reference_pages():
        rehome(module_name)
    for family, _ in OPS_FAMILIES:
        rehome(f"plait.ops.{family}")
    for page, module_name, title in reference_pages():
        uri = f"api/{page}.md"
        existing = files.get_file_from_path(uri)
        if existing is not None:
            files.remove(existing)
        files.append(File.generated(config, uri, content=page_source(page, module_name, title)))
    return files

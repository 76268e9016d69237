"""Griffe extension for the API reference (mkdocs.yml loads it).

* plait's docstrings title their doctests ``Example:`` (the house style), which Griffe's
  Google-style parser reads as a note, not as an examples section: the ``>>>`` lines would be
  rendered as Markdown quotes. The title becomes ``Examples:``, so the doctests render as code.
* The reference reads live objects (``force_inspection``), and an inspected class attribute
  holding a plain value (``rank = 2``) would show its type's docstring (``int``'s). Such a
  docstring is dropped; the attribute is then left out, as attributes without docstrings are.
"""

import inspect
import re

import griffe

_EXAMPLE_TITLE = re.compile(r"^(\s*)Example:\s*$", re.M)


class ExampleSections(griffe.Extension):
    def on_instance(self, *, obj, node=None, **kwargs):
        if obj.docstring is None:
            return
        value = getattr(node, "obj", None)
        type_doc = getattr(type(value), "__doc__", None) if value is not None else None
        if obj.is_attribute and isinstance(type_doc, str) and type_doc.strip():  # some types hold no str there
            if inspect.cleandoc(obj.docstring.value) == inspect.cleandoc(type_doc):
                obj.docstring = None
                return
        obj.docstring.value = _EXAMPLE_TITLE.sub(r"\1Examples:", obj.docstring.value)

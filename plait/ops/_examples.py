"""Examples for ops that are built from tables rather than written one by one.

A table op's docstring is made by code, so its example is data too: a call and what it prints.
:func:`add_examples` appends it to the docstring as an ``Example:`` section, which the doctest run
(``pytest --doctest-modules``) then checks like any hand-written one.

Example:
    >>> def double(x):
    ...     "``x`` twice."
    ...     return 2 * x
    >>> add_examples({"double": double}, {"double": ("double(4)", "8")}, imports=())
    >>> double.__doc__.splitlines()[2:]
    ['Example:', '    >>> double(4)', '    8']
"""

_IMPORTS = ("import torch", "from plait import ops")


def add_examples(ops, examples, imports=_IMPORTS):
    """Append to each op's docstring its example.

    Args:
        ops: name -> the op (a function whose ``__doc__`` is set).
        examples: name -> ``(call, printed)``: an expression and its printed value, as a doctest
            expects it (a multi-line value as Python prints it). Every op needs one: a missing
            name raises ``KeyError`` at import, so a new table row cannot come without an example.
        imports: the statements the example runs first.
    """
    for name, op in ops.items():
        call, printed = examples[name]
        lines = [*(f">>> {line}" for line in imports), f">>> {call}", *printed.split("\n")]
        op.__doc__ = f"{op.__doc__}\n\nExample:\n" + "\n".join(f"    {line}" for line in lines)

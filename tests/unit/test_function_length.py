"""No function in src/shipyard over 60 lines of logic (its body without the docstring, blank
lines and comment-only lines): a reader holds one idea at a time. Those still longer are
named in ``KNOWN`` until their module is split; any other fails the test."""

import ast

from support import PROJECT

LIMIT = 60
SOURCE = PROJECT / "src" / "shipyard"
# still over the limit, to be split where they live (remove a line once it is under)
KNOWN: set[str] = set()


def logic_lines(function: ast.FunctionDef | ast.AsyncFunctionDef, lines: list[str]) -> int:
    """The function's body lines that hold code: no docstring, blank or comment-only line."""
    body = function.body
    first = body[0]
    docstring = (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    )
    start = (first.end_lineno or first.lineno) + 1 if docstring else first.lineno
    code = lines[start - 1 : function.end_lineno]
    return sum(1 for line in code if line.strip() and not line.strip().startswith("#"))


def long_functions() -> dict[str, int]:
    found = {}
    for path in sorted(SOURCE.rglob("*.py")):
        text = path.read_text()
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                count = logic_lines(node, lines)
                if count > LIMIT:
                    found[f"{path.relative_to(SOURCE).as_posix()}::{node.name}"] = count
    return found


def test_no_new_function_over_sixty_lines_of_logic():
    new = {name: n for name, n in long_functions().items() if name not in KNOWN}
    assert not new, f"split these by meaning (lines of logic, limit {LIMIT}): {new}"


def test_the_counter_counts_code_not_docstrings_or_comments():
    text = 'def f():\n    """Doc\n    string."""\n\n    # a comment\n    x = 1\n    return x\n'
    function = ast.parse(text).body[0]
    assert isinstance(function, ast.FunctionDef)
    assert logic_lines(function, text.splitlines()) == 2


def test_no_module_over_400_lines():
    """A module a reader can take in whole: past 400 lines it holds more than one idea."""
    long = {
        str(path.relative_to(SOURCE)): n
        for path in SOURCE.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > 400
    }
    assert not long, f"split these modules: {long}"

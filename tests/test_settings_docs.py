"""docs/operations.md's configuration table is the one list of Hearth's environment variables:
every variable config/settings.py reads has a row with its real default, and no row names a
variable that settings.py no longer reads.

The variables are found by reading settings.py's source (the env_* helpers and direct
os.environ / os.getenv reads), not by importing it, so a variable read only in production mode
is seen too. tests/test_compose.py reuses the parsers below.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "config" / "settings.py"
OPERATIONS = ROOT / "docs" / "operations.md"

ENV_HELPERS = frozenset({"env_str", "env_bool", "env_int", "env_list"})
NO_LITERAL = object()  # the default is computed (a path, an f-string): nothing to compare


@dataclass(frozen=True)
class EnvRead:
    name: str
    helper: str
    default: object
    line: int


@dataclass(frozen=True)
class TableRow:
    name: str
    cells: tuple[str, ...]


def _literal(node: ast.expr | None) -> object:
    """A default that can be compared with the docs: literals and constant arithmetic
    (`12 * 3600`); anything else is NO_LITERAL."""
    if node is None:
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult | ast.Add):
        left, right = _literal(node.left), _literal(node.right)
        if isinstance(left, int) and isinstance(right, int):
            return left * right if isinstance(node.op, ast.Mult) else left + right
        return NO_LITERAL
    try:
        return ast.literal_eval(node)
    except ValueError:
        return NO_LITERAL


def _is_os_environ(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def _environ_read(node: ast.AST) -> tuple[str, ast.expr | None, ast.expr | None] | None:
    """(how, name node, default node) when `node` reads the process environment directly."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        func = node.func
        is_environ_get = func.attr == "get" and _is_os_environ(func.value)
        is_getenv = (
            func.attr == "getenv" and isinstance(func.value, ast.Name) and func.value.id == "os"
        )
        if (is_environ_get or is_getenv) and node.args:
            default = node.args[1] if len(node.args) > 1 else None
            return "os.environ", node.args[0], default
    if isinstance(node, ast.Subscript) and _is_os_environ(node.value):
        return "os.environ", node.slice, None
    if (
        isinstance(node, ast.Compare)
        and len(node.ops) == 1
        and isinstance(node.ops[0], ast.In | ast.NotIn)
        and _is_os_environ(node.comparators[0])
    ):
        return "os.environ", node.left, None
    return None


def settings_env_reads(source: str | None = None) -> tuple[list[EnvRead], list[int]]:
    """Every environment read in settings.py with a constant name, and the line numbers of
    reads whose name is not a constant outside the env_* helpers themselves (those would
    escape this check)."""
    tree = ast.parse(source if source is not None else SETTINGS.read_text(encoding="utf-8"))
    helper_bodies: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name in ENV_HELPERS:
            helper_bodies.update(id(child) for child in ast.walk(node))

    reads: list[EnvRead] = []
    dynamic: list[int] = []
    for node in ast.walk(tree):
        found: tuple[str, ast.expr | None, ast.expr | None] | None = None
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ENV_HELPERS
            and node.args
        ):
            default = node.args[1] if len(node.args) > 1 else None
            found = (node.func.id, node.args[0], default)
        else:
            found = _environ_read(node)
        if found is None:
            continue
        helper, name_node, default_node = found
        if isinstance(name_node, ast.Constant) and isinstance(name_node.value, str):
            reads.append(
                EnvRead(
                    name=name_node.value,
                    helper=helper,
                    default=_literal(default_node),
                    line=node.lineno,
                )
            )
        elif id(node) not in helper_bodies:
            dynamic.append(node.lineno)
    return reads, dynamic


def settings_variables() -> set[str]:
    return {read.name for read in settings_env_reads()[0]}


def markdown_table(text: str, heading: str) -> list[TableRow]:
    """The rows of the first table after the heading line matching `heading` (a regex), keyed
    by the backticked variable name in the first cell."""
    lines = text.splitlines()
    start = next(
        (number for number, line in enumerate(lines) if re.match(heading, line)),
        None,
    )
    assert start is not None, f"no heading matching {heading!r} in docs/operations.md"
    rows: list[TableRow] = []
    in_table = False
    for line in lines[start + 1 :]:
        if line.startswith("#") and not in_table:
            break
        if not line.startswith("|"):
            if in_table:
                break
            continue
        in_table = True
        cells = tuple(cell.strip() for cell in line.strip().strip("|").split("|"))
        match = re.fullmatch(r"`([A-Z][A-Z0-9_]*)`", cells[0])
        if match:
            rows.append(TableRow(name=match.group(1), cells=cells))
    return rows


def configuration_table() -> list[TableRow]:
    return markdown_table(OPERATIONS.read_text(encoding="utf-8"), r"^## Configuration\s*$")


def outside_settings_table() -> list[TableRow]:
    return markdown_table(
        OPERATIONS.read_text(encoding="utf-8"), r"^### Variables outside settings\.py\s*$"
    )


def documented_default(value: object) -> str:
    """How a default is written in the table's Default column."""
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if value == "":
        return '`""`'
    return f"`{value}`"


def test_the_source_scan_sees_helper_calls_and_direct_environment_reads() -> None:
    reads, _ = settings_env_reads()
    by_name = {read.name: read for read in reads}
    # One of each kind, so a scan that silently finds nothing cannot pass the tests below.
    assert by_name["SECRET_KEY"].helper == "env_str"
    assert by_name["DEBUG"].helper == "env_bool"
    assert by_name["SESSION_COOKIE_AGE"].default == 12 * 3600
    assert by_name["ALLOWED_HOSTS"].helper == "env_list"
    assert by_name["HEARTH_VAR_DIR"].helper == "os.environ"


def test_settings_read_no_variable_whose_name_is_computed() -> None:
    _, dynamic = settings_env_reads()
    assert dynamic == [], (
        f"config/settings.py reads the environment with a computed name on lines {dynamic}; "
        "use the env_* helpers with a literal name so docs/operations.md can list it"
    )


def test_every_variable_settings_reads_has_a_row_in_the_operations_table() -> None:
    documented = {row.name for row in configuration_table()}
    missing = sorted(settings_variables() - documented)
    assert missing == [], f"add these to the table in docs/operations.md: {missing}"


def test_every_row_of_the_operations_table_is_a_variable_settings_reads() -> None:
    stale = sorted({row.name for row in configuration_table()} - settings_variables())
    assert stale == [], f"docs/operations.md lists variables settings.py does not read: {stale}"


def test_the_operations_table_lists_each_variable_once() -> None:
    names = [row.name for row in configuration_table()]
    assert sorted(name for name in set(names) if names.count(name) > 1) == []


def test_each_documented_default_is_the_default_settings_uses() -> None:
    rows = {row.name: row for row in configuration_table()}
    wrong = []
    for read in settings_env_reads()[0]:
        if read.default is NO_LITERAL or read.default is None or read.name not in rows:
            continue
        expected = documented_default(read.default)
        if expected not in rows[read.name].cells[1]:
            wrong.append(f"{read.name}: table says {rows[read.name].cells[1]}, code {expected}")
    assert wrong == []


def test_each_row_says_what_the_variable_means() -> None:
    terse = [
        row.name
        for row in configuration_table()
        if len(row.cells) < 3 or len(row.cells[2].split()) < 3
    ]
    assert terse == []


def test_no_variable_read_by_settings_is_also_listed_as_outside_settings() -> None:
    both = sorted(settings_variables() & {row.name for row in outside_settings_table()})
    assert both == []

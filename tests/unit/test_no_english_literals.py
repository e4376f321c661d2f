"""No message a person reads is written in English only: errors, flashes and notifications
take a `tr()` text, never a bare string or an f-string.

The check walks the syntax of every module of src/billdesk and looks at the arguments
that end up in front of a person: the detail, title and field messages of the
project's errors and Litestar's HTTP exceptions, flash messages, the `error` of a
re-rendered form, the text of an in-app notification, and `errors[...] = ...` in the
field checks. A string constant, an f-string, or a string glued with `+`/`%` there
(directly or through a local variable) fails, naming the file and the line. The fix
is `tr("… %(name)s …", name=value)` (docs/i18n.md).
"""

from __future__ import annotations

import ast
from pathlib import Path

import billdesk

SOURCE = Path(billdesk.__file__).parent

# Litestar's exceptions whose detail is shown, and billdesk's refusals outside errors.py.
OTHER_ERRORS = {
    "HTTPException",
    "NotAuthorizedException",
    "PermissionDeniedException",
    "NotFoundException",
    "ValidationException",
    "ClientException",
    "LoginRefused",
}
# Failures told to the operator, not to a person using billdesk: the command line
# (`billdesk …`), a job's or a mail's recorded error (kept as it happened, like a log),
# a refused webhook signature, a mail that cannot be parsed.
OPERATOR_ONLY = {
    "CommandFailed",
    "GiveUp",
    "RetryAfter",
    "PermanentFailure",
    "WorkerBusy",
    "ChatBusy",
    "ImapError",
    "Unreadable",
    "BadSignature",
}
# Where a call's person-facing text sits: positional arguments skipped, keywords read.
MESSAGE_CALLS: dict[str, tuple[int, set[str]]] = {
    "field": (1, {"message"}),  # ValidationFailed.field(field, message)
    "flash": (2, {"message"}),  # flash(request, category, message)
    "saved": (2, {"message"}),  # flashes.saved(request, path, message)
    "redirect": (2, set()),  # flashes.redirect(request, path, (category, message), ...)
    "notify": (3, {"text"}),  # notify(user_id, kind, ticket_id, text) / notify(text=...)
    "ScheduleError": (1, {"message"}),  # ScheduleError(field, message)
    "_act": (4, {"done"}),  # the client ticket page's action: (request, id, action, typed, done)
}


def _error_classes() -> set[str]:
    """Every exception class defined in billdesk, by name, plus Litestar's shown ones."""
    names = set(OTHER_ERRORS)
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(base, ast.Name) and (base.id.endswith(("Error", "Exception")) or base.id in names)
                for base in node.bases
            ):
                names.add(node.name)
    # A second pass catches classes deriving from the ones found (DeskError → NotFound).
    for path in SOURCE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(base, ast.Name) and base.id in names for base in node.bases
            ):
                names.add(node.name)
    return names - OPERATOR_ONLY


def _called(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _receiver(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.value.id
    return ""


class _Scan(ast.NodeVisitor):
    def __init__(self, path: Path, errors: set[str]) -> None:
        self.path = path
        self.errors = errors
        self.found: list[str] = []
        self.assigned: list[dict[str, list[ast.expr]]] = [{}]

    # -- what counts as English written in place

    def _bare(self, node: ast.expr | None, seen: frozenset[str] = frozenset()) -> bool:
        if node is None:
            return False
        if isinstance(node, ast.Constant):
            return isinstance(node.value, str) and any(ch.isalpha() for ch in node.value)
        if isinstance(node, ast.JoinedStr):
            return True
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
            return self._bare(node.left, seen) or self._bare(node.right, seen)
        if isinstance(node, ast.IfExp):
            return self._bare(node.body, seen) or self._bare(node.orelse, seen)
        if isinstance(node, ast.BoolOp):
            return any(self._bare(value, seen) for value in node.values)
        if isinstance(node, ast.Dict):
            return any(self._bare(value, seen) for value in node.values)
        if isinstance(node, ast.Tuple):
            # A flash tuple: (category, message).
            return any(self._bare(item, seen) for item in node.elts[1:])
        if isinstance(node, ast.Name) and node.id not in seen:
            values = self.assigned[-1].get(node.id, [])
            return any(self._bare(value, seen | {node.id}) for value in values)
        return False

    def _report(self, node: ast.AST, what: str, value: ast.expr) -> None:
        where = f"{self.path.relative_to(SOURCE.parent)}:{node.lineno}"  # type: ignore[attr-defined]
        self.found.append(f"{where}: {what}: {ast.unparse(value)[:100]}")

    # -- scopes: a local variable is judged by what was assigned to it in its function

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        assigned: dict[str, list[ast.expr]] = {}
        for inner in ast.walk(node):
            if isinstance(inner, ast.Assign):
                for target in inner.targets:
                    if isinstance(target, ast.Name):
                        assigned.setdefault(target.id, []).append(inner.value)
            elif isinstance(inner, ast.AnnAssign | ast.AugAssign) and isinstance(
                inner.target, ast.Name
            ) and inner.value is not None:
                assigned.setdefault(inner.target.id, []).append(inner.value)
        self.assigned.append(assigned)
        self.generic_visit(node)
        self.assigned.pop()

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    # -- the places a person reads

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            if (
                isinstance(target, ast.Subscript)
                and isinstance(target.value, ast.Name)
                and target.value.id == "errors"
                and self._bare(node.value)
            ):
                self._report(node, "errors[...] =", node.value)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = _called(node)
        arguments: list[ast.expr] = []
        if name in MESSAGE_CALLS and (name != "redirect" or _receiver(node) == "flashes"):
            skip, keywords = MESSAGE_CALLS[name]
            arguments = list(node.args[skip:]) + [
                keyword.value for keyword in node.keywords if keyword.arg in keywords
            ]
        elif name in self.errors:
            arguments = list(node.args) + [
                keyword.value
                for keyword in node.keywords
                if keyword.arg in ("detail", "title", "errors", "message")
            ]
        elif name == "render":
            # render(request, template, {"error": ...})
            for argument in node.args[2:3]:
                if isinstance(argument, ast.Dict):
                    arguments += [
                        value
                        for key, value in zip(argument.keys, argument.values, strict=True)
                        if isinstance(key, ast.Constant) and key.value in ("error", "message")
                    ]
        for argument in arguments:
            if self._bare(argument):
                self._report(node, name, argument)
        self.generic_visit(node)


def english_written_in_place() -> list[str]:
    errors = _error_classes()
    found: list[str] = []
    for path in sorted(SOURCE.rglob("*.py")):
        scan = _Scan(path, errors)
        scan.visit(ast.parse(path.read_text()))
        found += scan.found
    return found


def test_no_error_flash_or_notification_is_written_in_english_only():
    found = english_written_in_place()
    assert not found, "Messages a person reads that bypass the catalog (use tr()):\n" + "\n".join(
        found
    )


def test_the_check_sees_the_ways_english_slips_in(tmp_path):
    """The scan itself fails on each shape of English-only message it is meant to catch."""
    source = '''
from billdesk.errors import NotFound, ValidationFailed
from billdesk.i18n import tr

def check(field, price):
    if field:
        raise ValidationFailed.field("name", f"{field} is too long.")
    message = "The price is " + price
    raise NotFound(message, errors={"price": tr("Fine.")})

def fine(field):
    raise ValidationFailed.field("name", tr("%(field)s is too long.", field=field))

async def more(request, errors):
    errors["body"] = "Write something."
    flash(request, "error", "Nope.")
    await notify(user_id=1, kind=2, ticket_id=3, text=f"#{3} closed")
'''
    path = SOURCE / "_scan_sample.py"
    scan = _Scan(path, _error_classes())
    scan.visit(ast.parse(source))
    lines = sorted(int(item.split(":")[1]) for item in scan.found)
    assert lines == [7, 9, 15, 16, 17], scan.found

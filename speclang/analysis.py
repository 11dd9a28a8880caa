"""Loading a file with its imports, resolving names, and every semantic check.

Scopes: each file sees its own declarations plus everything its imports see (imports are
transitive). Propositions, derived propositions and definitions share one namespace (they
can all appear in formulas); observables, specs and progressions have their own.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field

from speclang import syntax as S
from speclang.diagnostics import (
    Diagnostic,
    Span,
    did_you_mean,
    error,
    slice_span,
    sort_key,
    warning,
)
from speclang.model import REGEX_FLAGS, REGEX_TIMEOUT_S, TEXT_GRANULARITIES, risky_regex
from speclang.parser import HUGE_BOUND, MAX_BOUND, MAX_FILE_BYTES, parse_bytes, parse_text
from speclang.tenses import Misplaced, Tenses

# A chain of imports deeper than this is refused (E016) long before Python's recursion
# limit: loading and scoping recurse once per level.
MAX_IMPORT_DEPTH = 64


class _Unreadable(Exception):
    """Why a spec file cannot be read; never contains the file's contents."""


def read_spec_file(path: str) -> bytes:
    """The bytes of a regular file of at most ``MAX_FILE_BYTES``, or :class:`_Unreadable`.

    Opened non-blocking and checked with ``fstat`` on the open descriptor, so a FIFO cannot
    hang the read and a device (``/dev/zero``) cannot fill memory; at most one byte over the
    limit is ever read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except ValueError:  # an embedded NUL byte
        raise _Unreadable("the path contains a NUL byte") from None
    except OSError as exc:
        raise _Unreadable(exc.strerror or str(exc)) from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _Unreadable("not a regular file")
    with os.fdopen(fd, "rb") as fh:
        try:
            data = fh.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise _Unreadable(exc.strerror or str(exc)) from None
    return data

OBSERVABLE_TYPES = ("float", "int", "bool")
_KIND_WORDS = {"prop": "proposition", "derived": "derived proposition", "def": "definition",
               "observable": "observable", "spec": "spec", "progression": "progression"}


@dataclass(eq=False)
class Symbol:
    kind: str  # "prop" | "derived" | "def" | "observable" | "spec" | "progression"
    name: str
    span: Span
    decl: object  # DefDecl / DerivedDecl / Observable / SpecDecl / ProgressionDecl / Ident

    @property
    def is_template(self) -> bool:
        return isinstance(self.decl, S.DefDecl) and self.decl.params is not None

    @property
    def arity(self) -> int:
        return len(self.decl.params or ()) if isinstance(self.decl, S.DefDecl) else 0


def labeler_path(spec_path: str, written: str) -> str:
    """Where a ``classifies "..."`` file is: relative to the spec file's folder, as imports."""
    base = os.path.dirname(spec_path) if not spec_path.startswith("<") else ""
    return os.path.normpath(os.path.join(base, written))


MAX_LABELER_BYTES = 64 << 20


def labeler_problem(path: str) -> str | None:
    """Why ``path`` is not a usable labeler file, or None."""
    import json

    from speclang.labeler_file import LabelerFileError, parse_labeler

    if "\0" in path:
        return "the path contains a NUL byte"
    try:
        if not os.path.isfile(path):
            return "no such file" if not os.path.exists(path) else "not a regular file"
        if os.path.getsize(path) > MAX_LABELER_BYTES:
            return f"over {MAX_LABELER_BYTES >> 20} MiB"
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return f"cannot read it: {exc.strerror}"
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return f"not JSON ({exc})"
    try:
        parse_labeler(doc, "")
    except LabelerFileError as exc:
        return str(exc).removeprefix(": ")
    return None


@dataclass(eq=False)
class Unit:
    """One parsed file and its scopes."""

    path: str  # as shown in diagnostics
    key: str  # resolved path, identifies the file
    text: str
    ast: S.SourceFile | None
    imports: dict[int, Unit] = field(default_factory=dict)  # id(Import decl) -> file
    own: dict[str, Symbol] = field(default_factory=dict)  # formula namespace, this file
    scope: dict[str, Symbol] = field(default_factory=dict)  # formula namespace, visible
    observables: dict[str, Symbol] = field(default_factory=dict)  # visible
    specs: dict[str, Symbol] = field(default_factory=dict)  # this file only
    progressions: dict[str, Symbol] = field(default_factory=dict)
    scoped: bool = False
    # An import failed (missing file, cycle): names it would have declared are unknown, so
    # "undeclared" errors here would only be noise.
    incomplete: bool = False


def _shown(path: str) -> str:
    """A path as printed in a message: control characters escaped, never raw bytes."""
    return path if path.isprintable() else ascii(path)[1:-1]


class Program:
    """A root file and the files it imports, with all diagnostics found in them."""

    def __init__(self, weak_next: bool = False):
        self.weak_next = weak_next
        self.units: dict[str, Unit] = {}
        self.diagnostics: list[Diagnostic] = []
        self.used: set[int] = set()  # ids of symbols referenced from some formula
        self.root: Unit | None = None
        # Set by check(): where past and future operators occur (read by the lowering), and
        # the root file's specs that E025 rules out, with their errors.
        self.tenses = Tenses()
        self.unsupported: dict[str, list[Diagnostic]] = {}

    # --- loading ---------------------------------------------------------------------------

    def load_path(self, path: str) -> Unit | None:
        try:
            data = read_spec_file(path)
        except _Unreadable as exc:
            self.diagnostics.append(error("E005", f"cannot read {_shown(path)}: {exc}", None))
            return None
        return self._add(path, data=data, stack=[])

    def load_text(self, text: str, path: str) -> Unit:
        return self._add(path, text=text, stack=[])

    def _add(self, path: str, *, stack: list[str], data: bytes | None = None,
             text: str | None = None) -> Unit:
        key = os.path.realpath(path) if not path.startswith("<") else path
        if data is not None:
            res = parse_bytes(data, path, weak_next=self.weak_next)
        else:
            assert text is not None
            res = parse_text(text, path, weak_next=self.weak_next)
        self.diagnostics.extend(res.diagnostics)
        unit = Unit(path, key, res.source, res.file)
        self.units[key] = unit
        if self.root is None:
            self.root = unit
        if unit.ast is not None:
            stack = [*stack, key]
            for decl in unit.ast.decls:
                if isinstance(decl, S.Import):
                    imported = self._import(unit, decl, stack)
                    if imported is not None:
                        unit.imports[id(decl)] = imported
                    else:
                        unit.incomplete = True
        return unit

    def _import(self, unit: Unit, imp: S.Import, stack: list[str]) -> Unit | None:
        base = os.path.dirname(unit.path) if not unit.path.startswith("<") else ""
        target = os.path.normpath(os.path.join(base, imp.path))

        def refuse(why: str, hint: str) -> None:
            self.diagnostics.append(error(
                "E016", f'cannot import "{_shown(imp.path)}": {why}', imp.span, hint))

        if "\0" in imp.path:
            refuse("the path contains a NUL byte", "write the file's name without control "
                   "characters")
            return None
        if not imp.path.endswith(".spec"):
            refuse("only .spec files can be imported", "imports name spec files, e.g. "
                   'import "common.spec"')
            return None
        key = os.path.realpath(target)
        project = self._project_dir()
        if os.path.commonpath([project, key]) != project:
            refuse(f"it lies outside the project directory {project}",
                   "imports stay inside the directory of the file being checked (after "
                   "following symbolic links); move or copy the shared file there")
            return None
        if len(stack) >= MAX_IMPORT_DEPTH:
            refuse(f"imports nest more than {MAX_IMPORT_DEPTH} files deep",
                   "flatten the chain: import the shared files from one place")
            return None
        if key in stack:
            cycle = [self.units[k].path for k in stack[stack.index(key):]] + [target]
            self.diagnostics.append(error(
                "E015", "import cycle: " + " -> ".join(cycle), imp.span,
                "move the shared declarations into a third file that both import"))
            return None
        if key in self.units:
            return self.units[key]
        if not os.path.lexists(target):
            self.diagnostics.append(error(
                "E016", f'cannot find imported file "{imp.path}"', imp.span,
                f"looked for {target} (imports are relative to the importing file)"))
            return None
        try:
            data = read_spec_file(target)
        except _Unreadable as exc:
            refuse(str(exc), f"looked at {target}")
            return None
        if len(data) > MAX_FILE_BYTES:
            refuse(f"the file is larger than {MAX_FILE_BYTES // 1024} KB",
                   "split it into several files")
            return None
        return self._add(target, data=data, stack=stack)

    def _project_dir(self) -> str:
        root = self.root.path if self.root is not None else "<"
        return os.path.realpath(os.path.dirname(root) if not root.startswith("<") else ".")

    # --- scopes ----------------------------------------------------------------------------

    def build_scopes(self) -> None:
        for unit in list(self.units.values()):
            self._scope(unit)

    def _declare(self, table: dict[str, Symbol], sym: Symbol) -> None:
        first = table.get(sym.name)
        if first is None:
            table[sym.name] = sym
            return
        self.diagnostics.append(error(
            "E012", f'duplicate declaration of "{sym.name}"', sym.span,
            f"first declared at {first.span} (as a {_KIND_WORDS[first.kind]})"))

    def _scope(self, unit: Unit) -> None:
        if unit.scoped:
            return
        unit.scoped = True  # set first: a cyclic import edge was already dropped
        if unit.ast is None:
            return
        for decl in unit.ast.decls:
            if isinstance(decl, S.Import):
                # Imported names land at the import's position so Module.props keeps order.
                target = unit.imports.get(id(decl))
                if target is None:
                    continue
                self._scope(target)
                self._merge(unit.scope, target.scope, decl)
                self._merge(unit.observables, target.observables, decl)
            elif isinstance(decl, S.PropsDecl):
                for ident in decl.names:
                    self._own(unit, Symbol("prop", ident.name, ident.span, ident))
            elif isinstance(decl, S.DerivedDecl):
                self._own(unit, Symbol("derived", decl.name.name, decl.name.span, decl))
            elif isinstance(decl, S.DefDecl):
                self._own(unit, Symbol("def", decl.name.name, decl.name.span, decl))
            elif isinstance(decl, S.ObserveDecl):
                for obs in decl.items:
                    self._declare(unit.observables,
                                  Symbol("observable", obs.name.name, obs.name.span, obs))
            elif isinstance(decl, S.SpecDecl):
                self._declare(unit.specs, Symbol("spec", decl.name.name, decl.name.span, decl))
            elif isinstance(decl, S.ProgressionDecl):
                self._declare(unit.progressions,
                              Symbol("progression", decl.name.name, decl.name.span, decl))

    def _own(self, unit: Unit, sym: Symbol) -> None:
        before = unit.scope.get(sym.name)
        self._declare(unit.scope, sym)
        if before is None:
            unit.own[sym.name] = sym

    def _merge(self, into: dict[str, Symbol], source: dict[str, Symbol], imp: S.Import) -> None:
        for name, sym in source.items():
            have = into.get(name)
            if have is None:
                into[name] = sym
            elif have is not sym:
                self.diagnostics.append(error(
                    "E012", f'duplicate declaration of "{name}"', imp.span,
                    f"this import declares it at {sym.span}, but it is already declared "
                    f"at {have.span}"))

    # --- checks ----------------------------------------------------------------------------

    def check(self) -> None:
        self.build_scopes()
        for unit in self.units.values():
            if unit.ast is not None:
                self._check_unit(unit)
        self._check_recursion()
        self._check_tenses()
        self._check_unused()
        self.diagnostics.sort(key=sort_key)

    def _keyword(self, name: str, quoted: bool, span: Span) -> None:
        # The contextual lexer lets a keyword through where only a name fits
        # (`props next`); reserving them keeps `next` meaning one thing everywhere.
        if not quoted and name in S.KEYWORDS:
            self.diagnostics.append(error(
                "E023", f'"{name}" is a keyword and cannot be used as a name', span,
                f'quote it ("{name}") or choose another name'))

    def _check_unit(self, unit: Unit) -> None:
        assert unit.ast is not None
        for decl in unit.ast.decls:
            if isinstance(decl, S.PropsDecl):
                for i in decl.names:
                    self._keyword(i.name, i.quoted, i.span)
            elif isinstance(decl, S.DerivedDecl | S.DefDecl):
                self._keyword(decl.name.name, decl.name.quoted, decl.name.span)
            if isinstance(decl, S.DefDecl):
                for p in decl.params or ():
                    self._keyword(p.name, False, p.span)
            if isinstance(decl, S.ObserveDecl):
                for obs in decl.items:
                    self._check_type(obs.type)
            elif isinstance(decl, S.DerivedDecl):
                self._check_derived(unit, decl)
            elif isinstance(decl, S.DefDecl):
                # Keep the *first* occurrence of each name, so the error
                # lands on the repeat and the hint points back at the original.
                params: dict[str, S.Ident] = {}
                for p in decl.params or ():
                    first = params.setdefault(p.name, p)
                    if first is not p:
                        self.diagnostics.append(error(
                            "E012", f'duplicate parameter "{p.name}"', p.span,
                            f"first declared at {first.span}"))
                self._check_formula(unit, decl.body, set(params))
            elif isinstance(decl, S.SpecDecl):
                self._check_formula(unit, decl.body, set())
            elif isinstance(decl, S.ProgressionDecl):
                for ident in decl.specs:
                    if ident.name not in unit.specs:
                        self.diagnostics.append(error(
                            "E018", f'unknown spec "{ident.name}" in progression '
                            f'"{decl.name.name}"', ident.span,
                            did_you_mean(ident.name, unit.specs) or
                            "a progression lists specs declared in the same file"))

    def _check_type(self, t: S.ObsType) -> None:
        if t.kind not in ("enum", "text") and t.kind not in OBSERVABLE_TYPES:
            self.diagnostics.append(error(
                "E020", f'unknown observable type "{t.kind}"', t.span,
                did_you_mean(t.kind, (*OBSERVABLE_TYPES, "text"))
                or "use float, int, bool, text or an enumeration {a, b, ...}"))

    def _check_text(self, d: S.TextDecl, kind: str) -> None:
        name = d.observable.name
        if kind != "text":
            self.diagnostics.append(error(
                "E017", f'cannot match {kind} observable "{name}" against text', d.value.span,
                f"declare it with `observe {name}: text`"))
            return
        if d.granularity is not None and d.granularity.name not in TEXT_GRANULARITIES:
            self.diagnostics.append(error(
                "E024", f'unknown text granularity "@{d.granularity.name}"', d.granularity.span,
                did_you_mean(d.granularity.name, TEXT_GRANULARITIES)
                or "use @span (the default), @word or @sentence"))
        if d.op == "contains":
            if not any(k.strip() for k in d.keywords):
                self.diagnostics.append(error(
                    "E024", "empty keyword set", d.value.span, "list at least one phrase"))
            return
        source, _, flags = d.value.text[1:].rpartition("/")
        bad = sorted(set(flags) - set(REGEX_FLAGS))
        if bad:
            self.diagnostics.append(error(
                "E024", f'unknown regular expression flag "{bad[0]}"', d.value.span,
                "the flags are i (ignore case), m (multiline), s (dot matches newline), "
                "x (verbose)"))
            return
        try:
            re.compile(source)
            risk = risky_regex(source)
            if risk:
                self.diagnostics.append(warning(
                    "W003", f"regular expression /{source}/ may take exponential time: {risk}",
                    d.value.span, "rewrite it without nested repetition (e.g. `(a+)+` as "
                    f"`a+`); a match that takes over {REGEX_TIMEOUT_S} s stops the monitor"))
        except re.error as exc:
            self.diagnostics.append(error(
                "E024", f"invalid regular expression: {exc.msg}", d.value.span,
                f"at offset {exc.pos} of /{source}/" if exc.pos is not None else None))
        except (OverflowError, RecursionError, ValueError) as exc:
            # `a{99999999999}` overflows inside the regex compiler instead of raising re.error
            self.diagnostics.append(error(
                "E024", f"invalid regular expression: {exc}", d.value.span, None))

    def _check_classifier(self, unit: Unit, d: S.TextDecl) -> None:
        """A learned proposition: its labeler file exists and is one (the labeler is only
        loaded, with its encoder, by speclang.llm)."""
        if d.granularity is not None and d.granularity.name != "sentence":
            self.diagnostics.append(error(
                "E024", f'a learned proposition is judged on the sentence so far, not '
                f'"@{d.granularity.name}"', d.granularity.span,
                "write @sentence or leave the granularity out"))
        written = d.keywords[0]
        path = labeler_path(unit.path, written)
        why = labeler_problem(path)
        if why is not None:
            self.diagnostics.append(error(
                "E024", f'labeler file "{_shown(written)}": {why}', d.value.span,
                "write one with ExemplarLabeler.save (docs/alignment.md); the path is "
                "relative to the spec's folder"))

    def _check_derived(self, unit: Unit, d: S.DerivedDecl) -> None:
        sym = unit.observables.get(d.observable.name)
        if sym is None:
            if unit.incomplete:
                return
            self.diagnostics.append(error(
                "E011", f'undeclared observable "{d.observable.name}"', d.observable.span,
                did_you_mean(d.observable.name, unit.observables)
                or f'declare it with `observe {d.observable.name}: float`'))
            return
        assert isinstance(sym.decl, S.Observable)
        t = sym.decl.type
        lit = d.value
        name = d.observable.name
        if isinstance(d, S.TextDecl) and d.op == "classifies" and t.kind == "text":
            self._check_classifier(unit, d)
        elif isinstance(d, S.TextDecl):
            self._check_text(d, t.kind)
        elif t.kind == "text":
            self.diagnostics.append(error(
                "E017", f'text observable "{name}" cannot be compared with {d.op}', d.span,
                f'use `{name} matches /regex/` or `{name} contains {{"phrase", ...}}`'))
        elif t.kind in ("float", "int"):
            if lit.kind != "number":
                self.diagnostics.append(error(
                    "E017", f'cannot compare {t.kind} observable "{name}" with "{lit.text}"',
                    lit.span, "compare a number observable with a number"))
        elif t.kind == "bool":
            if lit.kind != "bool" or d.op not in ("==", "!="):
                self.diagnostics.append(error(
                    "E017", f'bool observable "{name}" can only be compared with == or != '
                    "against true or false", lit.span if lit.kind != "bool" else d.span))
        elif t.kind == "enum":
            values = [v.name for v in t.values]
            if lit.kind != "symbol":
                self.diagnostics.append(error(
                    "E017", f'cannot compare enum observable "{name}" with "{lit.text}"',
                    lit.span, f"its values are {{{', '.join(values)}}}"))
            elif lit.text not in values:
                self.diagnostics.append(error(
                    "E017", f'"{lit.text}" is not a value of observable "{name}"', lit.span,
                    did_you_mean(lit.text, values) or f"its values are {{{', '.join(values)}}}"))
            elif d.op not in ("==", "!="):
                self.diagnostics.append(error(
                    "E017", f'enum observable "{name}" can only be compared with == or !=',
                    d.span, "enum values have no order"))

    def _glued_operators(self, unit: Unit, f: S.Formula) -> dict[int, str]:
        """Names written right after a capital operator letter (`Fire` lexes as `F ire`),
        mapped to that letter, so an "undeclared" error can explain the split."""
        lines = unit.text.split("\n")
        glued: dict[int, str] = {}
        for node in S.walk(f):
            if isinstance(node, S.Unary) and isinstance(node.operand, S.Name):
                op, arg = node.span, node.operand.span
                if arg.line == op.line and arg.col == op.col + 1 and op.line <= len(lines):
                    letter = lines[op.line - 1][op.col - 1 : op.col]
                    if letter.isupper():
                        glued[id(node.operand)] = letter
        return glued

    @staticmethod
    def _spec_named(unit: Unit, name: str) -> Symbol | None:
        """The spec called ``name`` in this file or a file it imports, if any.

        Specs live in their own namespace, so a formula naming one finds no proposition;
        recognising the case lets the error say why instead of guessing a close name."""
        if name in unit.specs:
            return unit.specs[name]
        for imported in unit.imports.values():
            if name in imported.specs:
                return imported.specs[name]
        return None

    @staticmethod
    def _spec_reference(name: str, span: Span, spec: Symbol) -> Diagnostic:
        return error(
            "E010", f'"{name}" is a spec, and specs cannot be referenced from formulas', span,
            f"spec declared at {spec.span}; to share its formula, declare it with "
            f"`def {name} = ...` (defs and specs have separate names) and use `{name}` "
            "in each spec")

    def _check_formula(self, unit: Unit, f: S.Formula, params: set[str]) -> None:
        glued = self._glued_operators(unit, f)
        for node in S.walk(f):
            if isinstance(node, S.Name):
                if not node.quoted and node.name in S.KEYWORDS:
                    self._keyword(node.name, node.quoted, node.span)
                    continue
                if node.name in params:
                    continue
                sym = unit.scope.get(node.name)
                if sym is None:
                    if unit.incomplete:
                        continue
                    spec = self._spec_named(unit, node.name)
                    if spec is not None:
                        self.diagnostics.append(self._spec_reference(node.name, node.span, spec))
                        continue
                    letter = glued.get(id(node))
                    hint = (f'"{letter}{node.name}" reads as `{letter} {node.name}`: single '
                            "capital letters are operators, propositions are lowercase"
                            if letter else None)
                    self.diagnostics.append(error(
                        "E010", f'undeclared proposition "{node.name}"', node.span,
                        hint or did_you_mean(node.name, [*unit.scope, *params])
                        or f"declare it with `props {node.name}`"))
                    continue
                self.used.add(id(sym))
                if sym.is_template:
                    self.diagnostics.append(error(
                        "E013", f'template "{node.name}" takes {sym.arity} argument'
                        f'{"s" if sym.arity != 1 else ""} but is used without arguments',
                        node.span, f"write {node.name}(...)"))
            elif isinstance(node, S.Call):
                sym = unit.scope.get(node.name)
                if node.name in params or (sym is not None and not sym.is_template):
                    if sym is not None and node.name not in params:
                        self.used.add(id(sym))
                    self.diagnostics.append(error(
                        "E013", f'"{node.name}" is not a template and takes no arguments',
                        node.span, f"write {node.name} without (...)"))
                elif sym is None:
                    if unit.incomplete:
                        continue
                    spec = self._spec_named(unit, node.name)
                    if spec is not None:
                        self.diagnostics.append(
                            self._spec_reference(node.name, node.name_span, spec))
                        continue
                    templates = [n for n, s in unit.scope.items() if s.is_template]
                    self.diagnostics.append(error(
                        "E010", f'undeclared template "{node.name}"', node.name_span,
                        did_you_mean(node.name, templates)
                        or f"declare it with `def {node.name}(...) = ...`"))
                else:
                    self.used.add(id(sym))
                    if len(node.args) != sym.arity:
                        self.diagnostics.append(error(
                            "E013", f'template "{node.name}" takes {sym.arity} argument'
                            f'{"s" if sym.arity != 1 else ""} but {len(node.args)} '
                            f'{"were" if len(node.args) != 1 else "was"} given', node.span,
                            f"declared at {sym.span}"))
            elif isinstance(node, S.Bounded):
                self.diagnostics.extend(check_bounds(node))

    def _definitions(self) -> tuple[dict[int, Unit], list[Symbol]]:
        """Every definition of the program, and the unit that declares each (by symbol id)."""
        unit_of: dict[int, Unit] = {}
        defs: list[Symbol] = []
        for unit in self.units.values():
            for sym in unit.own.values():
                if sym.kind == "def":
                    unit_of[id(sym)] = unit
                    defs.append(sym)
        return unit_of, defs

    def _check_tenses(self) -> None:
        """E025, a future operator under a past one, and W004, a pure-past conjunct of a spec
        read at its first step; both on the expansion as written (speclang.tenses)."""
        unit_of, defs = self._definitions()
        tenses = self.tenses = Tenses(unit_of)
        reported: dict[Misplaced, Diagnostic] = {}

        def errors(found: Iterable[Misplaced]) -> list[Diagnostic]:
            out = []
            for m in found:
                d = reported.get(m)
                if d is None:
                    d = reported[m] = misplaced_error(m)
                if d not in out:
                    out.append(d)
            return out

        for sym in defs:  # also the unused ones: no use of them could compile
            errors(tenses.profile(sym).misplaced)
        for unit in self.units.values():
            for name, sym in unit.specs.items():
                decl = sym.decl
                assert isinstance(decl, S.SpecDecl)
                tense = tenses.of(decl.body, unit.scope)
                found = errors(tense.misplaced)
                if found and unit is self.root:
                    self.unsupported[name] = found
                if tense.future:
                    self._check_past_conjuncts(unit, decl)
        self.diagnostics.extend(reported.values())

    def _check_past_conjuncts(self, unit: Unit, decl: S.SpecDecl) -> None:
        for f, owner in top_conjuncts(decl.body, unit):
            if not self.tenses.of(f, owner.scope).pure_past:
                continue
            text = " ".join(slice_span(owner.text, f.span).split())
            shown = text if len(text) <= 60 else "P"
            self.diagnostics.append(warning(
                "W004", f'pure-past "{text if len(text) <= 60 else text[:57] + "..."}" is read '
                f'at the first step of the trace, not the last, because spec '
                f'"{decl.name.name}" has future operators',
                f.span, f"to read it at the last step, as it is read on its own, write "
                f"`F(last & ({shown}))`{'' if shown == text else ' with P this formula'}; "
                f"for a condition meant at every step, `G({shown})`"))

    def _references(self, unit_of: dict[int, Unit], sym: Symbol) -> list[Symbol]:
        decl = sym.decl
        assert isinstance(decl, S.DefDecl)
        unit = unit_of[id(sym)]
        params = {p.name for p in decl.params or ()}
        out = []
        for node in S.walk(decl.body):
            if isinstance(node, S.Name | S.Call) and node.name not in params:
                target = unit.scope.get(node.name)
                if target is not None and target.kind == "def":
                    out.append(target)
        return out

    def _check_recursion(self) -> None:
        unit_of, defs = self._definitions()
        edges = {id(s): self._references(unit_of, s) for s in defs}
        reported: set[int] = set()
        for start in defs:
            if id(start) in reported:
                continue
            parent: dict[int, Symbol | None] = {}
            queue = [start]
            found = False
            while queue and not found:
                cur = queue.pop(0)
                for nxt in edges[id(cur)]:
                    if nxt is start:
                        parent[id(start)] = cur
                        found = True
                        break
                    if id(nxt) not in parent:
                        parent[id(nxt)] = cur
                        queue.append(nxt)
            if not found:
                continue
            path = [start]
            node = parent[id(start)]
            while node is not None and node is not start:
                path.append(node)
                node = parent.get(id(node))
            path.reverse()
            names = [start.name, *[p.name for p in path]]
            reported.update(id(p) for p in path)
            reported.add(id(start))
            self.diagnostics.append(error(
                "E014", f'definition "{start.name}" is recursive: ' + " -> ".join(names),
                start.span, "definitions are macros and must not refer to themselves"))

    def _check_unused(self) -> None:
        root = self.root
        if root is None or root.ast is None or not root.specs:
            return  # a library file: its declarations are for importers
        if any(d.is_error for d in self.diagnostics):
            return  # a misspelt use (E010) would make its declaration look unused
        for sym in root.own.values():
            if id(sym) in self.used or sym.name in S.KEYWORDS:
                continue
            if sym.kind in ("prop", "derived"):
                self.diagnostics.append(warning(
                    "W001", f'proposition "{sym.name}" is declared but never used', sym.span,
                    "remove it, or use it in a spec"))
            elif sym.kind == "def":
                self.diagnostics.append(warning(
                    "W002", f'definition "{sym.name}" is never used', sym.span,
                    "remove it, or use it in a spec"))

    # --- results ---------------------------------------------------------------------------

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]

    @property
    def sources(self) -> dict[str, str]:
        return {u.path: u.text for u in self.units.values()}


def misplaced_error(m: Misplaced) -> Diagnostic:
    declared = f"; it is declared at {m.declared}" if m.declared is not None else ""
    return error(
        "E025", f"{m.what} inside {m.past} is not supported", m.span,
        "a past operator's operand is decided by the steps seen so far, so it cannot contain "
        "X, WX, F, G, U, R, W, M, last or end: state the future part outside the past "
        f"operator (as in `G(a -> O b)` or `G(a -> F b)`){declared}")


def top_conjuncts(body: S.Formula, unit: Unit) -> list[tuple[S.Formula, Unit]]:
    """Top-level ``&`` operands, looking through plain definitions so that
    ``spec s { safe }`` with ``def safe = a & b`` still yields two conjuncts (each with the
    unit it is written in)."""
    out: list[tuple[S.Formula, Unit]] = []
    stack: list[tuple[S.Formula, Unit, frozenset[int]]] = [(body, unit, frozenset())]
    while stack:
        f, u, seen = stack.pop()
        if isinstance(f, S.NAry) and f.op == "AND":
            stack.extend((x, u, seen) for x in reversed(f.items))
            continue
        if isinstance(f, S.Name):
            sym = u.scope.get(f.name)
            if (sym is not None and sym.kind == "def" and not sym.is_template
                    and id(sym) not in seen):
                decl = sym.decl
                assert isinstance(decl, S.DefDecl)
                if isinstance(decl.body, S.NAry) and decl.body.op == "AND":
                    owner = _owner(u, sym)
                    stack.append((decl.body, owner, seen | {id(sym)}))
                    continue
        out.append((f, u))
    return out


def _owner(unit: Unit, sym: Symbol, seen: set[int] | None = None) -> Unit:
    if sym in unit.own.values():
        return unit
    seen = seen or set()
    seen.add(id(unit))
    for imp in unit.imports.values():
        if id(imp) not in seen and sym.name in imp.scope and imp.scope[sym.name] is sym:
            return _owner(imp, sym, seen)
    return unit


def check_bounds(node: S.Bounded) -> Iterable[Diagnostic]:
    if node.hi is not None and node.lo > node.hi:
        yield error(
            "E019", f"bounded interval [{node.lo},{node.hi}] is empty: {node.lo} > {node.hi}",
            node.interval_span, f"write [{node.hi},{node.lo}] if the bounds are swapped")
    for b in (node.lo, node.hi):
        if b is not None and b > MAX_BOUND:
            yield error(
                "E022", f"bound {b if b < HUGE_BOUND else 'of over 30 digits'} is too large "
                f"(limit {MAX_BOUND})", node.interval_span,
                "the bound is expanded into that many steps of the monitor")
            break

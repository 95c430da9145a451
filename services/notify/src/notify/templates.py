"""Templates: which one is in force for a tenant, editing a tenant's own version, checking the
texts and variables, and rendering them in a sandbox.

Lookup order: the tenant's own row → the nearest ancestor's (a street's version is the default
for its communities) → the built-in one (``notify.builtin``). An ancestor's rows are read in a
transaction scoped to that ancestor: a community may use its street's texts, never see the
street's notices.

Texts are Jinja2 in an immutable sandbox with no globals and no arithmetic: a template can
print and test the variables it declares (and ``recipient_name``) and nothing else, so a
template written by staff can neither reach Python objects nor blow up memory. Undefined
variables are errors, never silent blanks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Final

import jinja2
from jinja2 import StrictUndefined, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from notify.builtin import BUILTIN, RECIPIENT_NAME, UNKNOWN_RECIPIENT, TemplateDef
from notify.models import TemplateRow
from notify.versions import expect_version
from notify.vocabulary import KINDS, value_of, word_of
from shequ.notify.v1 import notify_pb2 as pb
from shequ_kit.checks import RequestChecks
from shequ_kit.errors import FieldViolation, invalid_input, not_found
from shequ_kit.tenancy import TenantId, tenant_scope

CHECK = RequestChecks("notify")
BUILTIN_DEFINER: Final = "builtin"
STREET_DEFINER: Final = "street"
TENANT_DEFINER: Final = "tenant"
_CODE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
_VARIABLE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_CODE: Final = 80
MAX_NAME: Final = 100
MAX_SUBJECT: Final = 200
MAX_BODY: Final = 4000
MAX_VARIABLES: Final = 20
MAX_VALUE: Final = 2000
# What a rendered text may grow to (a variable printed many times in a loop).
MAX_RENDERED: Final = 20_000
COMPILED_CACHE: Final = 1024


class _NoticeSandbox(ImmutableSandboxedEnvironment):
    """Notices print and test strings: multiplication and powers (``'x' * 10**9``) refused."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        raise SecurityError(f"operator {operator!r} is not available in notice templates")


_ENVIRONMENT = _NoticeSandbox(undefined=StrictUndefined, autoescape=False)
# No range(), lipsum(), namespace()…: a name a template uses is a variable it must declare.
_ENVIRONMENT.globals.clear()


@dataclass(frozen=True, slots=True)
class FoundTemplate:
    """The template in force for a tenant and where it comes from."""

    definition: TemplateDef
    defined_by: str  # "builtin", "street" (an ancestor's version) or "tenant"
    # The asking tenant's own version (0 when inherited or built in): what PutTemplate expects.
    version: int
    # The version of the texts in force (the ancestor's row's, 0 for built-in): notices record
    # which version they were written from.
    source_version: int


# ---- lookup ----


def _definition(row: TemplateRow) -> TemplateDef:
    return TemplateDef(
        code=row.code,
        kind=row.kind,
        name=row.name,
        subject=row.subject,
        body=row.body,
        variables=tuple(row.variables),
    )


def _rows_in_reach(
    sessions: sessionmaker[Session], session: Session, tenant: TenantId, code: str | None
) -> tuple[dict[str, TemplateRow], dict[str, TemplateRow]]:
    """The tenant's own rows (in the caller's transaction) and, per code, the nearest
    ancestor's (one short transaction per ancestor, in the ancestor's own scope)."""

    def query(owner: TenantId) -> Any:
        found = select(TemplateRow).where(TemplateRow.tenant_id == owner.value)
        return found if code is None else found.where(TemplateRow.code == code)

    own = {row.code: row for row in session.scalars(query(tenant))}
    inherited: dict[str, TemplateRow] = {}
    # Nearest first: a street's version beats its district's.
    for ancestor in reversed(tenant.ancestors()):
        with tenant_scope(ancestor), sessions() as other:
            for row in other.scalars(query(ancestor)):
                inherited.setdefault(row.code, row)
    return own, inherited


def _in_force(
    code: str, own: Mapping[str, TemplateRow], inherited: Mapping[str, TemplateRow]
) -> FoundTemplate | None:
    mine = own.get(code)
    if mine is not None:
        return FoundTemplate(_definition(mine), TENANT_DEFINER, mine.version, mine.version)
    if (theirs := inherited.get(code)) is not None:
        return FoundTemplate(_definition(theirs), STREET_DEFINER, 0, theirs.version)
    if (built := BUILTIN.get(code)) is not None:
        return FoundTemplate(built, BUILTIN_DEFINER, 0, 0)
    return None


def templates_in_force(
    sessions: sessionmaker[Session], session: Session, tenant: TenantId
) -> list[FoundTemplate]:
    """Every template the tenant can use, sorted by code."""
    own, inherited = _rows_in_reach(sessions, session, tenant, None)
    found = (_in_force(code, own, inherited) for code in sorted({*BUILTIN, *own, *inherited}))
    return [f for f in found if f is not None]


def find(
    sessions: sessionmaker[Session], session: Session, tenant: TenantId, code: str
) -> FoundTemplate:
    """The template ``code`` in force for ``tenant``; 404 when there is none."""
    cleaned = code.strip()
    own, inherited = _rows_in_reach(sessions, session, tenant, cleaned)
    found = _in_force(cleaned, own, inherited)
    if found is None:
        raise not_found(
            "notify.template_not_found",
            f"没有通知模板 {cleaned or '（空）'}",
            f"no notification template {cleaned!r}",
        )
    return found


# ---- editing ----


def put(
    sessions: sessionmaker[Session],
    session: Session,
    tenant: TenantId,
    given: pb.Template,
    *,
    expected_version: int,
    by: str,
) -> FoundTemplate:
    """Add (expected_version 0) or edit the tenant's own version of a template."""
    definition = validate(definition_of(given))
    row = session.get(TemplateRow, (tenant.value, definition.code), with_for_update=True)
    expect_version(
        row.version if row is not None else 0,
        expected_version,
        what_zh=f"模板 {definition.code}",
        what_en=f"template {definition.code}",
    )
    if row is None:
        row = TemplateRow(tenant_id=tenant.value, code=definition.code, version=1)
        session.add(row)
    else:
        row.version += 1
    row.kind = definition.kind
    row.name = definition.name
    row.subject = definition.subject
    row.body = definition.body
    row.variables = list(definition.variables)
    row.updated_by = by
    row.updated_at = datetime.now(UTC)
    session.flush()
    return FoundTemplate(definition, TENANT_DEFINER, row.version, row.version)


def definition_of(given: pb.Template) -> TemplateDef:
    """The request's template, trimmed; the kind must be named."""
    kind = word_of(KINDS, given.kind)
    if kind is None:
        raise invalid_input(
            "notify.template_kind_invalid",
            "请选择通知类型",
            "template.kind is required",
            FieldViolation("template.kind", "anti_fraud, event, meeting, general or case_update"),
        )
    return TemplateDef(
        code=given.code.strip(),
        kind=kind,
        name=given.name.strip(),
        subject=given.subject.strip(),
        body=given.body.strip(),
        variables=tuple(v.strip() for v in given.variables),
    )


def validate(definition: TemplateDef) -> TemplateDef:
    """Every problem of a template at once, each naming its field: code, name and texts within
    bounds, variables well named and unique, texts that parse, use only declared variables and
    (for the case templates the system fills) declare only what the system gives."""
    problems: list[FieldViolation] = []
    if not _CODE.match(definition.code) or len(definition.code) > MAX_CODE:
        problems.append(
            FieldViolation("template.code", "dotted lower-case words, e.g. anti_fraud.alert")
        )
    if not definition.name or len(definition.name) > MAX_NAME:
        problems.append(FieldViolation("template.name", f"1 to {MAX_NAME} characters"))
    if not definition.subject or len(definition.subject) > MAX_SUBJECT:
        problems.append(FieldViolation("template.subject", f"1 to {MAX_SUBJECT} characters"))
    elif "\n" in definition.subject:
        problems.append(FieldViolation("template.subject", "one line"))
    if not definition.body or len(definition.body) > MAX_BODY:
        problems.append(FieldViolation("template.body", f"1 to {MAX_BODY} characters"))
    problems += _variable_problems(definition)
    if not problems:
        for field, source in (
            ("template.subject", definition.subject),
            ("template.body", definition.body),
        ):
            problems += _source_problems(field, source, definition.variables)
    if problems:
        raise invalid_input(
            "notify.template_invalid",
            "模板有误：" + "；".join(f"{p.field} {p.description}" for p in problems),
            "the template is not valid: " + "; ".join(p.field for p in problems),
            *problems,
        )
    return definition


def _variable_problems(definition: TemplateDef) -> list[FieldViolation]:
    problems: list[FieldViolation] = []
    declared = definition.variables
    if len(declared) > MAX_VARIABLES:
        problems.append(FieldViolation("template.variables", f"at most {MAX_VARIABLES}"))
    for name in declared:
        if not _VARIABLE.match(name):
            problems.append(
                FieldViolation("template.variables", f"{name!r} is not a lower-case name")
            )
        elif name == RECIPIENT_NAME:
            problems.append(
                FieldViolation("template.variables", f"{RECIPIENT_NAME} is filled per recipient")
            )
    if len(set(declared)) != len(declared):
        problems.append(FieldViolation("template.variables", "each variable once"))
    builtin = BUILTIN.get(definition.code)
    if builtin is not None and builtin.kind == "case_update":
        # The cases consumer fills these templates; it gives nothing else.
        if extra := sorted(set(declared) - set(builtin.variables)):
            given = ", ".join(builtin.variables)
            problems.append(
                FieldViolation(
                    "template.variables", f"case templates can use {given}; not {', '.join(extra)}"
                )
            )
        if definition.kind != builtin.kind:
            problems.append(FieldViolation("template.kind", "case templates stay case_update"))
    return problems


def _source_problems(field: str, source: str, declared: Sequence[str]) -> list[FieldViolation]:
    try:
        parsed = _ENVIRONMENT.parse(source)
    except jinja2.TemplateSyntaxError as error:
        return [FieldViolation(field, f"line {error.lineno}: {error.message}")]
    used = meta.find_undeclared_variables(parsed) - {RECIPIENT_NAME}
    undeclared = sorted(used - set(declared))
    if undeclared:
        return [FieldViolation(field, f"uses undeclared variables: {', '.join(undeclared)}")]
    return []


def check_variables(
    definition: TemplateDef, given: Mapping[str, str], *, field: str = "draft.variables"
) -> dict[str, str]:
    """The notice's variables, trimmed: every declared one given and not blank, none the
    template does not declare (a misspelt name would otherwise vanish silently)."""
    problems: list[FieldViolation] = []
    cleaned = {name.strip(): value.strip() for name, value in given.items()}
    for name in definition.variables:
        if not cleaned.get(name):
            problems.append(FieldViolation(f"{field}.{name}", "required by the template"))
    for name, value in cleaned.items():
        if name not in definition.variables:
            problems.append(FieldViolation(f"{field}.{name}", "not a variable of the template"))
        elif len(value) > MAX_VALUE:
            problems.append(FieldViolation(f"{field}.{name}", f"at most {MAX_VALUE} characters"))
    if problems:
        raise invalid_input(
            "notify.variables_invalid",
            "模板变量有误：" + "、".join(p.field.rpartition(".")[2] for p in problems),
            "template variables: " + "; ".join(f"{p.field} {p.description}" for p in problems),
            *problems,
        )
    return cleaned


# ---- rendering ----


@lru_cache(maxsize=COMPILED_CACHE)
def _compiled(source: str) -> jinja2.Template:
    return _ENVIRONMENT.from_string(source)


def render(
    subject_source: str,
    body_source: str,
    variables: Mapping[str, str],
    recipient_name: str,
) -> tuple[str, str]:
    """The subject (one line) and body for one recipient. Sources were validated when the
    template was saved; a failure here (a source from elsewhere) is a clear 422, not a 500."""
    values = {**variables, RECIPIENT_NAME: recipient_name.strip() or UNKNOWN_RECIPIENT}
    try:
        subject = _compiled(subject_source).render(values)
        body = _compiled(body_source).render(values)
    except (jinja2.TemplateError, SecurityError) as error:
        raise invalid_input(
            "notify.template_render_failed",
            f"模板无法生成通知内容：{error}",
            f"the template cannot be rendered: {error}",
            FieldViolation("template", str(error)),
        ) from error
    if len(subject) + len(body) > MAX_RENDERED:
        raise invalid_input(
            "notify.template_render_failed",
            "通知内容过长",
            f"the rendered notice exceeds {MAX_RENDERED} characters",
            FieldViolation("template", f"rendered text over {MAX_RENDERED} characters"),
        )
    return " ".join(subject.split()), body.strip()


# ---- proto ----


def template_pb(found: FoundTemplate) -> pb.Template:
    d = found.definition
    return pb.Template(
        code=d.code,
        name=d.name,
        kind=value_of(KINDS, d.kind),  # type: ignore[arg-type]
        subject=d.subject,
        body=d.body,
        variables=list(d.variables),
        defined_by=found.defined_by,
        version=found.version,
    )


def of_kind(found: Iterable[FoundTemplate], kind: str | None) -> list[FoundTemplate]:
    return [f for f in found if kind is None or f.definition.kind == kind]

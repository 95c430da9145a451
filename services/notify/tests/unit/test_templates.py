import pytest

from notify import templates
from notify.builtin import BUILTIN, CASE_VARIABLES, TemplateDef
from shequ.notify.v1 import notify_pb2 as pb
from shequ_kit.errors import DomainError


def template(**fields: object) -> TemplateDef:
    defaults: dict[str, object] = {
        "code": "event.tea_party",
        "kind": "event",
        "name": "茶话会",
        "subject": "【活动】{{ title }}",
        "body": "{{ recipient_name }}您好：{{ time }}在{{ place }}举办{{ title }}。",
        "variables": ("title", "time", "place"),
    }
    return TemplateDef(**{**defaults, **fields})  # type: ignore[arg-type]


def violations(error: pytest.ExceptionInfo[DomainError]) -> dict[str, str]:
    return {v.field: v.description for v in error.value.field_violations}


def test_every_builtin_template_is_valid_and_renders_in_chinese() -> None:
    for definition in BUILTIN.values():
        templates.validate(definition)
        values = {name: f"〈{name}〉" for name in definition.variables}
        subject, body = templates.render(definition.subject, definition.body, values, "王秀英")
        assert subject
        assert "\n" not in subject
        assert any("\u4e00" <= ch <= "\u9fff" for ch in body), definition.code
        for name in definition.variables:
            if f"{{{{ {name} }}}}" in definition.subject + definition.body:
                assert f"〈{name}〉" in subject + body


def test_case_templates_declare_what_the_cases_consumer_gives() -> None:
    case_templates = [t for t in BUILTIN.values() if t.kind == "case_update"]
    assert {t.code for t in case_templates} == {
        "case.dispatched",
        "case.escalated",
        "case.accepted",
        "case.resolved",
        "case.rating_requested",
        "case.overdue",
    }
    assert all(t.variables == CASE_VARIABLES for t in case_templates)


def test_a_case_deadline_is_left_out_when_the_case_has_none() -> None:
    dispatched = BUILTIN["case.dispatched"]
    values = dict.fromkeys(CASE_VARIABLES, "x") | {"deadline": ""}
    _, body = templates.render(dispatched.subject, dispatched.body, values, "李建国")
    assert "前处置" not in body
    _, body = templates.render(
        dispatched.subject, dispatched.body, values | {"deadline": "2026-11-24 10:00"}, "李建国"
    )
    assert "请在 2026-11-24 10:00 前处置" in body


def test_rendering_names_the_recipient_or_calls_them_resident() -> None:
    t = template()
    values = {"title": "重阳茶话会", "time": "10月29日上午9点", "place": "社区活动室"}
    subject, body = templates.render(t.subject, t.body, values, "张桂芳")
    assert subject == "【活动】重阳茶话会"
    assert body == "张桂芳您好：10月29日上午9点在社区活动室举办重阳茶话会。"
    _, body = templates.render(t.subject, t.body, values, "  ")
    assert body.startswith("居民您好")


def test_a_subject_renders_to_one_line() -> None:
    subject, _ = templates.render("{{ title }}", "x", {"title": "第一行\n第二行"}, "")
    assert subject == "第一行 第二行"


def test_a_syntax_error_is_reported_on_its_field_and_line() -> None:
    with pytest.raises(DomainError) as error:
        templates.validate(template(body="第一行\n{{ title "))
    assert error.value.code == "notify.template_invalid"
    assert violations(error)["template.body"].startswith("line 2:")


def test_a_variable_used_but_not_declared_is_refused() -> None:
    with pytest.raises(DomainError) as error:
        templates.validate(template(subject="{{ title }}{{ organiser }}"))
    assert "organiser" in violations(error)["template.subject"]


def test_jinja_globals_are_not_available_to_templates() -> None:
    # range() would let a template loop a million times; it counts as an undeclared name.
    with pytest.raises(DomainError) as error:
        templates.validate(template(body="{% for i in range(1000000) %}{{ title }}{% endfor %}"))
    assert "range" in violations(error)["template.body"]


def test_declared_variables_must_be_names_unique_and_not_the_recipient_name() -> None:
    for variables in (("title", "title"), ("Title",), ("recipient_name",), ("a b",)):
        with pytest.raises(DomainError) as error:
            templates.validate(template(subject="x", body="y", variables=variables))
        assert "template.variables" in violations(error)


def test_code_name_and_texts_are_checked_together() -> None:
    with pytest.raises(DomainError) as error:
        templates.validate(template(code="Tea Party", name="", subject="a\nb", body=""))
    assert set(violations(error)) == {
        "template.code",
        "template.name",
        "template.subject",
        "template.body",
    }


def test_a_case_template_may_not_ask_for_what_the_system_does_not_give() -> None:
    dispatched = BUILTIN["case.dispatched"]
    with pytest.raises(DomainError) as error:
        templates.validate(
            TemplateDef(
                code=dispatched.code,
                kind="case_update",
                name="派遣",
                subject="{{ number }}",
                body="{{ assignee_phone }}",
                variables=("number", "assignee_phone"),
            )
        )
    assert "assignee_phone" in violations(error)["template.variables"]
    # A tenant may use fewer of them.
    templates.validate(
        TemplateDef(dispatched.code, "case_update", "派遣", "{{ number }}", "请处置", ("number",))
    )


def test_a_notice_must_give_every_variable_and_no_other() -> None:
    t = template()
    with pytest.raises(DomainError) as error:
        templates.check_variables(t, {"title": "茶话会", "time": " ", "plase": "活动室"})
    assert violations(error) == {
        "draft.variables.time": "required by the template",
        "draft.variables.place": "required by the template",
        "draft.variables.plase": "not a variable of the template",
    }
    given = {"title": " 茶话会 ", "time": "明天", "place": "活动室"}
    assert templates.check_variables(t, given)["title"] == "茶话会"


def test_the_sandbox_refuses_python_internals_and_huge_texts() -> None:
    for body in ("{{ title.__class__.__mro__ }}", "{{ title * 100000000 }}"):
        with pytest.raises(DomainError) as error:
            templates.render("x", body, {"title": "t"}, "")
        assert error.value.code == "notify.template_render_failed"


def test_compiled_templates_are_cached() -> None:
    source = "{{ title }}：缓存测试"
    templates.render(source, source, {"title": "a"}, "")
    hits = templates._compiled.cache_info().hits
    templates.render(source, source, {"title": "b"}, "")
    assert templates._compiled.cache_info().hits >= hits + 2


def test_a_template_without_a_kind_is_refused_naming_the_field() -> None:
    with pytest.raises(DomainError) as error:
        templates.definition_of(pb.Template(code="a.b", name="n", subject="s", body="b"))
    assert violations(error) == {
        "template.kind": "anti_fraud, event, meeting, general or case_update"
    }

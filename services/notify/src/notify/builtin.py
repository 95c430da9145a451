"""The built-in templates (Chinese): what every tenant has until it, or its street, writes its
own version (``notify.templates``). Every template may also use ``recipient_name``, filled per
recipient ("居民" when the name is unknown).

The case templates are filled by the cases consumer (``notify.case_updates``) with
``CASE_VARIABLES``: the case's number, category, deadline (Asia/Shanghai "YYYY-MM-DD HH:MM",
empty when none), level, state and action (Chinese labels) and rating.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

RECIPIENT_NAME: Final = "recipient_name"
UNKNOWN_RECIPIENT: Final = "居民"
CASE_VARIABLES: Final = ("number", "category", "deadline", "level", "state", "action", "rating")


@dataclass(frozen=True, slots=True)
class TemplateDef:
    """A template's definition: the dotted code, its kind word (``notify.vocabulary.KINDS``),
    the name staff see, the subject (one line) and body (Jinja2, sandboxed) and the variables
    a notice must give."""

    code: str
    kind: str
    name: str
    subject: str
    body: str
    variables: tuple[str, ...]


_TITLE_CONTENT = ("title", "content")
_GATHERING = ("title", "time", "place", "content")

_BUILTIN = (
    TemplateDef(
        code="anti_fraud.alert",
        kind="anti_fraud",
        name="反诈预警",
        subject="【反诈预警】{{ title }}",
        body=(
            "{{ recipient_name }}您好：\n{{ content }}\n"
            "请提高警惕，不轻信、不转账、不透露验证码。如遇可疑情况，请拨打 96110 反诈专线"
            "或联系社区。"
        ),
        variables=_TITLE_CONTENT,
    ),
    TemplateDef(
        code="event.invite",
        kind="event",
        name="活动通知",
        subject="【活动通知】{{ title }}",
        body=(
            "{{ recipient_name }}您好：\n社区将于{{ time }}在{{ place }}举办「{{ title }}」。\n"
            "{{ content }}\n欢迎参加！"
        ),
        variables=_GATHERING,
    ),
    TemplateDef(
        code="meeting.notice",
        kind="meeting",
        name="会议通知",
        subject="【会议通知】{{ title }}",
        body=(
            "{{ recipient_name }}您好：\n兹定于{{ time }}在{{ place }}召开{{ title }}。\n"
            "{{ content }}\n请准时参加。"
        ),
        variables=_GATHERING,
    ),
    TemplateDef(
        code="general.notice",
        kind="general",
        name="一般通知",
        subject="【通知】{{ title }}",
        body="{{ recipient_name }}您好：\n{{ content }}",
        variables=_TITLE_CONTENT,
    ),
    TemplateDef(
        code="case.dispatched",
        kind="case_update",
        name="事件派遣（处置人）",
        subject="【待办】事件 {{ number }} 已{{ action }}给您",
        body=(
            "{{ recipient_name }}您好：事件 {{ number }}（{{ category }}）已{{ action }}给您，"
            "当前层级：{{ level }}，状态：{{ state }}。"
            "{% if deadline %}请在 {{ deadline }} 前处置。{% endif %}"
        ),
        variables=CASE_VARIABLES,
    ),
    TemplateDef(
        code="case.escalated",
        kind="case_update",
        name="事件上报（处置人）",
        subject="【上报】事件 {{ number }} 已上报至{{ level }}",
        body=(
            "{{ recipient_name }}您好：事件 {{ number }}（{{ category }}）已上报至{{ level }}，"
            "由您处置，状态：{{ state }}。{% if deadline %}处置时限：{{ deadline }}。{% endif %}"
        ),
        variables=CASE_VARIABLES,
    ),
    TemplateDef(
        code="case.accepted",
        kind="case_update",
        name="事件受理（反映人）",
        subject="【已受理】您反映的事件 {{ number }} 已受理",
        body=(
            "{{ recipient_name }}您好：您反映的事件 {{ number }}（{{ category }}）已受理，"
            "我们会尽快处置。{% if deadline %}处置时限：{{ deadline }}。{% endif %}"
        ),
        variables=CASE_VARIABLES,
    ),
    TemplateDef(
        code="case.resolved",
        kind="case_update",
        name="事件处置完毕（反映人）",
        subject="【已处置】您反映的事件 {{ number }} 已处置完毕",
        body=(
            "{{ recipient_name }}您好：您反映的事件 {{ number }}（{{ category }}）已处置完毕，"
            "感谢您对社区工作的支持。"
        ),
        variables=CASE_VARIABLES,
    ),
    TemplateDef(
        code="case.rating_requested",
        kind="case_update",
        name="邀请评价（反映人）",
        subject="【请评价】事件 {{ number }} 已办结",
        body=(
            "{{ recipient_name }}您好：您反映的事件 {{ number }}（{{ category }}）已办结，"
            "请对办理结果进行评价，您的意见将帮助我们改进工作。"
        ),
        variables=CASE_VARIABLES,
    ),
    TemplateDef(
        code="case.overdue",
        kind="case_update",
        name="事件超期（社区）",
        subject="【超期】事件 {{ number }} 已超过处置时限",
        body=(
            "事件 {{ number }}（{{ category }}）{% if deadline %}已超过处置时限 {{ deadline }}"
            "{% else %}已超期{% endif %}，当前层级：{{ level }}，状态：{{ state }}。请尽快督办。"
        ),
        variables=CASE_VARIABLES,
    ),
)

BUILTIN: Final[Mapping[str, TemplateDef]] = MappingProxyType({t.code: t for t in _BUILTIN})

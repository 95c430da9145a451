"""The case category catalogue: the default classes every tenant starts with, the rules a class
must satisfy, and which definition is in force for a tenant.

Codes are this platform's 2+2 digits (major + minor). Majors 01–05 carry the event classes of
GB/T 30428.2 (数字化城市管理信息系统 第2部分：管理部件和事件); the standard's 部件 (managed
components such as manhole covers and street lamps) belong to their owners' systems, not here.
Majors 06–10 are the community matters the seeds show (disputes, petitions, property, fraud,
services). Each minor class carries its 立案标准 (what makes a report a case of this class),
结案标准 (what must be true to close it), a handling deadline in working hours or working days
(``sla``), the level that answers for it first (``lifecycle.Level``; routing dispatches to that
rung) and whether it is urgent (dispatched at once, notified outside quiet hours).

Deadlines follow city-management practice: street matters a worker can fix on the spot are
counted in working hours, matters needing owners, companies or mediation in working days.
Working hours only run 08:30–12:00 and 13:30–17:30, so "1 working hour" measures how fast the
office answers; an urgent class is still pushed to the assignee the moment it is reported.

Resolution ("a street can define defaults for its communities", "a tenant can add and edit its
own"): for each code the definition in force is the tenant's own custom row, else the nearest
ancestor's custom row (street before district), else the tenant's own seeded default row, else
the built-in ``DEFAULT_CATALOGUE`` entry, so a tenant without rows still has every class.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from cases.lifecycle import Level
from cases.sla import DeadlineUnit
from shequ_kit.errors import FieldViolation, invalid_input
from shequ_kit.tenancy import TenantId

HOURS: Final = DeadlineUnit.WORKING_HOURS
DAYS: Final = DeadlineUnit.WORKING_DAYS
DEFAULT_DEFINER: Final = "default"

MAX_NAME = 40
MAX_STANDARD = 500
MAX_MAJOR_NAME = 20
MAX_DEADLINE: Final[Mapping[DeadlineUnit, int]] = MappingProxyType({HOURS: 999, DAYS: 180})
# ASCII digits only: ``\d`` would admit full-width "０１０１", which sorts and routes differently.
_CODE = re.compile(r"[0-9]{4}")


@dataclass(frozen=True)
class CategoryDef:
    """One minor class: ``code`` is a 2-digit major and a 2-digit minor, e.g. "0103"."""

    code: str
    name: str
    acceptance_standard: str  # 立案标准
    closing_standard: str  # 结案标准
    deadline_amount: int
    deadline_unit: DeadlineUnit
    responsible_level: Level
    urgent: bool = False
    enabled: bool = True
    major_name: str = ""  # filled from MAJORS for default majors; required for a new major

    @property
    def major_code(self) -> str:
        return self.code[:2]


class Origin(StrEnum):
    DEFAULT = "default"  # a seeded copy of DEFAULT_CATALOGUE, never edited
    CUSTOM = "custom"  # added or edited by that tenant


@dataclass(frozen=True)
class StoredCategory:
    """One row of the categories table, as the service reads it."""

    tenant_id: str
    definition: CategoryDef
    origin: Origin
    version: int


@dataclass(frozen=True)
class EffectiveCategory:
    """The definition in force for a tenant, where it comes from, and the tenant's own version."""

    definition: CategoryDef
    defined_by: str  # "default", or the tenant id whose custom row is in force
    version: int  # the asking tenant's own row's version; 0 when inherited or built in


MAJORS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "01": "市容环境",
        "02": "宣传广告",
        "03": "施工管理",
        "04": "突发事件",
        "05": "街面秩序",
        "06": "矛盾纠纷",
        "07": "信访",
        "08": "物业",
        "09": "反诈",
        "10": "为民服务",
    }
)


def _minor(  # noqa: PLR0917 - the table below reads as columns
    code: str,
    name: str,
    amount: int,
    unit: DeadlineUnit,
    level: Level,
    acceptance: str,
    closing: str,
    *,
    urgent: bool = False,
) -> CategoryDef:
    return CategoryDef(
        code=code,
        name=name,
        acceptance_standard=acceptance,
        closing_standard=closing,
        deadline_amount=amount,
        deadline_unit=unit,
        responsible_level=level,
        urgent=urgent,
        major_name=MAJORS[code[:2]],
    )


def _urgent(  # noqa: PLR0917 - the table below reads as columns
    code: str,
    name: str,
    amount: int,
    unit: DeadlineUnit,
    level: Level,
    acceptance: str,
    closing: str,
) -> CategoryDef:
    return _minor(code, name, amount, unit, level, acceptance, closing, urgent=True)


STAIRWELL_CLUTTER: Final[str] = "0103"
PETITION: Final[str] = "0701"
ANTI_FRAUD: Final[str] = "0901"

# One class per entry:   code, name, deadline, unit, level first answering,
#                        立案标准,
#                        结案标准.
# fmt: off
DEFAULT_CATALOGUE: Final[tuple[CategoryDef, ...]] = (
    # ---- 01 市容环境 ----
    _minor("0101", "暴露垃圾", 2, HOURS, Level.MICRO_GRID,
        "公共区域可见散落垃圾、积存垃圾或渣土，面积大于0.5平方米",
        "垃圾清理完毕，现场整洁，无残留"),
    _minor("0102", "垃圾满溢", 2, HOURS, Level.MICRO_GRID,
        "垃圾桶（箱）或垃圾收集点垃圾溢出、桶盖无法闭合，或桶外散落垃圾",
        "垃圾清运完毕，桶体归位加盖，周边无散落"),
    # Days, not hours: owners are first asked to move their own things, then it is cleared.
    _minor(STAIRWELL_CLUTTER, "楼道堆积物", 3, DAYS, Level.MICRO_GRID,
        "楼道、楼梯间、公共走道堆放杂物、纸箱、旧家具等，占用通行空间",
        "堆积物由住户移走或清理完毕，楼道畅通，经楼道长或网格员现场确认"),
    _minor("0104", "绿地脏乱", 4, HOURS, Level.MICRO_GRID,
        "绿地、花坛内有垃圾、杂物或动物粪便，面积大于1平方米",
        "绿地内垃圾杂物清除，无明显污物"),
    _minor("0105", "废弃家具设备", 2, DAYS, Level.MICRO_GRID,
        "公共区域弃置沙发、床垫、家电等大件物品，超过24小时无人认领",
        "废弃物清运或由所有人搬离，现场无残留"),
    _urgent("0106", "露天焚烧", 1, HOURS, Level.MICRO_GRID,
        "露天焚烧垃圾、树叶、秸秆或祭祀用品，有明火或浓烟",
        "明火熄灭，焚烧残留物清除，当事人已劝导"),
    _minor("0107", "不文明养犬", 2, DAYS, Level.MICRO_GRID,
        "遛犬不牵绳、犬只粪便未清理、犬只长时间吠叫扰民，或饲养禁养犬",
        "养犬人经劝导整改，粪便清理；拒不整改的已移交执法部门"),

    # ---- 02 宣传广告 ----
    _minor("0201", "非法小广告", 4, HOURS, Level.MICRO_GRID,
        "墙面、电线杆、楼道、单元门等处张贴、喷涂或刻画小广告，"
        "单处面积大于0.1平方米或同一处3张以上",
        "小广告清除干净，墙面无明显残留痕迹"),
    _minor("0202", "违规横幅标语", 1, DAYS, Level.MICRO_GRID,
        "未经批准悬挂横幅、标语、彩旗，或已过期、破损未撤除",
        "横幅标语撤除，或已补办审批手续并悬挂规范"),
    _minor("0203", "占道广告牌", 4, HOURS, Level.MICRO_GRID,
        "在人行道、绿地或小区通道摆放广告牌、灯箱、展架，影响通行",
        "广告牌、展架撤离，通道畅通"),
    _minor("0204", "店招店牌破损", 3, DAYS, Level.GRID,
        "店招店牌、户外广告设施破损、污损、字体残缺或灯光不全",
        "设施修复、更换或拆除，外观完好"),

    # ---- 03 施工管理 ----
    _minor("0301", "施工扰民", 1, DAYS, Level.GRID,
        "22时至次日6时未经批准施工，或施工噪声、振动明显影响居民休息",
        "违规施工停止或已办理夜间施工许可，居民未再反映"),
    _minor("0302", "工地扬尘", 4, HOURS, Level.GRID,
        "施工现场裸土未覆盖、未洒水降尘，或车辆带泥上路，产生明显扬尘",
        "裸土覆盖、降尘措施落实，现场及出入口无明显扬尘"),
    _minor("0303", "道路遗撒", 2, HOURS, Level.MICRO_GRID,
        "运输车辆沿途遗撒渣土、砂石、泥浆，遗撒面积大于1平方米",
        "遗撒物清除，路面无残留"),
    _minor("0304", "违规装修", 3, DAYS, Level.GRID,
        "室内装修拆改承重结构、擅自改变外立面，或装修垃圾未袋装、未定点堆放",
        "违规行为停止并恢复原状，装修垃圾按规定清运"),

    # ---- 04 突发事件 (CJ/T 214 numbers it before 街面秩序) ----
    _urgent("0401", "燃气泄漏", 1, HOURS, Level.GRID,
        "闻到明显燃气异味、听到漏气声，或燃气报警器报警",
        "燃气公司完成处置，现场检测无泄漏，隐患消除"),
    _urgent("0402", "火灾隐患", 4, HOURS, Level.GRID,
        "电动自行车进楼入户或飞线充电、私拉电线，或消防设施损坏、缺失",
        "车辆移出、飞线拆除、消防设施修复，复查无隐患"),
    _urgent("0403", "消防通道占用", 2, HOURS, Level.MICRO_GRID,
        "小区消防车通道、消防登高场地被车辆或杂物占用，或被锁闭",
        "占用物清离、锁闭解除，消防通道畅通并有警示标识"),
    _urgent("0404", "高空坠物隐患", 2, HOURS, Level.GRID,
        "外墙面砖、空调外机、广告牌、阳台花盆等松动有坠落风险，或发生高空抛物",
        "隐患部位加固或拆除，或设置隔离警示区，无坠落风险；抛物行为已查明劝诫"),
    _urgent("0405", "供排水管道破裂", 2, HOURS, Level.GRID,
        "自来水、污水管道破裂或冒水，影响通行或居民用水",
        "管道抢修完毕，或已关阀报修并设警示，现场无积水"),
    _urgent("0406", "积水内涝", 4, HOURS, Level.COMMUNITY,
        "降雨后道路、地下车库或低洼小区积水深度超过15厘米，影响通行或有倒灌风险",
        "积水排除，排水设施疏通，无倒灌风险"),
    _urgent("0407", "路面塌陷", 4, HOURS, Level.STREET,
        "道路、人行道或小区路面出现塌陷、明显沉降或空洞",
        "塌陷区域已围挡警示，养护单位修复完毕，通行恢复"),
    # Beyond one community's means from the first minute: the street takes command.
    _urgent("0408", "较大突发事件", 1, HOURS, Level.STREET,
        "火灾、爆炸、建筑倒塌、人员聚集等影响较大、需多部门联动的事件",
        "险情得到控制，人员妥善安置，善后工作完成或已移交主管部门"),

    # ---- 05 街面秩序 ----
    _minor("0501", "占道经营", 2, HOURS, Level.MICRO_GRID,
        "店铺超出门窗外墙经营，或摊贩在人行道、小区出入口设摊经营",
        "经营物品撤回店内或摊点撤离，通道畅通"),
    _minor("0502", "机动车乱停放", 2, HOURS, Level.MICRO_GRID,
        "机动车停放在人行道、绿地、小区出入口或单元门前，影响通行",
        "车辆驶离或已移交交警处理，通道畅通"),
    _minor("0503", "非机动车乱停放", 4, HOURS, Level.MICRO_GRID,
        "非机动车、共享单车在人行道、盲道、单元门口乱停乱放，影响通行",
        "车辆规整或清离，盲道和通道畅通"),
    _minor("0504", "噪声扰民", 1, DAYS, Level.MICRO_GRID,
        "广场舞、商铺高音喇叭、宠物或邻里生活噪声持续影响居民休息",
        "噪声停止或降至不扰民，反映人确认"),
    _minor("0505", "群租房", 5, DAYS, Level.GRID,
        "住房被分割出租、按床位出租，或人均居住面积明显过小，存在安全隐患",
        "隔断拆除、居住人数符合规定，出租及承租人员信息登记完整"),

    # ---- 06 矛盾纠纷 ----
    _minor("0601", "邻里纠纷", 5, DAYS, Level.GRID,
        "邻里间因噪声、通道、宠物、占用公共部位等发生争执，当事人请求调解",
        "调解达成一致或签订调解协议，双方认可；调解不成的已告知法律途径"),
    _minor("0602", "渗漏水纠纷", 10, DAYS, Level.GRID,
        "上下楼或相邻住户因渗漏水造成损失，自行协商未果",
        "漏点查明并修复，损失赔偿达成一致；调解不成的已告知法律途径"),
    _minor("0603", "家庭纠纷", 10, DAYS, Level.GRID,
        "婚姻、赡养、抚养、继承等家庭矛盾，当事人或家属请求调解（涉及家暴的同时报警）",
        "调解达成一致并回访无反复；涉及家暴的已报警并落实保护措施"),
    # The whole building's owners, and often the owners' committee and the property company,
    # sit at one table: the community convenes it.
    _minor("0604", "加装电梯费用分摊纠纷", 20, DAYS, Level.COMMUNITY,
        "既有住宅加装电梯、空调等共用设施，业主之间或业委会与物业公司"
        "就费用分摊、低层补偿、施工影响意见不一",
        "各方就分摊或补偿方案签字确认，或经协商会、听证形成书面结论"),
    _minor("0605", "劳资纠纷", 5, DAYS, Level.COMMUNITY,
        "辖区务工人员被拖欠工资、劳动报酬，请求协调",
        "工资支付到位，或已引导至劳动保障监察、劳动仲裁并确认受理"),

    # ---- 07 信访 ----
    # 《信访工作条例》 allows 60 days from acceptance; the community is the first gate, so it
    # answers within 15 working days (three weeks) or passes the matter up with time left.
    _minor(PETITION, "信访事项", 15, DAYS, Level.COMMUNITY,
        "群众以来信、来访、电话、网络等形式反映诉求，属社区职责或需社区协调",
        "诉求已依法依规办理并书面或当面答复信访人，答复意见和回访记录存档"),
    # Long-standing petitions are taken over by a street leader (包案).
    _minor("0702", "信访积案", 30, DAYS, Level.STREET,
        "同一事项多次信访、越级信访，或经处理仍长期未化解的信访事项",
        "包案领导接访，化解方案落实，信访人息诉罢访或依法终结"),
    _urgent("0703", "信访风险预警", 4, HOURS, Level.COMMUNITY,
        "发现可能引发集体访、越级访或极端行为的苗头性、倾向性问题",
        "当事人稳控和疏导措施落实，情绪稳定，风险情况已报街道"),

    # ---- 08 物业 ----
    _minor("0801", "物业服务纠纷", 5, DAYS, Level.GRID,
        "业主对物业保洁、安保、维修响应、收费等服务有异议，与物业公司协商未果",
        "物业公司整改到位或双方达成一致，业主确认"),
    _minor("0802", "更换物业", 40, DAYS, Level.COMMUNITY,
        "业主大会拟解聘、选聘物业服务企业，或物业服务企业拟退出，需社区指导",
        "依法完成选聘或续聘表决，新旧物业交接完成，服务不断档"),
    _minor("0803", "共用设施报修", 2, DAYS, Level.MICRO_GRID,
        "小区电梯、门禁、路灯、监控、单元门等共用设施设备故障，物业未及时维修",
        "设施修复并恢复正常使用，报修人确认"),
    _minor("0804", "绿化养护", 5, DAYS, Level.MICRO_GRID,
        "小区绿地树木枯死、倒伏、遮挡采光，绿篱杂草丛生，或绿地被毁种菜",
        "修剪、补种或清理完成，绿地恢复"),
    _minor("0805", "维修资金使用", 20, DAYS, Level.COMMUNITY,
        "住宅专项维修资金的申请、表决、使用或公示有争议，或紧急维修需动用维修资金",
        "按程序完成表决、公示和划拨，或争议已释明并经各方认可"),
    # The preparatory group must convene the first owners' assembly within 90 days
    # (《业主大会和业主委员会指导规则》), about 60 working days.
    _minor("0806", "成立业主委员会", 60, DAYS, Level.COMMUNITY,
        "业主申请筹备业主大会、选举业主委员会，或业主委员会换届",
        "首次业主大会召开、业委会选举产生并备案；不具备条件的已书面告知原因"),

    # ---- 09 反诈 ----
    _urgent(ANTI_FRAUD, "电信网络诈骗预警", 1, HOURS, Level.GRID,
        "公安反诈中心下发预警，或发现居民正与疑似诈骗人员联系、准备转账",
        "当面或电话劝阻到位，当事人确认未转账或已止付，劝阻结果反馈公安"),
    _urgent("0902", "受骗报案协助", 2, HOURS, Level.GRID,
        "居民已被骗并有资金损失，需协助报警、冻结止付",
        "已协助报警并取得回执，止付申请已提交，当事人获得后续帮扶"),
    _minor("0903", "涉诈线索", 4, HOURS, Level.GRID,
        "发现疑似电诈窝点，或出租、出售银行卡、电话卡（两卡）的线索",
        "线索已移交公安并取得接收确认"),
    _minor("0904", "反诈宣传", 10, DAYS, Level.MICRO_GRID,
        "楼栋、单位或老年人、学生等重点人群需开展反诈宣传、安装国家反诈中心App",
        "宣传开展或App安装登记完成，留存照片或名单"),

    # ---- 10 为民服务 ----
    _minor("1001", "政务代办", 3, DAYS, Level.GRID,
        "居民办理居住证明、社保、医保、老年优待证等事项，需社区代办或指引",
        "事项办结，或材料已转交并告知进度，居民确认"),
    _minor("1002", "困难帮扶", 10, DAYS, Level.GRID,
        "低保、特困、残疾、失独等困难家庭提出生活、就医、救助需求",
        "救助申请已受理或帮扶措施落实，回访确认"),
    _urgent("1003", "独居老人关爱", 4, HOURS, Level.MICRO_GRID,
        "独居、空巢老人多日未出门、联系不上，或需要助餐、助医等服务",
        "已上门确认老人安全，服务需求已对接，亲属已知情"),
    _minor("1004", "便民服务", 3, DAYS, Level.MICRO_GRID,
        "居民需要水电气报修指引、家政、助餐、便民设施等服务",
        "需求对接到位或已告知办理渠道，居民确认"),
    _minor("1005", "意见建议", 10, DAYS, Level.COMMUNITY,
        "居民对社区治理、公共服务提出意见建议",
        "已书面或当面答复，采纳情况告知本人"),
)
# fmt: on


def validate(definition: CategoryDef, *, known_majors: Mapping[str, str] = MAJORS) -> CategoryDef:
    """The definition with its texts stripped and its major's name filled in, or an invalid-input
    error naming every wrong field (``category.code``, ``category.name``, …)."""
    d = replace(
        definition,
        code=definition.code.strip(),
        name=definition.name.strip(),
        acceptance_standard=definition.acceptance_standard.strip(),
        closing_standard=definition.closing_standard.strip(),
        major_name=definition.major_name.strip(),
    )
    problems: list[tuple[FieldViolation, str, str]] = []

    def refuse(field: str, hint: str, zh: str, en: str) -> None:
        problems.append((FieldViolation(f"category.{field}", hint), zh, en))

    code_ok = bool(_CODE.fullmatch(d.code)) and d.code[:2] != "00" and d.code[2:] != "00"
    if not code_ok:
        refuse(
            "code",
            "4 digits: major 01-99 and minor 01-99",
            "类别编码须为4位数字：2位大类加2位小类，均不能为00",
            "code must be 4 digits: a 2-digit major and a 2-digit minor class, neither 00",
        )
    if not 1 <= len(d.name) <= MAX_NAME or "\n" in d.name:
        refuse(
            "name",
            f"1 to {MAX_NAME} characters on one line",
            f"请填写小类名称（一行，1至{MAX_NAME}字）",
            f"name must be 1 to {MAX_NAME} characters on one line",
        )
    for field, word_zh, word_en in (
        ("acceptance_standard", "立案标准", "acceptance standard"),
        ("closing_standard", "结案标准", "closing standard"),
    ):
        if not 1 <= len(getattr(d, field)) <= MAX_STANDARD:
            refuse(
                field,
                f"1 to {MAX_STANDARD} characters",
                f"请填写{word_zh}（1至{MAX_STANDARD}字）",
                f"{word_en} must be 1 to {MAX_STANDARD} characters",
            )
    most = MAX_DEADLINE[d.deadline_unit]
    if not 1 <= d.deadline_amount <= most:
        unit_zh = "工作小时" if d.deadline_unit is HOURS else "工作日"
        unit_en = "working hours" if d.deadline_unit is HOURS else "working days"
        refuse(
            "deadline_amount",
            f"1 to {most} {unit_en}",
            f"处置时限须为1至{most}个{unit_zh}",
            f"deadline_amount must be 1 to {most} {unit_en}",
        )
    if code_ok:
        known = known_majors.get(d.major_code)
        if known is None and not 1 <= len(d.major_name) <= MAX_MAJOR_NAME:
            refuse(
                "major_name",
                f"a new major class needs a name of 1 to {MAX_MAJOR_NAME} characters",
                f"大类 {d.major_code} 是新大类，请填写大类名称（1至{MAX_MAJOR_NAME}字）",
                f"major class {d.major_code} is new: major_name must be 1 to "
                f"{MAX_MAJOR_NAME} characters",
            )
        elif known is not None and d.major_name and d.major_name != known:
            # One major has one name; renaming it through one of its minors would split it.
            refuse(
                "major_name",
                f"major class {d.major_code} is named {known}",
                f"大类 {d.major_code} 的名称是“{known}”，不能改为“{d.major_name}”",
                f"major class {d.major_code} is named {known}, not {d.major_name}",
            )
        elif known is not None:
            d = replace(d, major_name=known)
    if problems:
        raise invalid_input(
            "cases.category_invalid",
            "事件类别填写有误：" + "；".join(zh for _, zh, _ in problems),
            "invalid case category: " + "; ".join(en for _, _, en in problems),
            *(violation for violation, _, _ in problems),
        )
    return d


def seed_rows(catalogue: Sequence[CategoryDef] = DEFAULT_CATALOGUE) -> list[CategoryDef]:
    """What onboarding inserts for a tenant (origin ``default``): the catalogue, validated."""
    return [validate(definition) for definition in catalogue]


def effective_catalogue(
    tenant: TenantId, rows: Iterable[StoredCategory], *, include_disabled: bool = False
) -> list[EffectiveCategory]:
    """Every class in force for ``tenant``, sorted by code. ``rows`` are the tenant's rows and
    its ancestors'; anyone else's are ignored. A disabled class in force is left out unless
    ``include_disabled`` (staff must see it to enable it again)."""
    # Nearest ancestor first: a street's definition beats its district's.
    distance = {a.value: n for n, a in enumerate(reversed(tenant.ancestors()))}
    own: dict[str, StoredCategory] = {}
    inherited: dict[str, tuple[int, StoredCategory]] = {}
    for row in rows:
        code = row.definition.code
        if row.tenant_id == tenant.value:
            if code not in own or row.version > own[code].version:
                own[code] = row
        elif row.origin is Origin.CUSTOM and row.tenant_id in distance:
            rank = distance[row.tenant_id]
            if code not in inherited or rank < inherited[code][0]:
                inherited[code] = (rank, row)
    built_in = {d.code: d for d in DEFAULT_CATALOGUE}

    found: list[EffectiveCategory] = []
    for code in sorted(built_in.keys() | own.keys() | inherited.keys()):
        mine = own.get(code)
        if mine is not None and mine.origin is Origin.CUSTOM:
            definition, defined_by = mine.definition, tenant.value
        elif code in inherited:
            _, ancestor_row = inherited[code]
            definition, defined_by = ancestor_row.definition, ancestor_row.tenant_id
        elif mine is not None:
            definition, defined_by = mine.definition, DEFAULT_DEFINER
        else:
            definition, defined_by = built_in[code], DEFAULT_DEFINER
        if not definition.enabled and not include_disabled:
            continue
        if not definition.major_name and definition.major_code in MAJORS:
            definition = replace(definition, major_name=MAJORS[definition.major_code])
        found.append(
            EffectiveCategory(definition, defined_by, mine.version if mine is not None else 0)
        )
    return found


def effective_category(
    tenant: TenantId, rows: Iterable[StoredCategory], code: str
) -> EffectiveCategory | None:
    """The class ``code`` in force for ``tenant``, disabled or not (reporting checks
    ``enabled``; editing needs the class either way), or None if the tenant has no such class."""
    for category in effective_catalogue(tenant, rows, include_disabled=True):
        if category.definition.code == code:
            return category
    return None

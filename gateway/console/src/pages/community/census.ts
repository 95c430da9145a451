// The census's words as community staff read them, and the small pieces of logic the census
// pages share: the places tree's units (the API lists dwellings, not units) and corrections.
import type { Schemas } from "@/api";
import { tr } from "@/i18n";

type Pair = readonly [string, string];

export const RESIDENCE_TYPES: Record<string, Pair> = {
  registered: ["户籍", "Registered"],
  resident: ["常住", "Resident"],
  migrant: ["流动", "Migrant"],
};

export const TENURES: Record<string, Pair> = {
  owner: ["自有", "Owner"],
  tenant: ["租住", "Tenant"],
};

export const SEXES: Record<string, Pair> = {
  male: ["男", "Male"],
  female: ["女", "Female"],
};

export const RELATIONS: Record<string, Pair> = {
  self: ["户主", "Head"],
  spouse: ["配偶", "Spouse"],
  child: ["子女", "Child"],
  parent: ["父母", "Parent"],
  other: ["其他", "Other"],
};

export const CARE_TAGS: Record<string, Pair> = {
  elderly: ["一老（60岁及以上）", "Elderly (60+)"],
  child: ["一小（未满18岁）", "Child (under 18)"],
  living_alone: ["独居", "Living alone"],
  disabled: ["残疾", "Disabled"],
  party_member: ["党员", "Party member"],
  veteran: ["退役军人", "Veteran"],
  key_group: ["重点人群", "Key group"],
};

export const AGE_BANDS: Record<string, Pair> = {
  "0_6": ["0–6岁", "0–6"],
  "7_17": ["7–17岁", "7–17"],
  "18_34": ["18–34岁", "18–34"],
  "35_59": ["35–59岁", "35–59"],
  "60_79": ["60–79岁", "60–79"],
  "80_plus": ["80岁及以上", "80+"],
};

export const ENTERPRISE_TYPES: Record<string, Pair> = {
  company: ["企业", "Company"],
  individual_business: ["个体工商户", "Individual business"],
  institution: ["机关事业单位", "Public institution"],
  social_organization: ["社会组织", "Social organisation"],
};

export const ORGANIZATION_KINDS: Record<string, Pair> = {
  owners_committee: ["业委会", "Owners' committee"],
  property_company: ["物业公司", "Property company"],
  volunteer_team: ["志愿者队伍", "Volunteer team"],
  party_branch: ["党支部", "Party branch"],
};

export const ROLES: Record<string, Pair> = {
  "platform-admin": ["平台管理员", "Platform admin"],
  "street-admin": ["街道管理员", "Street admin"],
  "community-staff": ["社区工作人员", "Community staff"],
  "grid-worker": ["网格员", "Grid worker"],
  resident: ["居民", "Resident"],
  "pii-reader": ["可查看敏感信息", "PII reader"],
};

/** The word in the console's language; an unknown word (newer than this console) as it is. */
export function label(words: Record<string, Pair>, word: string | null | undefined): string {
  if (!word) return "—";
  const pair = words[word];
  return pair ? tr(pair[0], pair[1]) : word;
}

/** The choices of a select, in the order the census lists them. */
export function options(words: Record<string, Pair>): { value: string; label: string }[] {
  return Object.entries(words).map(([value, pair]) => ({ value, label: tr(pair[0], pair[1]) }));
}

/** Statistics name age bands as `60-79` / `80+`, lists as `60_79` / `80_plus`: one key for both. */
export function ageBandKey(key: string): string {
  return key.replace("-", "_").replace(/\+$/, "_plus");
}

export interface UnitGroup {
  id: string;
  number: string;
  dwellings: Schemas["DwellingOut"][];
}

/** The unit's name inside a dwelling's address (`…君悦家园1幢2单元1001室` → `2单元`): the census
 * composes the address as street, complex, building, unit, room, 室. */
export function unitNumberOf(dwelling: Schemas["DwellingOut"], complexName: string, buildingNumber: string): string {
  const address = dwelling.address;
  const head = `${complexName}${buildingNumber}`;
  const tail = `${dwelling.room}室`;
  const start = address.lastIndexOf(head);
  if (start < 0 || !address.endsWith(tail)) return "";
  return address.slice(start + head.length, address.length - tail.length);
}

function roomOrder(a: string, b: string): number {
  return a.localeCompare(b, "zh-CN", { numeric: true });
}

/** A building's dwellings grouped into its units, units and rooms in natural order; `known`
 * units (registered in this session, still without dwellings) are kept as empty groups. */
export function unitsOf(
  dwellings: Schemas["DwellingOut"][],
  complexName: string,
  buildingNumber: string,
  known: { id: string; number: string }[] = [],
): UnitGroup[] {
  const groups = new Map<string, UnitGroup>();
  for (const unit of known) groups.set(unit.id, { id: unit.id, number: unit.number, dwellings: [] });
  for (const dwelling of dwellings) {
    let group = groups.get(dwelling.unit_id);
    if (!group) {
      group = { id: dwelling.unit_id, number: unitNumberOf(dwelling, complexName, buildingNumber), dwellings: [] };
      groups.set(dwelling.unit_id, group);
    }
    group.dwellings.push(dwelling);
  }
  const out = [...groups.values()];
  out.forEach((g) => g.dwellings.sort((a, b) => roomOrder(a.room, b.room)));
  return out.sort((a, b) => roomOrder(a.number, b.number));
}

/** The fields of `draft` that differ from `original`: the body of a correction (PATCH). */
export function changedFields<T extends object>(original: T, draft: T): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(draft) as (keyof T)[]) {
    const before = original[key] ?? null;
    const after = draft[key] ?? null;
    if (JSON.stringify(before) !== JSON.stringify(after)) out[key] = draft[key];
  }
  return out;
}

// The audit log's words: what each action code means, the groups the filter offers, and the
// Beijing calendar days a date range covers.
import { tr } from "@/i18n";

type Words = [zh: string, en: string];

export const ACTIONS: Record<string, Words> = {
  "tenant.onboarded": ["启用社区", "Community onboarded"],
  "member.created": ["新建账号", "Account created"],
  "member.disabled": ["停用账号", "Account disabled"],
  "pii.revealed": ["查看个人信息", "Personal data revealed"],
  "pii.exported": ["导出个人信息", "Personal data exported"],
  "import.committed": ["导入居民", "Residents imported"],
  "grid_plan.applied": ["应用网格方案", "Grid plan applied"],
  "grid_member.added": ["任命网格成员", "Grid member appointed"],
  "grid_member.removed": ["免去网格成员", "Grid member removed"],
  "ops.outbox_replayed": ["重放事件", "Events replayed"],
  "ops.projection_rebuilt": ["重建投影", "Projection rebuilt"],
};

// The filter's choices: an action prefix each (the API filters by prefix).
export const ACTION_GROUPS: { prefix: string; words: Words }[] = [
  { prefix: "pii.", words: ["个人信息查看与导出", "Personal data"] },
  { prefix: "member.", words: ["账号", "Accounts"] },
  { prefix: "tenant.", words: ["社区启用", "Onboarding"] },
  { prefix: "import.", words: ["居民导入", "Imports"] },
  { prefix: "grid_", words: ["网格", "Grids"] },
  { prefix: "ops.", words: ["运维", "Operations"] },
];

/** An action in the reader's language; a code this console does not know yet shows as is. */
export function actionLabel(action: string): string {
  const words = ACTIONS[action];
  return words ? tr(...words) : action;
}

function nextDay(day: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

/** The instants of Beijing days [first 00:00, day after last 00:00) at +08:00. */
export function beijingDays(days: [string, string] | null): { since?: string; until?: string } {
  if (!days) return {};
  return { since: `${days[0]}T00:00:00+08:00`, until: `${nextDay(days[1])}T00:00:00+08:00` };
}

/** A detail's values as one line each ("records: 1234"), in the order the service wrote them. */
export function detailLines(detail: Record<string, unknown>): string[] {
  return Object.entries(detail)
    .filter(([, value]) => value !== null && value !== "")
    .map(([key, value]) => `${key}: ${Array.isArray(value) ? value.join(", ") : String(value)}`);
}

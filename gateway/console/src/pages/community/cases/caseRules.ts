// The cases board's rules, pure (caseRules.test.ts): which column a state belongs to, how an
// SLA countdown is coloured, and what each lifecycle action needs from the user before it is
// sent (the same requirements the cases service checks, so a missing note is said at once).
import type { Schemas } from "@/api";
import { countdown } from "@/format";

export type CaseOut = Schemas["CaseOut"];

export interface Column {
  key: string;
  states: string[];
  title: [string, string];
}

/** The board's open columns, in the order a case moves through them. */
export const COLUMNS: Column[] = [
  { key: "reported", states: ["reported", "accepted"], title: ["待受理", "To accept"] },
  { key: "dispatched", states: ["dispatched"], title: ["已派遣", "Dispatched"] },
  { key: "in_progress", states: ["in_progress", "suspended"], title: ["处置中", "In progress"] },
  { key: "resolved", states: ["resolved"], title: ["已办结", "Resolved"] },
  { key: "verified", states: ["verified"], title: ["已核查", "Verified"] },
];
/** Finished cases, collapsed under the board. */
export const DONE: Column = { key: "done", states: ["closed", "rated", "rejected", "voided", "merged"], title: ["已结案 / 已评价", "Closed / rated"] };

export function columnOf(state: string | null): string | null {
  if (!state) return null;
  return [...COLUMNS, DONE].find((c) => c.states.includes(state))?.key ?? null;
}

export type SlaTone = "ok" | "soon" | "overdue" | "none";

/** Green more than 24 h ahead, orange within 24 h, red overdue (the API's word counts too). */
export function slaTone(c: { deadline: string | null; overdue: boolean; state: string | null }, now: Date = new Date()): SlaTone {
  if (!c.deadline || DONE.states.includes(c.state ?? "")) return "none";
  const left = countdown(c.deadline, now);
  if (!left) return "none";
  if (c.overdue || left.overdue) return "overdue";
  return left.hoursLeft < 24 ? "soon" : "ok";
}

export const SLA_TAG: Record<SlaTone, "success" | "warning" | "danger" | "info"> = { ok: "success", soon: "warning", overdue: "danger", none: "info" };

export interface ActionNeeds {
  label: [string, string];
  /** What the note is called when the action requires one (the service refuses it without). */
  note?: [string, string];
  assignee?: boolean;
  until?: "required" | "optional";
  rating?: boolean;
  intoCase?: boolean;
  reason?: boolean;
  kind?: "primary" | "danger" | "default";
}

export const ACTIONS: Record<string, ActionNeeds> = {
  accept: { label: ["立案", "Accept"], kind: "primary" },
  reject: { label: ["不予立案", "Reject"], note: ["不予立案的理由（将告知上报人）", "Why (the reporter is told)"], kind: "danger" },
  void: { label: ["作废", "Void"], note: ["作废理由", "Why void"], kind: "danger" },
  dispatch: { label: ["派遣", "Dispatch"], assignee: true, kind: "primary" },
  reassign: { label: ["改派", "Reassign"], assignee: true, note: ["改派理由", "Why reassign"] },
  start: { label: ["开始处置", "Start"], kind: "primary" },
  suspend: { label: ["缓办", "Suspend"], note: ["缓办理由", "Why suspend"] },
  resume: { label: ["恢复办理", "Resume"], kind: "primary" },
  resolve: { label: ["处置完成", "Resolve"], note: ["处置情况说明", "What was done"], kind: "primary" },
  verify: { label: ["核查通过", "Verify"], kind: "primary" },
  send_back: { label: ["退回重办", "Send back"], note: ["退回理由", "Why send back"], kind: "danger" },
  close: { label: ["结案", "Close"], kind: "primary" },
  rate: { label: ["评价", "Rate"], rating: true },
  reopen: { label: ["重新办理", "Reopen"], note: ["重新办理的理由", "Why reopen"], kind: "danger" },
  request_extension: { label: ["申请延期", "Request extension"], until: "required", note: ["延期理由", "Why extend"] },
  extend_deadline: { label: ["批准延期", "Extend deadline"], until: "optional" },
  decline_extension: { label: ["驳回延期", "Decline extension"], note: ["驳回理由", "Why decline"] },
  escalate: { label: ["上报上级", "Escalate"], reason: true, note: ["上报原因", "Why escalate"] },
  merge: { label: ["并案", "Merge"], intoCase: true },
};

export interface ActionInput {
  note: string;
  assigneeMemberId: string;
  until: string;
  rating: string;
  intoCaseId: string;
}

export function emptyInput(): ActionInput {
  return { note: "", assigneeMemberId: "", until: "", rating: "", intoCaseId: "" };
}

/** Field → what is missing, in the console's language (`tr` passed in to keep this pure). */
export function missing(action: string, input: ActionInput, tr: (zh: string, en: string) => string): Record<string, string> {
  const needs = ACTIONS[action];
  const out: Record<string, string> = {};
  if (!needs) return out;
  if (needs.assignee && !input.assigneeMemberId) out.assignee_member_id = tr("请选择承办人", "Choose who handles it");
  if (needs.until === "required" && !input.until) out.until = tr("请填写延期后的处置时限", "Give the new deadline");
  if (needs.rating && !input.rating) out.rating = tr("请选择评价", "Choose a rating");
  if (needs.intoCase && !input.intoCaseId) out.into_case_id = tr("请选择并入的案件", "Choose the case to merge into");
  const noteNeeded = needs.note !== undefined || (needs.rating && input.rating === "unsatisfied");
  if (noteNeeded && !input.note.trim()) out.note = needs.note ? tr(`请填写${needs.note[0]}`, `${needs.note[1]} is required`) : tr("请说明不满意的原因", "Say why you are unsatisfied");
  return out;
}

/** The body of POST cases/{id}/actions: only what the action uses, with the version read. */
export function actionBody(action: string, input: ActionInput, expectedVersion: number): Schemas["TakeAction"] {
  const needs = ACTIONS[action] ?? { label: [action, action] };
  const body: Schemas["TakeAction"] = { action: action as Schemas["TakeAction"]["action"], expected_version: expectedVersion, note: input.note.trim() };
  if (needs.assignee) body.assignee_member_id = input.assigneeMemberId;
  if (needs.until && input.until) body.until = input.until;
  if (needs.rating) body.rating = input.rating as Schemas["TakeAction"]["rating"];
  if (needs.reason) body.reason = "requested";
  if (needs.intoCase) body.into_case_id = input.intoCaseId;
  return body;
}

export const SOURCE_LABEL: Record<string, [string, string]> = {
  visit: ["走访发现", "Visit"],
  phone: ["电话", "Phone"],
  wechat_group: ["微信群", "WeChat group"],
  resident_app: ["居民上报", "Resident app"],
  hotline_12345: ["12345热线", "12345 hotline"],
  staff: ["工作人员", "Staff"],
  open311: ["Open311", "Open311"],
};

export { LEVEL_EN, STATE_EN } from "@/words";

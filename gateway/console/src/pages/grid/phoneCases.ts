// What the phone pages of grid workers and residents need to know about cases, kept apart from
// the pages so it can be tested: the English words beside the API's Chinese labels, which cases
// are still open, the order of a worker's list, a resident's progress, and the body of each
// action a phone user may take (checked here for what the API would refuse anyway).
import type { Schemas } from "@/api";

export type Case = Schemas["CaseOut"];
export type CaseState = NonNullable<Case["state"]>;
export type ActionWord = Schemas["TakeAction"]["action"];
export type RatingWord = NonNullable<Schemas["TakeAction"]["rating"]>;



export const RATINGS: { word: RatingWord; zh: string; en: string }[] = [
  { word: "satisfied", zh: "满意", en: "Satisfied" },
  { word: "basically_satisfied", zh: "基本满意", en: "Basically satisfied" },
  { word: "unsatisfied", zh: "不满意", en: "Unsatisfied" },
];

/** What a grid worker still has to do something about. */
export const WORKER_OPEN_STATES: CaseState[] = ["dispatched", "in_progress", "suspended"];
/** States in which the SLA clock means something to the person looking. */
const CLOCK_STATES: ReadonlySet<CaseState> = new Set(["reported", "accepted", "dispatched", "in_progress", "suspended"]);

export function clockRuns(item: Pick<Case, "state" | "deadline">): boolean {
  return item.deadline !== null && item.state !== null && CLOCK_STATES.has(item.state);
}

export type TagType = "primary" | "success" | "warning" | "info" | "danger";

export function stateTagType(state: Case["state"]): TagType {
  switch (state) {
    case "dispatched":
    case "reported":
    case "accepted":
      return "warning";
    case "in_progress":
      return "primary";
    case "resolved":
    case "verified":
    case "closed":
    case "rated":
      return "success";
    case "rejected":
      return "danger";
    default:
      return "info";
  }
}

/** Soonest deadline first; cases without one at the end, newest report first among them. */
export function byDeadline<T extends Pick<Case, "deadline" | "reported_at">>(items: readonly T[]): T[] {
  const at = (value: string | null) => (value ? new Date(value).getTime() : Number.POSITIVE_INFINITY);
  return [...items].sort((a, b) => at(a.deadline) - at(b.deadline) || at(b.reported_at) - at(a.reported_at));
}

export const PROGRESS_STEPS: [string, string][] = [
  ["已上报", "Reported"],
  ["已派遣", "Dispatched"],
  ["处置中", "Handling"],
  ["处置完成", "Resolved"],
  ["已结案", "Closed"],
];

/** Where a resident's case stands on the five steps; refused or voided cases stop with an error. */
export function progressOf(state: Case["state"]): { active: number; status: "process" | "finish" | "error" } {
  switch (state) {
    case "reported":
    case "accepted":
      return { active: 0, status: "process" };
    case "dispatched":
      return { active: 1, status: "process" };
    case "in_progress":
    case "suspended":
      return { active: 2, status: "process" };
    case "resolved":
    case "verified":
      return { active: 3, status: "process" };
    case "closed":
    case "rated":
      return { active: 4, status: "finish" };
    case "merged":
      return { active: 1, status: "finish" };
    default:
      return { active: 0, status: "error" };
  }
}

/** What an action asks for on the phone, beyond the version. */
export interface ActionSpec {
  action: ActionWord;
  label: [string, string];
  note: "required" | "optional" | "none";
  noteLabel?: [string, string];
  until?: boolean;
  rating?: boolean;
  photos?: boolean;
  /** Escalation by a person is always "requested". */
  requested?: boolean;
  kind: "primary" | "default" | "danger";
}

/** The actions a grid worker or a resident may be offered, in the order the buttons show. */
export const PHONE_ACTIONS: ActionSpec[] = [
  { action: "start", label: ["开始处置", "Start"], note: "optional", kind: "primary" },
  {
    action: "resolve",
    label: ["处置完成", "Resolve"],
    note: "required",
    noteLabel: ["处置情况说明", "What was done"],
    photos: true,
    kind: "primary",
  },
  { action: "resume", label: ["恢复办理", "Resume"], note: "optional", kind: "primary" },
  {
    action: "request_extension",
    label: ["申请延期", "Request extension"],
    note: "required",
    noteLabel: ["延期理由", "Why more time is needed"],
    until: true,
    kind: "default",
  },
  { action: "suspend", label: ["缓办", "Suspend"], note: "required", noteLabel: ["缓办理由", "Why it waits"], kind: "default" },
  {
    action: "escalate",
    label: ["上报上级", "Escalate"],
    note: "required",
    noteLabel: ["上报原因", "Why it needs the level above"],
    requested: true,
    kind: "default",
  },
  { action: "rate", label: ["评价", "Rate"], note: "optional", noteLabel: ["评价说明", "Comment"], rating: true, kind: "primary" },
  { action: "void", label: ["撤回上报", "Withdraw"], note: "optional", noteLabel: ["撤回原因", "Why"], kind: "danger" },
];

/** The specs of the actions the API allows now, in button order; others are not for the phone. */
export function phoneActions(allowed: readonly string[]): ActionSpec[] {
  return PHONE_ACTIONS.filter((spec) => allowed.includes(spec.action));
}

/** The cases service keeps at most nine photos per step. */
export const MAX_PHOTOS = 9;

export interface ActionForm {
  note: string;
  /** `YYYY-MM-DDTHH:mm:ss`, a Beijing wall-clock time (the API reads a time without offset so). */
  until: string;
  rating: RatingWord | "";
  /** One photo address per line. */
  photos: string;
}

export function emptyActionForm(): ActionForm {
  return { note: "", until: "", rating: "", photos: "" };
}

/** The request body, or the problems per field (Chinese, English) the API would answer. */
export function actionBody(
  spec: ActionSpec,
  form: ActionForm,
  version: number,
): { body: Schemas["TakeAction"] } | { problems: Record<string, [string, string]> } {
  const problems: Record<string, [string, string]> = {};
  const note = form.note.trim();
  const body: Schemas["TakeAction"] = { action: spec.action, expected_version: version, note };
  if (spec.rating) {
    if (!form.rating) problems.rating = ["请选择评价", "Choose a rating"];
    else body.rating = form.rating;
    if (form.rating === "unsatisfied" && !note) problems.note = ["请说明不满意的原因", "Say what is still wrong"];
  }
  if (spec.note === "required" && !note) {
    const [zh, en] = spec.noteLabel ?? ["说明", "A note"];
    problems.note = [`请填写${zh}`, `${en} is required`];
  }
  if (spec.until) {
    if (!form.until) problems.until = ["请选择延期后的处置时限", "Choose the new deadline"];
    else body.until = form.until;
  }
  if (spec.photos) {
    const photos = form.photos
      .split(/\s+/)
      .map((p) => p.trim())
      .filter(Boolean);
    if (photos.length > MAX_PHOTOS) problems.photos = [`照片最多${MAX_PHOTOS}张`, `At most ${MAX_PHOTOS} photos`];
    else if (photos.some((p) => p.length > 500)) problems.photos = ["照片地址过长", "A photo address is too long"];
    if (photos.length) body.photos = photos;
  }
  if (spec.requested) body.reason = "requested";
  return Object.keys(problems).length ? { problems } : { body };
}

export { LEVEL_EN, STATE_EN } from "@/words";

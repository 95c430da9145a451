// The resident's report form as data: the request body (and the problems the API would refuse
// it for), the address staff read, and the idempotency key that makes a double tap file once.
import type { Schemas } from "@/api";

export interface ReportForm {
  category_code: string;
  title: string;
  description: string;
  complex_id: string;
  building_id: string;
  /** Unit, floor, stairwell: what the building number does not say. */
  detail: string;
}

export function emptyReport(): ReportForm {
  return { category_code: "", title: "", description: "", complex_id: "", building_id: "", detail: "" };
}

/** "晴庐 3幢 2单元楼道": what staff and the grid worker read as the place. */
export function placeAddress(complexName: string, buildingNumber: string, detail: string): string {
  return [complexName, buildingNumber, detail.trim()].filter(Boolean).join(" ");
}

export function reportBody(
  form: ReportForm,
  names: { complex: string; building: string },
): { body: Schemas["ReportCase"] } | { problems: Record<string, [string, string]> } {
  const problems: Record<string, [string, string]> = {};
  if (!form.category_code) problems.category_code = ["请选择事件类别", "Choose a category"];
  const title = form.title.trim();
  if (!title) problems.title = ["请用一句话说明问题", "Say in a sentence what is wrong"];
  else if (title.length > 100) problems.title = ["标题不能超过100字", "At most 100 characters"];
  if (form.description.length > 2000) problems.description = ["描述不能超过2000字", "At most 2000 characters"];
  // Without a building the case waits for staff to place it; a building routes it at once.
  if (!form.building_id && !form.detail.trim()) problems.building_id = ["请选择楼幢，或填写具体位置", "Choose a building or describe the place"];
  const address = placeAddress(names.complex, names.building, form.detail);
  if (address.length > 300) problems.detail = ["位置描述过长", "The place is described too long"];
  if (Object.keys(problems).length) return { problems };
  return {
    body: {
      category_code: form.category_code,
      title,
      description: form.description.trim() || null,
      place: {
        complex_id: form.complex_id || null,
        building_id: form.building_id || null,
        address: address || null,
      },
    },
  };
}

/** A fresh key per report form; works without a secure context (randomUUID needs one). */
export function newIdempotencyKey(random: (bytes: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b)): string {
  const bytes = random(new Uint8Array(16));
  return `report-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

// English beside the Chinese the API gives for its words (`state_label`, `level_label`), and
// the grid members' roles, which the API names only by word. One table each for every page.
import type { Schemas } from "@/api";

type CaseOut = Schemas["CaseOut"];

// Typed by string so a page may look up a missing word; `satisfies` keeps every word covered.
export const STATE_EN: Record<string, string> = {
  reported: "Reported",
  accepted: "Accepted",
  rejected: "Rejected",
  voided: "Voided",
  dispatched: "Dispatched",
  in_progress: "In progress",
  suspended: "Suspended",
  resolved: "Resolved",
  verified: "Verified",
  closed: "Closed",
  rated: "Rated",
  merged: "Merged",
} satisfies Record<NonNullable<CaseOut["state"]>, string>;

export const LEVEL_EN: Record<string, string> = {
  micro_grid: "Micro-grid",
  grid: "Grid",
  community: "Community",
  street: "Street",
} satisfies Record<NonNullable<CaseOut["level"]>, string>;

export const MEMBER_ROLES: Record<NonNullable<Schemas["MemberPage"]["items"][number]["role"]>, [string, string]> = {
  grid_leader: ["网格长", "Grid leader"],
  grid_worker: ["网格员", "Grid worker"],
  micro_grid_leader: ["微网格长", "Micro-grid leader"],
  building_leader: ["楼道长", "Building leader"],
  volunteer: ["志愿者", "Volunteer"],
  party_member: ["党员", "Party member"],
};

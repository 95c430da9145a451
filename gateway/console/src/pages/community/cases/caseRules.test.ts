import { describe, expect, it } from "vitest";

import { actionBody, columnOf, emptyInput, missing, slaTone } from "@/pages/community/cases/caseRules";

const tr = (zh: string) => zh;
const now = new Date("2026-11-23T02:00:00Z");

describe("board columns", () => {
  it("puts each state in its column, the finished ones under the board", () => {
    expect(columnOf("reported")).toBe("reported");
    expect(columnOf("accepted")).toBe("reported");
    expect(columnOf("dispatched")).toBe("dispatched");
    expect(columnOf("suspended")).toBe("in_progress");
    expect(columnOf("verified")).toBe("verified");
    expect(columnOf("rated")).toBe("done");
    expect(columnOf("merged")).toBe("done");
    expect(columnOf(null)).toBeNull();
  });
});

describe("SLA colour", () => {
  const open = { state: "dispatched", overdue: false };

  it("is green more than a day ahead and orange within a day", () => {
    expect(slaTone({ ...open, deadline: "2026-11-24T02:30:00Z" }, now)).toBe("ok");
    expect(slaTone({ ...open, deadline: "2026-11-24T01:30:00Z" }, now)).toBe("soon");
  });

  it("is red past the deadline, or when the API says overdue (working time)", () => {
    expect(slaTone({ ...open, deadline: "2026-11-23T01:59:00Z" }, now)).toBe("overdue");
    expect(slaTone({ ...open, overdue: true, deadline: "2026-11-25T00:00:00Z" }, now)).toBe("overdue");
  });

  it("has no colour without a deadline or once closed", () => {
    expect(slaTone({ ...open, deadline: null }, now)).toBe("none");
    expect(slaTone({ state: "closed", overdue: false, deadline: "2026-11-23T01:00:00Z" }, now)).toBe("none");
  });
});

describe("action inputs", () => {
  it("asks for the assignee and the reason of a reassignment", () => {
    expect(Object.keys(missing("reassign", emptyInput(), tr)).sort()).toEqual(["assignee_member_id", "note"]);
    expect(missing("reassign", { ...emptyInput(), assigneeMemberId: "m", note: "  " }, tr)).toEqual({ note: "请填写改派理由" });
  });

  it("needs a date to request an extension but not to approve one", () => {
    expect(missing("request_extension", { ...emptyInput(), note: "材料未到" }, tr)).toEqual({ until: "请填写延期后的处置时限" });
    expect(missing("extend_deadline", emptyInput(), tr)).toEqual({});
  });

  it("wants a note only with an unsatisfied rating", () => {
    expect(missing("rate", { ...emptyInput(), rating: "satisfied" }, tr)).toEqual({});
    expect(missing("rate", { ...emptyInput(), rating: "unsatisfied" }, tr)).toEqual({ note: "请说明不满意的原因" });
  });

  it("sends only what the action uses, with the version read", () => {
    const input = { ...emptyInput(), note: " 已清理 ", assigneeMemberId: "m1", until: "2026-11-30T18:00:00", rating: "satisfied" };
    expect(actionBody("resolve", input, 4)).toEqual({ action: "resolve", expected_version: 4, note: "已清理" });
    expect(actionBody("reassign", input, 2)).toEqual({ action: "reassign", expected_version: 2, note: "已清理", assignee_member_id: "m1" });
    expect(actionBody("escalate", input, 3)).toMatchObject({ action: "escalate", reason: "requested" });
    expect(actionBody("extend_deadline", { ...input, until: "" }, 5)).toEqual({ action: "extend_deadline", expected_version: 5, note: "已清理" });
  });
});

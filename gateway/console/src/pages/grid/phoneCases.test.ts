import { describe, expect, it } from "vitest";

import { buildingLabel, buildingsOf, type Membership } from "@/pages/grid/myGrids";
import { actionBody, byDeadline, clockRuns, emptyActionForm, PHONE_ACTIONS, phoneActions, progressOf, type ActionSpec } from "@/pages/grid/phoneCases";

const spec = (action: string): ActionSpec => PHONE_ACTIONS.find((s) => s.action === action)!;

describe("a worker's case list", () => {
  it("puts the soonest deadline first and cases without one last", () => {
    const sorted = byDeadline([
      { deadline: null, reported_at: "2026-11-23T01:00:00Z" },
      { deadline: "2026-11-25T01:00:00Z", reported_at: "2026-11-20T01:00:00Z" },
      { deadline: "2026-11-23T05:00:00Z", reported_at: "2026-11-22T01:00:00Z" },
    ]);
    expect(sorted.map((c) => c.deadline)).toEqual(["2026-11-23T05:00:00Z", "2026-11-25T01:00:00Z", null]);
  });

  it("shows the clock only while the case is still being handled", () => {
    expect(clockRuns({ state: "in_progress", deadline: "2026-11-23T05:00:00Z" })).toBe(true);
    expect(clockRuns({ state: "resolved", deadline: "2026-11-23T05:00:00Z" })).toBe(false);
    expect(clockRuns({ state: "reported", deadline: null })).toBe(false);
  });
});

describe("the actions offered on the phone", () => {
  it("are those the API allows, in button order, and none a phone cannot take", () => {
    expect(phoneActions(["resolve", "verify", "start"]).map((s) => s.action)).toEqual(["start", "resolve"]);
  });

  it("refuse a resolution without saying what was done", () => {
    const result = actionBody(spec("resolve"), emptyActionForm(), 3);
    expect(result).toEqual({ problems: { note: ["请填写处置情况说明", "What was done is required"] } });
  });

  it("send a resolution's note and photo addresses with the version read", () => {
    const form = { ...emptyActionForm(), note: " 已清理 ", photos: "https://x/a.jpg\n\n https://x/b.jpg " };
    expect(actionBody(spec("resolve"), form, 3)).toEqual({
      body: { action: "resolve", expected_version: 3, note: "已清理", photos: ["https://x/a.jpg", "https://x/b.jpg"] },
    });
  });

  it("refuse more than nine photos", () => {
    const form = { ...emptyActionForm(), note: "好了", photos: Array.from({ length: 10 }, (_, i) => `https://x/${i}.jpg`).join("\n") };
    expect(actionBody(spec("resolve"), form, 1)).toHaveProperty("problems.photos");
  });

  it("need a new deadline and a reason to ask for more time", () => {
    expect(actionBody(spec("request_extension"), emptyActionForm(), 1)).toEqual({
      problems: { note: ["请填写延期理由", "Why more time is needed is required"], until: ["请选择延期后的处置时限", "Choose the new deadline"] },
    });
    const form = { ...emptyActionForm(), note: "等配件", until: "2026-11-30T18:00:00" };
    expect(actionBody(spec("request_extension"), form, 4)).toEqual({
      body: { action: "request_extension", expected_version: 4, note: "等配件", until: "2026-11-30T18:00:00" },
    });
  });

  it("escalate only on request", () => {
    const form = { ...emptyActionForm(), note: "需要网格长协调" };
    expect(actionBody(spec("escalate"), form, 2)).toMatchObject({ body: { reason: "requested" } });
  });

  it("need a rating, and a reason when unsatisfied", () => {
    expect(actionBody(spec("rate"), emptyActionForm(), 5)).toHaveProperty("problems.rating");
    expect(actionBody(spec("rate"), { ...emptyActionForm(), rating: "unsatisfied" }, 5)).toEqual({
      problems: { note: ["请说明不满意的原因", "Say what is still wrong"] },
    });
    expect(actionBody(spec("rate"), { ...emptyActionForm(), rating: "satisfied" }, 5)).toEqual({
      body: { action: "rate", expected_version: 5, note: "", rating: "satisfied" },
    });
  });
});

describe("a resident's progress", () => {
  it("follows the case through the five steps and stops on a refusal", () => {
    expect(progressOf("reported")).toEqual({ active: 0, status: "process" });
    expect(progressOf("in_progress").active).toBe(2);
    expect(progressOf("resolved").active).toBe(3);
    expect(progressOf("rated")).toEqual({ active: 4, status: "finish" });
    expect(progressOf("rejected").status).toBe("error");
  });
});

describe("a worker's buildings", () => {
  it("are named as people say them, complex and number", () => {
    const names = new Map([["c1", "和雅轩"]]);
    expect(buildingLabel({ building_id: "b1", complex_id: "c1", building_number: "5幢" }, names).label).toBe("和雅轩 5幢");
    expect(buildingLabel({ building_id: "b2bbbbbbbbbb", complex_id: null, building_number: null }, names).label).toBe("b2bbbbbb");
  });

  it("are listed once over several memberships, in natural order", () => {
    const b = (id: string, n: string) => ({ buildingId: id, complexName: "和雅轩", number: n, label: `和雅轩 ${n}` });
    const memberships = [{ buildings: [b("1", "10幢"), b("2", "2幢")] }, { buildings: [b("2", "2幢")] }] as unknown as Membership[];
    expect(buildingsOf(memberships).map((x) => x.label)).toEqual(["和雅轩 2幢", "和雅轩 10幢"]);
  });
});

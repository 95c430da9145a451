import { describe, expect, it } from "vitest";

import { locale } from "@/i18n";
import { actionLabel, beijingDays, detailLines } from "@/pages/street/audit";

describe("the audit log's words", () => {
  it("names known actions in the reader's language and shows new codes as they are", () => {
    locale.value = "zh-CN";
    expect(actionLabel("pii.revealed")).toBe("查看个人信息");
    locale.value = "en";
    expect(actionLabel("grid_plan.applied")).toBe("Grid plan applied");
    expect(actionLabel("cases.category_changed")).toBe("cases.category_changed");
    locale.value = "zh-CN";
  });

  it("lists a detail's values, lists joined, empty values left out", () => {
    expect(detailLines({ roles: ["grid-worker", "pii-reader"], records: 1234, until: null, topic: "" })).toEqual([
      "roles: grid-worker, pii-reader",
      "records: 1234",
    ]);
  });
});

describe("date ranges in Beijing days", () => {
  it("runs from the first day's midnight to the midnight after the last, across a month end", () => {
    expect(beijingDays(["2026-11-23", "2026-11-30"])).toEqual({
      since: "2026-11-23T00:00:00+08:00",
      until: "2026-12-01T00:00:00+08:00",
    });
  });

  it("asks for no bounds without a range", () => {
    expect(beijingDays(null)).toEqual({});
  });
});

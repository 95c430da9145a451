import { describe, expect, it } from "vitest";

import { emptyReport, newIdempotencyKey, placeAddress, reportBody } from "@/pages/resident/report";

const names = { complex: "和雅轩", building: "5幢" };

describe("a resident's report", () => {
  it("names the place as complex, building and where exactly", () => {
    expect(placeAddress("和雅轩", "5幢", " 2单元楼道 ")).toBe("和雅轩 5幢 2单元楼道");
    expect(placeAddress("", "", "市心北路口")).toBe("市心北路口");
  });

  it("asks for a category, a sentence and a place before sending", () => {
    expect(reportBody(emptyReport(), { complex: "", building: "" })).toEqual({
      problems: {
        category_code: ["请选择事件类别", "Choose a category"],
        title: ["请用一句话说明问题", "Say in a sentence what is wrong"],
        building_id: ["请选择楼幢，或填写具体位置", "Choose a building or describe the place"],
      },
    });
  });

  it("sends the building, so the case is routed at once, and the address staff read", () => {
    const form = { ...emptyReport(), category_code: "0103", title: " 楼道堆放纸箱 ", complex_id: "c1", building_id: "b1", detail: "2单元" };
    expect(reportBody(form, names)).toEqual({
      body: {
        category_code: "0103",
        title: "楼道堆放纸箱",
        description: null,
        place: { complex_id: "c1", building_id: "b1", address: "和雅轩 5幢 2单元" },
      },
    });
  });

  it("accepts a place described in words when no building fits", () => {
    const form = { ...emptyReport(), category_code: "0501", title: "占道经营", detail: "市心北路菜场门口" };
    expect(reportBody(form, { complex: "", building: "" })).toMatchObject({ body: { place: { building_id: null, address: "市心北路菜场门口" } } });
  });
});

describe("the idempotency key", () => {
  it("is new for every form", () => {
    let n = 0;
    const counter = (bytes: Uint8Array) => bytes.fill(++n);
    expect(newIdempotencyKey(counter)).toBe(`report-${"01".repeat(16)}`);
    expect(newIdempotencyKey(counter)).not.toBe(newIdempotencyKey(counter));
  });
});

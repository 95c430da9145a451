import { describe, expect, it } from "vitest";

import type { Schemas } from "@/api";
import { locale } from "@/i18n";

import { AGE_BANDS, ageBandKey, changedFields, label, unitNumberOf, unitsOf } from "./census";

function dwelling(id: string, unit: string, unitNumber: string, room: string): Schemas["DwellingOut"] {
  return {
    id,
    tenant_id: "xiaoshan.shushan.hushan",
    unit_id: unit,
    building_id: "b1",
    complex_id: "c1",
    room,
    address: `蜀山街道君悦家园1幢${unitNumber}${room}室`,
  };
}

describe("units of a building", () => {
  it("reads the unit's name out of the dwelling's address", () => {
    expect(unitNumberOf(dwelling("d", "u", "2单元", "1001"), "君悦家园", "1幢")).toBe("2单元");
  });

  it("gives no name when the address is not the census's composition", () => {
    const typed = { ...dwelling("d", "u", "2单元", "1001"), address: "市心北路88号" };
    expect(unitNumberOf(typed, "君悦家园", "1幢")).toBe("");
  });

  it("groups dwellings by unit, units and rooms in natural order, and keeps empty known units", () => {
    const units = unitsOf(
      [
        dwelling("a", "u2", "2单元", "1001"),
        dwelling("b", "u10", "10单元", "101"),
        dwelling("c", "u2", "2单元", "201"),
        dwelling("d", "u1", "1单元", "101"),
      ],
      "君悦家园",
      "1幢",
      [{ id: "u3", number: "3单元" }],
    );
    expect(units.map((u) => u.number)).toEqual(["1单元", "2单元", "3单元", "10单元"]);
    expect(units[1].dwellings.map((d) => d.room)).toEqual(["201", "1001"]);
    expect(units[2].dwellings).toEqual([]);
  });
});

describe("words", () => {
  it("maps the statistics' age band keys onto the list's words", () => {
    expect(ageBandKey("60-79")).toBe("60_79");
    expect(ageBandKey("80+")).toBe("80_plus");
    expect(Object.keys(AGE_BANDS)).toContain(ageBandKey("0-6"));
  });

  it("labels a word in the console's language and shows an unknown word as it is", () => {
    locale.value = "zh-CN";
    expect(label(AGE_BANDS, "80_plus")).toBe("80岁及以上");
    locale.value = "en";
    expect(label(AGE_BANDS, "80_plus")).toBe("80+");
    expect(label(AGE_BANDS, "90_plus")).toBe("90_plus");
    expect(label(AGE_BANDS, null)).toBe("—");
    locale.value = "zh-CN";
  });
});

describe("corrections", () => {
  it("sends only the fields that changed, a cleared one as null", () => {
    const before = { name: "晴庐便利店", employees: 3, address: "市心北路1号", contact_name: "王" };
    const after = { name: "晴庐便利店", employees: 5, address: "市心北路1号", contact_name: null };
    expect(changedFields<Record<string, unknown>>(before, after)).toEqual({ employees: 5, contact_name: null });
  });
});

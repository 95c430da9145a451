import { describe, expect, it } from "vitest";

import {
  communityRows,
  daysBetween,
  lastDays,
  lastTwelveMonths,
  noticesPerDay,
  periodMonths,
  periodOf,
  temporaryPassword,
  totalFigures,
  type CensusPart,
  type Indicators,
} from "@/pages/street/figures";
import type { TenantNode } from "@/session";

// 2026-11-30 20:00 UTC is already 1 December in Beijing.
const lateNovemberUtc = new Date("2026-11-30T20:00:00Z");

describe("statistics periods in Beijing time", () => {
  it("takes this month from the Beijing calendar, not the UTC one", () => {
    expect(periodOf("month", lateNovemberUtc)).toEqual({ start: "2026-12-01T00:00:00", end: "2027-01-01T00:00:00" });
  });

  it("reaches back across a year end for the last three months", () => {
    expect(periodOf("quarter", new Date("2027-01-15T04:00:00Z"))).toEqual({ start: "2026-11-01T00:00:00", end: "2027-02-01T00:00:00" });
  });

  it("starts this year on 1 January", () => {
    expect(periodOf("year", new Date("2026-11-23T04:00:00Z"))).toEqual({ start: "2026-01-01T00:00:00", end: "2026-12-01T00:00:00" });
  });

  it("covers twelve whole months ending with this one", () => {
    const twelve = lastTwelveMonths(new Date("2026-11-23T04:00:00Z"));
    expect(twelve).toEqual({ start: "2025-12-01T00:00:00", end: "2026-12-01T00:00:00" });
    expect(periodMonths(twelve)).toBe("2025-12 – 2026-11");
    expect(periodMonths(periodOf("month", new Date("2026-11-23T04:00:00Z")))).toBe("2026-11");
  });

  it("counts back whole Beijing days for the notice statistics", () => {
    expect(lastDays(30, lateNovemberUtc)).toEqual({ from: "2026-11-02", to: "2026-12-01" });
    expect(daysBetween("2026-02-27", "2026-03-01")).toEqual(["2026-02-27", "2026-02-28", "2026-03-01"]);
  });
});

function node(id: string, status: TenantNode["status"]): TenantNode {
  return { id, parent_id: "s", kind: "community", name_zh: `${id}社区`, name_en: id, division_code: null, division_code_year: null, status, onboarded_at: null, children: [] };
}

function census(id: string, residents: number, migrants: number): CensusPart {
  return {
    scope_id: id,
    scope_name: "",
    households: Math.round(residents / 3),
    residents,
    by_residence_type: { registered: residents - migrants, resident: 0, migrant: migrants },
    by_tenure: {},
    by_age_band: {},
    by_care_tag: { elderly: 7, child: 5 },
    enterprises: 0,
  };
}

function cases(key: string | null, extra: Partial<Indicators>): Indicators {
  return {
    key,
    label: key,
    reported: 0,
    by_state: {},
    due: 0,
    closed: 0,
    closed_on_time: 0,
    reopened: 0,
    extended: 0,
    ratings: 0,
    satisfied_ratings: 0,
    basically_satisfied_ratings: 0,
    unsatisfied_ratings: 0,
    closure_rate: null,
    on_time_closure_rate: null,
    rework_rate: null,
    extension_rate: null,
    satisfaction_rate: null,
    mean_handling_seconds: 0,
    mean_handling_hours: null,
    open: 0,
    overdue: 0,
    ...extra,
  };
}

describe("community rows", () => {
  const rows = communityRows(
    [node("a", "active"), node("b", "active"), node("p", "preparing")],
    [census("a", 300, 75), census("b", 0, 0)],
    [cases("a", { reported: 4, on_time_closure_rate: 0.5, satisfaction_rate: 0.75 })],
    [cases("a", { open: 3, overdue: 1 })],
  );

  it("joins census and case figures by community", () => {
    expect(rows[0]).toMatchObject({ id: "a", residents: 300, households: 100, migrantShare: 0.25, elderly: 7, children: 5 });
    expect(rows[0]).toMatchObject({ openCases: 3, overdueCases: 1, onTimeClosureRate: 0.5, satisfactionRate: 0.75, reported: 4 });
  });

  it("counts a community without cases as zero cases and unknown rates", () => {
    expect(rows[1]).toMatchObject({ openCases: 0, overdueCases: 0, reported: 0, onTimeClosureRate: null, satisfactionRate: null });
    expect(rows[1].migrantShare).toBeNull(); // nobody lives there yet: no share
  });

  it("gives a preparing community no figures at all", () => {
    expect(rows[2].preparing).toBe(true);
    const figures = Object.entries(rows[2]).filter(([k]) => !["id", "nameZh", "nameEn", "preparing"].includes(k));
    expect(figures.every(([, v]) => v === null)).toBe(true);
  });

  it("takes the street's figures from the totals", () => {
    const total = totalFigures(node("s", "active"), census("s", 1000, 400), cases(null, { satisfaction_rate: 1 }), cases(null, { open: 9, overdue: 2 }));
    expect(total).toMatchObject({ residents: 1000, migrantShare: 0.4, openCases: 9, overdueCases: 2, satisfactionRate: 1, onTimeClosureRate: null });
  });
});

describe("notices per day", () => {
  it("sums the communities' rows per day and channel and fills quiet days with zero", () => {
    const row = (tenant_id: string, day: string, channel: "inbox" | "sms", sent: number) => ({ tenant_id, day, channel, channel_label: null, sent, delivered: 0, failed: 0, read: 0 });
    const series = noticesPerDay([row("a", "2026-11-01", "inbox", 3), row("b", "2026-11-01", "inbox", 2), row("a", "2026-11-03", "sms", 4), row("a", "2026-10-01", "sms", 9)], "2026-11-01", "2026-11-03");
    expect(series.days).toEqual(["2026-11-01", "2026-11-02", "2026-11-03"]);
    expect(series.sent).toEqual({ inbox: [5, 0, 0], sms: [0, 0, 4] });
  });
});

describe("temporary passwords", () => {
  it("are long, without look-alike characters, and differ each time", () => {
    const a = temporaryPassword();
    const b = temporaryPassword();
    expect(a).toHaveLength(14);
    expect(a).toMatch(/^[A-HJ-NP-Za-km-z2-9]+$/);
    expect(a).not.toBe(b);
  });

  it("throws away bytes that would make some characters likelier", () => {
    // 255 is above the largest multiple of the alphabet's size: it must be skipped, never mapped.
    const bytes = [255, 0, 255, 1];
    let i = 0;
    const fake = (buffer: Uint8Array) => buffer.map(() => bytes[i++ % bytes.length]);
    expect(temporaryPassword(4, fake)).toBe("ABAB");
  });
});

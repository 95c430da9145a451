import { describe, expect, it } from "vitest";

import { countdown, dateTime, percent, todayInBeijing } from "@/format";

describe("Beijing time", () => {
  it("shows a UTC instant as the Beijing wall clock", () => {
    expect(dateTime("2026-11-23T17:30:00Z")).toContain("01:30");
    expect(dateTime("2026-11-23T17:30:00Z")).toContain("2026/11/24");
  });

  it("takes today's date in Beijing, not in UTC", () => {
    expect(todayInBeijing(new Date("2026-11-23T16:30:00Z"))).toBe("2026-11-24");
    expect(todayInBeijing(new Date("2026-11-23T15:30:00Z"))).toBe("2026-11-23");
  });
});

describe("countdown", () => {
  const now = new Date("2026-11-23T02:00:00Z");

  it("counts down to a deadline ahead", () => {
    const left = countdown("2026-11-24T05:30:00Z", now)!;
    expect(left.overdue).toBe(false);
    expect(left.text).toBe("剩余1天3小时");
  });

  it("says how long a case is overdue", () => {
    const late = countdown("2026-11-23T01:15:00Z", now)!;
    expect(late.overdue).toBe(true);
    expect(late.text).toBe("已超期45分钟");
  });

  it("has nothing to show without a deadline", () => {
    expect(countdown(null, now)).toBeNull();
  });
});

describe("rates", () => {
  it("shows a missing denominator as a dash, not 0%", () => {
    expect(percent(null)).toBe("—");
    expect(percent(0)).toBe("0.0%");
    expect(percent(0.875)).toBe("87.5%");
  });
});

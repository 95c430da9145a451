import { describe, expect, it } from "vitest";

import type { Schemas } from "@/api";
import { planDiff, type CurrentLayout } from "@/pages/community/grids/planDiff";
import { spread, toneOf } from "@/pages/community/grids/workload";

const current: CurrentLayout = {
  grids: [
    { id: "g1", code: "330109001001001", name: "第1网格" },
    { id: "g2", code: "330109001001002", name: "第2网格" },
  ],
  microGrids: [
    { id: "m1", grid_id: "g1", code: "33010900100100101", name: "晴庐1–2幢" },
    { id: "m2", grid_id: "g1", code: "33010900100100102", name: "晴庐3–4幢" },
    { id: "m3", grid_id: "g2", code: "33010900100100201", name: "望海潮" },
  ],
};

function balance(count: number, maxOverMean: number, cv: number): Schemas["BalanceOut"] {
  return { count, mean: 100, minimum: 50, maximum: 100 * maxOverMean, max_over_mean: maxOverMean, coefficient_of_variation: cv };
}

function plan(diff: Partial<Schemas["LayoutDiffOut"]>): Schemas["GridPlanOut"] {
  return {
    id: "p1",
    tenant_id: "t",
    mode: "rebalance",
    grids: 2,
    micro_grids: 3,
    stability: 0.3,
    state: "open",
    proposed_grids: [
      { key: "g1", continues_current: true, number: 1, code: "330109001001001", micro_grid_keys: ["m1", "new-1"], workload: 200, contiguous: true },
      { key: "g2", continues_current: true, number: 2, code: "330109001001002", micro_grid_keys: ["m3"], workload: 180, contiguous: true },
    ],
    proposed_micro_grids: [
      { key: "m1", continues_current: true, grid_key: "g1", number: 1, code: "33010900100100101", building_ids: ["b1", "b2"], workload: 100, pieces: 1 },
      { key: "new-1", continues_current: false, grid_key: "g1", number: 2, code: "33010900100100102", building_ids: ["b3", "b4", "b9"], workload: 100, pieces: 1 },
      { key: "m3", continues_current: true, grid_key: "g2", number: 1, code: "33010900100100201", building_ids: ["b5"], workload: 80, pieces: 2 },
    ],
    micro_grid_balance: balance(3, 1.05, 0.1),
    grid_balance: balance(2, 1.2, 0.2),
    current_micro_grid_balance: balance(3, 1.6, 0.45),
    current_grid_balance: balance(2, 1.2, 0.2),
    diff: {
      building_moves: [],
      micro_grid_moves: [],
      micro_grids_created: [],
      micro_grids_removed: [],
      grids_created: [],
      grids_removed: [],
      changed_buildings: 0,
      placed_buildings: 0,
      changed_assignments: 0,
      ...diff,
    },
    separate_areas: 1,
    non_contiguous_micro_grids: [],
    non_contiguous_grids: [],
    created_by: "shibei-staff",
    created_at: "2026-11-23T02:00:00Z",
    applied_at: null,
  };
}

const names: Record<string, string> = { b1: "晴庐 1幢", b2: "晴庐 2幢", b3: "晴庐 3幢", b4: "晴庐 4幢", b5: "望海潮 1幢", b9: "晴庐 10幢" };
const label = (id: string) => names[id] ?? id;

describe("planDiff", () => {
  it("groups building moves into flows between named micro-grids, biggest first", () => {
    const d = planDiff(
      plan({
        building_moves: [
          { building_id: "b4", from_micro_grid: "m2", to_micro_grid: "new-1" },
          { building_id: "b3", from_micro_grid: "m2", to_micro_grid: "new-1" },
          { building_id: "b5", from_micro_grid: "m1", to_micro_grid: "m3" },
          { building_id: "b9", from_micro_grid: null, to_micro_grid: "new-1" },
        ],
        micro_grids_created: ["new-1"],
        micro_grids_removed: ["m2"],
      }),
      current,
      label,
    );
    expect(d.flows.map((f) => [f.fromLabel, f.toLabel, f.buildings])).toEqual([
      ["33010900100100102 晴庐3–4幢", "33010900100100102（新）", ["晴庐 3幢", "晴庐 4幢"]],
      ["", "33010900100100102（新）", ["晴庐 10幢"]],
      ["33010900100100101 晴庐1–2幢", "33010900100100201 望海潮", ["望海潮 1幢"]],
    ]);
    expect(d.movedBuildings).toBe(3);
    expect(d.placedBuildings).toBe(1);
    expect(d.created).toEqual([{ key: "new-1", label: "33010900100100102（新）", detail: "330109001001001 第1网格 · 3" }]);
    expect(d.removed).toEqual([{ key: "m2", label: "33010900100100102 晴庐3–4幢", detail: "330109001001001 第1网格" }]);
    expect(d.unchanged).toBe(false);
  });

  it("says whether each balance figure gets better", () => {
    const d = planDiff(plan({}), current, label);
    const micro = d.balance.find((b) => b.level === "micro_grid")!;
    expect(micro.maxOverMean).toEqual({ before: 1.6, after: 1.05, better: true });
    expect(micro.coefficientOfVariation.better).toBe(true);
    const grid = d.balance.find((b) => b.level === "grid")!;
    expect(grid.maxOverMean.better).toBeNull();
  });

  it("marks a worse balance as worse, and a missing one as unknown", () => {
    const worse = plan({});
    worse.micro_grid_balance = balance(3, 1.9, 0.6);
    worse.current_grid_balance = null;
    const d = planDiff(worse, current, label);
    expect(d.balance[0].maxOverMean.better).toBe(false);
    expect(d.balance[1].maxOverMean).toEqual({ before: null, after: 1.2, better: null });
  });

  it("names micro-grids moving to another grid and renumbered ones", () => {
    const p = plan({ micro_grid_moves: [{ micro_grid_key: "m3", from_grid: "g2", to_grid: "g1" }] });
    p.proposed_micro_grids[2] = { ...p.proposed_micro_grids[2], grid_key: "g1", code: "33010900100100103" };
    const d = planDiff(p, current, label);
    expect(d.moved).toEqual([{ key: "m3", label: "望海潮 → 33010900100100103", detail: "330109001001002 第2网格 → 330109001001001 第1网格" }]);
    expect(d.renumbered.map((r) => r.detail)).toEqual(["33010900100100201 → 33010900100100103"]);
  });

  it("finds nothing to apply when the proposal equals the layout in force", () => {
    const same = plan({});
    same.proposed_micro_grids = [
      { key: "m1", continues_current: true, grid_key: "g1", number: 1, code: "33010900100100101", building_ids: ["b1"], workload: 1, pieces: 1 },
    ];
    expect(planDiff(same, current, label).unchanged).toBe(true);
  });
});

describe("workload spread", () => {
  it("gives the planner's max/mean and population coefficient of variation", () => {
    const s = spread([100, 200, 300]);
    expect(s.mean).toBe(200);
    expect(s.maxOverMean).toBe(1.5);
    expect(s.coefficientOfVariation).toBeCloseTo(Math.sqrt(20000 / 3) / 200, 10);
  });

  it("has no ratio without workload", () => {
    expect(spread([]).maxOverMean).toBeNull();
    expect(spread([0, 0]).coefficientOfVariation).toBeNull();
  });

  it("marks parts more than 20% off the mean", () => {
    expect(toneOf(130, 100)).toBe("over");
    expect(toneOf(75, 100)).toBe("under");
    expect(toneOf(119, 100)).toBe("even");
  });
});

// A layout proposal read as a change to the layout in force: which buildings go from which
// micro-grid to which (grouped into flows, biggest first), which micro-grids are created,
// removed or move to another grid, and whether the balance gets better. Pure, so it is tested
// without a browser (planDiff.test.ts).
import type { Schemas } from "@/api";

type Plan = Schemas["GridPlanOut"];
type Balance = Schemas["BalanceOut"];

/** The layout in force, by id (what listGrids / listMicroGrids answer). */
export interface CurrentLayout {
  grids: Pick<Schemas["GridOut"], "id" | "code" | "name">[];
  microGrids: Pick<Schemas["MicroGridOut"], "id" | "grid_id" | "code" | "name">[];
}

export interface Flow {
  /** null: the buildings were not covered before. */
  from: string | null;
  fromLabel: string;
  to: string;
  toLabel: string;
  buildings: string[];
}

export interface MicroGridChange {
  key: string;
  label: string;
  detail: string;
}

export interface Figure {
  before: number | null;
  after: number | null;
  /** true: lower is better and it went down; null when a side is missing or equal. */
  better: boolean | null;
}

export interface BalanceRow {
  level: "micro_grid" | "grid";
  count: Figure;
  maxOverMean: Figure;
  coefficientOfVariation: Figure;
}

export interface PlanDiff {
  flows: Flow[];
  movedBuildings: number;
  placedBuildings: number;
  created: MicroGridChange[];
  removed: MicroGridChange[];
  moved: MicroGridChange[];
  /** Micro-grids that stay but get another code (numbered west→east, north→south again). */
  renumbered: MicroGridChange[];
  gridsCreated: string[];
  gridsRemoved: string[];
  balance: BalanceRow[];
  /** Nothing would change: applying is pointless. */
  unchanged: boolean;
}

const EPSILON = 1e-9;

function figure(before: number | null, after: number | null, lowerIsBetter: boolean): Figure {
  if (before === null || after === null || Math.abs(before - after) < EPSILON) return { before, after, better: null };
  return { before, after, better: lowerIsBetter ? after < before : null };
}

function balanceRow(level: BalanceRow["level"], before: Balance | null, after: Balance | null): BalanceRow {
  return {
    level,
    count: figure(before?.count ?? null, after?.count ?? null, false),
    maxOverMean: figure(before?.max_over_mean ?? null, after?.max_over_mean ?? null, true),
    coefficientOfVariation: figure(before?.coefficient_of_variation ?? null, after?.coefficient_of_variation ?? null, true),
  };
}

/**
 * The proposal against the layout in force. `buildingLabel` names a building ("晴庐 3幢");
 * `isNew` marks a proposed micro-grid or grid that does not continue a current one.
 */
export function planDiff(plan: Plan, current: CurrentLayout, buildingLabel: (id: string) => string, isNew = "新"): PlanDiff {
  const currentMicro = new Map(current.microGrids.map((m) => [m.id, m]));
  const currentGrid = new Map(current.grids.map((g) => [g.id, g]));
  const proposedMicro = new Map(plan.proposed_micro_grids.map((m) => [m.key, m]));
  const proposedGrid = new Map(plan.proposed_grids.map((g) => [g.key, g]));

  const currentMicroLabel = (id: string): string => {
    const micro = currentMicro.get(id);
    return micro ? `${micro.code} ${micro.name}` : id.slice(0, 8);
  };
  // A proposed micro-grid that continues a current one keeps its name; a new one has only
  // the code it would get.
  const proposedMicroLabel = (key: string): string => {
    const proposed = proposedMicro.get(key);
    const continued = currentMicro.get(key);
    if (continued) return proposed && proposed.code !== continued.code ? `${continued.name} → ${proposed.code}` : `${continued.code} ${continued.name}`;
    return proposed ? `${proposed.code}（${isNew}）` : key;
  };
  const currentGridLabel = (id: string): string => {
    const grid = currentGrid.get(id);
    return grid ? `${grid.code} ${grid.name}` : id.slice(0, 8);
  };
  const proposedGridLabel = (key: string): string => {
    const continued = currentGrid.get(key);
    if (continued) return `${continued.code} ${continued.name}`;
    const proposed = proposedGrid.get(key);
    return proposed ? `${proposed.code}（${isNew}）` : key;
  };

  const diff = plan.diff;
  const byPair = new Map<string, Flow>();
  for (const move of diff?.building_moves ?? []) {
    const pair = `${move.from_micro_grid ?? ""}>${move.to_micro_grid}`;
    let flow = byPair.get(pair);
    if (!flow) {
      flow = {
        from: move.from_micro_grid,
        fromLabel: move.from_micro_grid ? currentMicroLabel(move.from_micro_grid) : "",
        to: move.to_micro_grid,
        toLabel: proposedMicroLabel(move.to_micro_grid),
        buildings: [],
      };
      byPair.set(pair, flow);
    }
    flow.buildings.push(buildingLabel(move.building_id));
  }
  const collator = new Intl.Collator("zh-CN", { numeric: true });
  const flows = [...byPair.values()]
    .map((f) => ({ ...f, buildings: f.buildings.sort(collator.compare) }))
    .sort((a, b) => b.buildings.length - a.buildings.length || collator.compare(a.fromLabel, b.fromLabel) || collator.compare(a.toLabel, b.toLabel));

  const created = (diff?.micro_grids_created ?? []).map((key) => {
    const proposed = proposedMicro.get(key);
    return {
      key,
      label: proposedMicroLabel(key),
      detail: proposed ? `${proposedGridLabel(proposed.grid_key)} · ${proposed.building_ids.length}` : "",
    };
  });
  const removed = (diff?.micro_grids_removed ?? []).map((id) => {
    const micro = currentMicro.get(id);
    return { key: id, label: currentMicroLabel(id), detail: micro ? currentGridLabel(micro.grid_id) : "" };
  });
  const moved = (diff?.micro_grid_moves ?? []).map((m) => ({
    key: m.micro_grid_key,
    label: proposedMicroLabel(m.micro_grid_key),
    detail: `${currentGridLabel(m.from_grid)} → ${proposedGridLabel(m.to_grid)}`,
  }));
  const renumbered = plan.proposed_micro_grids
    .filter((p) => currentMicro.has(p.key) && currentMicro.get(p.key)!.code !== p.code)
    .map((p) => ({ key: p.key, label: currentMicro.get(p.key)!.name, detail: `${currentMicro.get(p.key)!.code} → ${p.code}` }));
  const gridsCreated = (diff?.grids_created ?? []).map(proposedGridLabel);
  const gridsRemoved = (diff?.grids_removed ?? []).map(currentGridLabel);
  const movedBuildings = flows.filter((f) => f.from !== null).reduce((n, f) => n + f.buildings.length, 0);
  const placedBuildings = flows.filter((f) => f.from === null).reduce((n, f) => n + f.buildings.length, 0);

  return {
    flows,
    movedBuildings,
    placedBuildings,
    created,
    removed,
    moved,
    renumbered,
    gridsCreated,
    gridsRemoved,
    balance: [
      balanceRow("micro_grid", plan.current_micro_grid_balance, plan.micro_grid_balance),
      balanceRow("grid", plan.current_grid_balance, plan.grid_balance),
    ],
    unchanged: flows.length === 0 && created.length + removed.length + moved.length + renumbered.length + gridsCreated.length + gridsRemoved.length === 0,
  };
}

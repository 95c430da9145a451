// The community's places and grids as look-up tables, for pickers and for naming the ids the
// grid, cases and notify APIs answer with ("晴庐 3幢" instead of a uuid). Loaded whole: a
// community has hundreds of buildings and dozens of micro-grids, not more.
import { api, tenantPath, type Schemas } from "@/api";

type Paged<T> = { items: T[]; next_page_token: string };

/** Every page of a paged list, at the API's largest page size. */
export async function fetchAll<T>(path: string, query: Record<string, string> = {}): Promise<T[]> {
  const out: T[] = [];
  let token = "";
  do {
    const page = await api.get<Paged<T>>(path, { ...query, page_size: 500, page_token: token });
    out.push(...page.items);
    token = page.next_page_token;
  } while (token);
  return out;
}

export interface PlaceIndex {
  complexes: Schemas["ComplexOut"][];
  buildings: Schemas["BuildingOut"][];
  complexName: (id: string | null | undefined) => string;
  /** "晴庐 3幢"; the id's head when the census does not know it (removed since). */
  buildingLabel: (id: string | null | undefined) => string;
}

export function placeIndex(complexes: Schemas["ComplexOut"][], buildings: Schemas["BuildingOut"][]): PlaceIndex {
  const complexById = new Map(complexes.map((c) => [c.id, c]));
  const buildingById = new Map(buildings.map((b) => [b.id, b]));
  const collator = new Intl.Collator("zh-CN", { numeric: true });
  const sorted = [...buildings].sort(
    (a, b) => collator.compare(complexById.get(a.complex_id)?.name ?? "", complexById.get(b.complex_id)?.name ?? "") || collator.compare(a.number, b.number),
  );
  return {
    complexes: [...complexes].sort((a, b) => collator.compare(a.name, b.name)),
    buildings: sorted,
    complexName: (id) => (id ? (complexById.get(id)?.name ?? id.slice(0, 8)) : "—"),
    buildingLabel: (id) => {
      if (!id) return "—";
      const building = buildingById.get(id);
      if (!building) return id.slice(0, 8);
      const complex = complexById.get(building.complex_id);
      return complex ? `${complex.name} ${building.number}` : building.number;
    },
  };
}

export async function loadPlaces(tenant: string): Promise<PlaceIndex> {
  const [complexes, buildings] = await Promise.all([
    fetchAll<Schemas["ComplexOut"]>(tenantPath(tenant, "complexes")),
    fetchAll<Schemas["BuildingOut"]>(tenantPath(tenant, "buildings")),
  ]);
  return placeIndex(complexes, buildings);
}

export interface GridIndex {
  grids: Schemas["GridOut"][];
  microGrids: Schemas["MicroGridOut"][];
  gridLabel: (id: string | null | undefined) => string;
  microGridLabel: (id: string | null | undefined) => string;
  microGridsOf: (gridId: string | null | undefined) => Schemas["MicroGridOut"][];
}

export function gridIndex(grids: Schemas["GridOut"][], microGrids: Schemas["MicroGridOut"][]): GridIndex {
  const sortedGrids = [...grids].sort((a, b) => a.number - b.number);
  const gridById = new Map(grids.map((g) => [g.id, g]));
  const gridNumber = (id: string) => gridById.get(id)?.number ?? 0;
  const sortedMicro = [...microGrids].sort((a, b) => gridNumber(a.grid_id) - gridNumber(b.grid_id) || a.number - b.number);
  const microById = new Map(microGrids.map((m) => [m.id, m]));
  return {
    grids: sortedGrids,
    microGrids: sortedMicro,
    gridLabel: (id) => {
      if (!id) return "—";
      const grid = gridById.get(id);
      return grid ? grid.name : id.slice(0, 8);
    },
    microGridLabel: (id) => {
      if (!id) return "—";
      const micro = microById.get(id);
      if (!micro) return id.slice(0, 8);
      const grid = gridById.get(micro.grid_id);
      return grid ? `${grid.name} · ${micro.name}` : micro.name;
    },
    microGridsOf: (gridId) => (gridId ? sortedMicro.filter((m) => m.grid_id === gridId) : sortedMicro),
  };
}

export async function loadGrids(tenant: string): Promise<GridIndex> {
  const [grids, microGrids] = await Promise.all([
    fetchAll<Schemas["GridOut"]>(tenantPath(tenant, "grids")),
    fetchAll<Schemas["MicroGridOut"]>(tenantPath(tenant, "micro-grids")),
  ]);
  return gridIndex(grids, microGrids);
}

/** A fresh Idempotency-Key (made once per form, so a double click or a retry stays one write). */
export function idempotencyKey(): string {
  // randomUUID needs a secure context; a console served over plain http on a LAN has none.
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

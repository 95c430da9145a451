// A grid worker's own grids. The grid service links a member to a platform account by
// `account_subject`; the REST API lists members per grid, so the grids are read once and each
// one's members searched for the logged-in subject (a community has about a dozen grids).
import { api, tenantPath, type Schemas } from "@/api";

export type Member = Schemas["MemberPage"]["items"][number];
type Grid = Schemas["GridOut"];
type MicroGrid = Schemas["MicroGridOut"];
type Coverage = Schemas["CoverageOut"];
type Workload = Schemas["WorkloadOut"];

interface Page<T> {
  items: T[];
  next_page_token: string;
}

/** Every item of a paged list (for the short lists a page needs whole: grids, complexes). */
export async function allPages<T>(path: string, query: Record<string, string | undefined> = {}): Promise<T[]> {
  const out: T[] = [];
  let token = "";
  do {
    const page = await api.get<Page<T>>(path, { ...query, page_size: 500, page_token: token });
    out.push(...page.items);
    token = page.next_page_token;
  } while (token);
  return out;
}

export interface MyBuilding {
  buildingId: string;
  complexName: string;
  number: string;
  /** "晴庐 3幢": as residents and workers say it. */
  label: string;
}

export interface Membership {
  member: Member;
  grid: Grid;
  microGrid: MicroGrid | null;
  buildings: MyBuilding[];
  workload: Workload | null;
}


export function buildingLabel(coverage: Pick<Coverage, "complex_id" | "building_number" | "building_id">, complexNames: Map<string, string>): MyBuilding {
  const complexName = (coverage.complex_id && complexNames.get(coverage.complex_id)) || "";
  const number = coverage.building_number ?? "";
  return {
    buildingId: coverage.building_id,
    complexName,
    number,
    label: [complexName, number].filter(Boolean).join(" ") || coverage.building_id.slice(0, 8),
  };
}

/** The grids and micro-grids the account is a member of, with buildings and workload. */
export async function loadMyGrids(tenant: string, subject: string): Promise<Membership[]> {
  const grids = await allPages<Grid>(tenantPath(tenant, "grids"));
  const members = await Promise.all(grids.map((g) => allPages<Member>(tenantPath(tenant, `grids/${g.id}/members`))));
  const mine = members.flat().filter((m) => m.account_subject === subject);
  if (mine.length === 0) return [];
  const gridIds = [...new Set(mine.map((m) => m.grid_id))];
  const [complexes, workload, details, coverage] = await Promise.all([
    allPages<Schemas["ComplexOut"]>(tenantPath(tenant, "complexes")),
    api.get<Schemas["GridWorkloadOut"]>(tenantPath(tenant, "stats/grids")),
    Promise.all(gridIds.map((id) => api.get<Schemas["GridDetailOut"]>(tenantPath(tenant, `grids/${id}`)))),
    Promise.all(gridIds.map((id) => allPages<Coverage>(tenantPath(tenant, `grids/${id}/buildings`)))),
  ]);
  const complexNames = new Map(complexes.map((c) => [c.id, c.name]));
  const parts = new Map(workload.parts.map((p) => [p.scope_id, p]));
  return mine.map((member) => {
    const index = gridIds.indexOf(member.grid_id);
    const detail = details[index];
    const microGrid = detail.micro_grids.find((mg) => mg.id === member.micro_grid_id) ?? null;
    const covered = coverage[index].filter(
      (c) => (!member.micro_grid_id || c.micro_grid_id === member.micro_grid_id) && (!member.building_id || c.building_id === member.building_id),
    );
    const buildings = covered
      .map((c) => buildingLabel(c, complexNames))
      .sort((a, b) => a.label.localeCompare(b.label, "zh-CN", { numeric: true }));
    return { member, grid: detail, microGrid, buildings, workload: parts.get(member.micro_grid_id ?? member.grid_id) ?? null };
  });
}

/** Every building of the memberships once, in label order (the visit form's choices). */
export function buildingsOf(memberships: readonly Membership[]): MyBuilding[] {
  const seen = new Map<string, MyBuilding>();
  for (const m of memberships) for (const b of m.buildings) seen.set(b.buildingId, b);
  return [...seen.values()].sort((a, b) => a.label.localeCompare(b.label, "zh-CN", { numeric: true }));
}

export { MEMBER_ROLES } from "@/words";

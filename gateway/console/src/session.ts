// Who is logged in and where they may go: the grants of /api/v1/me and the tenant tree of
// /api/v1/tenants. A grant on a street covers its communities (tenant ids are dotted paths).
import { reactive } from "vue";

import { api } from "@/api";

export type Role = "platform-admin" | "street-admin" | "community-staff" | "grid-worker" | "resident" | "pii-reader";

export interface Grant {
  tenant: string | null;
  role: Role;
}

export interface Me {
  subject: string;
  username: string;
  name: string | null;
  grants: Grant[];
  token_expires_at: string;
}

export interface TenantNode {
  id: string;
  parent_id: string | null;
  kind: "district" | "street" | "community";
  name_zh: string;
  name_en: string;
  division_code: string | null;
  division_code_year: number | null;
  status: "preparing" | "active" | "archived";
  onboarded_at: string | null;
  children: TenantNode[];
}

export const session = reactive({
  me: null as Me | null,
  roots: [] as TenantNode[],
});

export async function loadSession(): Promise<void> {
  const [me, tree] = await Promise.all([
    api.get<Me>("/api/v1/me"),
    api.get<{ roots: TenantNode[] }>("/api/v1/tenants"),
  ]);
  session.me = me;
  session.roots = tree.roots;
}

export function covers(grantTenant: string | null, tenant: string): boolean {
  return grantTenant === null || tenant === grantTenant || tenant.startsWith(`${grantTenant}.`);
}

/** Whether the user holds one of the roles on the tenant (directly or through an ancestor). */
export function hasRole(tenant: string, ...roles: Role[]): boolean {
  return (session.me?.grants ?? []).some((g) => roles.includes(g.role) && covers(g.tenant, tenant));
}

/** Staff-level say over a community: its staff, or an admin above it. */
export function canManage(tenant: string): boolean {
  return hasRole(tenant, "community-staff", "street-admin", "platform-admin");
}

export function allNodes(): TenantNode[] {
  const out: TenantNode[] = [];
  const walk = (nodes: TenantNode[]) => nodes.forEach((n) => (out.push(n), walk(n.children)));
  walk(session.roots);
  return out;
}

export function findNode(id: string): TenantNode | undefined {
  return allNodes().find((n) => n.id === id);
}

export function streets(): TenantNode[] {
  return allNodes().filter((n) => n.kind === "street" && hasRole(n.id, "street-admin", "platform-admin"));
}

/** Communities where the user has staff-level say, or any role when `anyRole`. */
export function communities(anyRole = false): TenantNode[] {
  return allNodes().filter(
    (n) => n.kind === "community" && (anyRole ? (session.me?.grants ?? []).some((g) => covers(g.tenant, n.id)) : canManage(n.id)),
  );
}

/** The page a user lands on after login, by their strongest role. */
export function homePath(): string {
  const grants = session.me?.grants ?? [];
  const street = streets()[0];
  if (street && grants.some((g) => g.role === "street-admin" || g.role === "platform-admin")) return `/street/${street.id}`;
  const staff = grants.find((g) => g.role === "community-staff");
  if (staff?.tenant) return `/community/${staff.tenant}`;
  const worker = grants.find((g) => g.role === "grid-worker");
  if (worker?.tenant) return `/m/grid/${worker.tenant}`;
  const resident = grants.find((g) => g.role === "resident");
  if (resident?.tenant) return `/m/resident/${resident.tenant}`;
  return "/no-access";
}

import { beforeEach, describe, expect, it } from "vitest";

import { canManage, covers, hasRole, homePath, session, type TenantNode } from "@/session";

function node(id: string, kind: TenantNode["kind"], children: TenantNode[] = []): TenantNode {
  return { id, parent_id: id.split(".").slice(0, -1).join(".") || null, kind, name_zh: id, name_en: id, division_code: null, division_code_year: null, status: "active", onboarded_at: null, children };
}

describe("grants", () => {
  beforeEach(() => {
    session.roots = [node("xiaoshan", "district", [node("xiaoshan.shushan", "street", [node("xiaoshan.shushan.hushan", "community"), node("xiaoshan.shushan.hushanxi", "community")])])];
  });

  it("covers a tenant's subtree but not a sibling whose id starts the same", () => {
    expect(covers("xiaoshan.shushan.hushan", "xiaoshan.shushan.hushan")).toBe(true);
    expect(covers("xiaoshan.shushan.hushan", "xiaoshan.shushan.hushanxi")).toBe(false);
    expect(covers("xiaoshan.shushan", "xiaoshan.shushan.hushanxi")).toBe(true);
    expect(covers(null, "anything")).toBe(true);
  });

  it("gives a street admin staff-level say over the street's communities", () => {
    session.me = { subject: "s", username: "shushan-admin", name: null, token_expires_at: "", grants: [{ tenant: "xiaoshan.shushan", role: "street-admin" }] };
    expect(canManage("xiaoshan.shushan.hushan")).toBe(true);
    expect(homePath()).toBe("/street/xiaoshan.shushan");
  });

  it("lands a grid worker on the phone pages and gives them no staff say", () => {
    session.me = { subject: "g", username: "hushan-grid", name: null, token_expires_at: "", grants: [{ tenant: "xiaoshan.shushan.hushan", role: "grid-worker" }] };
    expect(canManage("xiaoshan.shushan.hushan")).toBe(false);
    expect(hasRole("xiaoshan.shushan.hushan", "grid-worker")).toBe(true);
    expect(homePath()).toBe("/m/grid/xiaoshan.shushan.hushan");
  });

  it("sends a user without a role to the explanation page", () => {
    session.me = { subject: "n", username: "nobody", name: null, token_expires_at: "", grants: [] };
    expect(homePath()).toBe("/no-access");
  });
});

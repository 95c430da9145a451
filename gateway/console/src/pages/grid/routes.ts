import type { RouteRecordRaw } from "vue-router";

// The grid worker's phone pages. Children of /m/grid/:tenant.
export const gridWorkerRoutes: RouteRecordRaw[] = [
  { path: "", component: () => import("@/pages/grid/MyGridsPage.vue"), meta: { title: ["我的网格", "My grids"], menu: true, icon: "Grid" } },
  { path: "cases", component: () => import("@/pages/grid/MyCasesPage.vue"), meta: { title: ["我的事件", "My cases"], menu: true, icon: "Tickets" } },
  { path: "cases/:caseId", component: () => import("@/pages/grid/PhoneCasePage.vue"), props: { area: "grid" }, meta: { title: ["事件详情", "Case"] } },
  { path: "visit", component: () => import("@/pages/grid/VisitPage.vue"), meta: { title: ["走访", "Visits"], menu: true, icon: "Edit" } },
  {
    path: "inbox",
    component: () => import("@/pages/common/InboxPage.vue"),
    props: { compact: true, caseLink: (m: { tenant_id: string; case_id: string | null }) => (m.case_id ? `/m/grid/${m.tenant_id}/cases/${m.case_id}` : null) },
    meta: { title: ["消息", "Messages"], menu: true, icon: "Bell" },
  },
];

import type { RouteRecordRaw } from "vue-router";

// The resident's phone pages. Children of /m/resident/:tenant.
export const residentRoutes: RouteRecordRaw[] = [
  { path: "", component: () => import("@/pages/resident/ReportPage.vue"), meta: { title: ["我要上报", "Report"], menu: true, icon: "EditPen" } },
  { path: "cases", component: () => import("@/pages/resident/MyCasesPage.vue"), meta: { title: ["我的事件", "My cases"], menu: true, icon: "Tickets" } },
  { path: "cases/:caseId", component: () => import("@/pages/grid/PhoneCasePage.vue"), props: { area: "resident" }, meta: { title: ["事件详情", "Case"] } },
  {
    path: "inbox",
    component: () => import("@/pages/common/InboxPage.vue"),
    props: { compact: true, caseLink: (m: { tenant_id: string; case_id: string | null }) => (m.case_id ? `/m/resident/${m.tenant_id}/cases/${m.case_id}` : null) },
    meta: { title: ["通知", "Notices"], menu: true, icon: "Bell" },
  },
];

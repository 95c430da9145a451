import type { RouteRecordRaw } from "vue-router";

// The resident's phone pages. Children of /m/resident/:tenant.
export const residentRoutes: RouteRecordRaw[] = [
  { path: "inbox", component: () => import("@/pages/common/InboxPage.vue"), props: { compact: true }, meta: { title: ["通知", "Notices"], menu: true, icon: "Bell" } },
];

import type { RouteRecordRaw } from "vue-router";

// The community workspace (community staff; street admins drilling down). Children of /community/:tenant.
export const communityRoutes: RouteRecordRaw[] = [
  { path: "inbox", component: () => import("@/pages/common/InboxPage.vue"), meta: { title: ["消息", "Messages"], menu: true, icon: "Bell" } },
];

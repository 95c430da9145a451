import type { RouteRecordRaw } from "vue-router";

// The grid worker's phone pages. Children of /m/grid/:tenant.
export const gridWorkerRoutes: RouteRecordRaw[] = [
  { path: "inbox", component: () => import("@/pages/common/InboxPage.vue"), props: { compact: true }, meta: { title: ["消息", "Messages"], menu: true, icon: "Bell" } },
];

import type { RouteRecordRaw } from "vue-router";

// The street's pages (street admins). Children of /street/:street.
export const streetRoutes: RouteRecordRaw[] = [
  { path: "inbox", component: () => import("@/pages/common/InboxPage.vue"), meta: { title: ["消息", "Messages"], menu: true, icon: "Bell" } },
];

import type { RouteRecordRaw } from "vue-router";

// The street's pages (street admins). Children of /street/:street.
export const streetRoutes: RouteRecordRaw[] = [
  { path: "", component: () => import("@/pages/street/CockpitPage.vue"), meta: { title: ["街道驾驶舱", "Street cockpit"], menu: true, icon: "DataBoard" } },
  { path: "communities/:tenant", component: () => import("@/pages/street/CommunityPage.vue"), meta: { title: ["社区详情", "Community"] } },
  { path: "onboarding", component: () => import("@/pages/street/OnboardingPage.vue"), meta: { title: ["社区启用", "Onboarding"], menu: true, icon: "CirclePlus" } },
  { path: "members", component: () => import("@/pages/street/MembersPage.vue"), meta: { title: ["街道账号", "Street accounts"], menu: true, icon: "User" } },
  { path: "audit", component: () => import("@/pages/street/AuditPage.vue"), meta: { title: ["操作日志", "Audit log"], menu: true, icon: "Document" } },
  { path: "inbox", component: () => import("@/pages/common/InboxPage.vue"), meta: { title: ["消息", "Messages"], menu: true, icon: "Bell" } },
];

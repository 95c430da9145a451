import type { RouteRecordRaw } from "vue-router";

// The community workspace (community staff; street admins drilling down). Children of /community/:tenant.
export const communityRoutes: RouteRecordRaw[] = [
  // Overview, places, residents, import, enterprises and organisations (CENSUS-PAGES).
  { path: "", component: () => import("@/pages/community/OverviewPage.vue"), meta: { title: ["概览", "Overview"], menu: true, icon: "House" } },
  { path: "places", component: () => import("@/pages/community/places/PlacesPage.vue"), meta: { title: ["房屋", "Places"], menu: true, icon: "OfficeBuilding" } },
  { path: "residents", component: () => import("@/pages/community/residents/ResidentsPage.vue"), meta: { title: ["居民", "Residents"], menu: true, icon: "User" } },
  { path: "import", component: () => import("@/pages/community/residents/ImportPage.vue"), meta: { title: ["导入", "Import"], menu: true, icon: "Upload" } },
  { path: "enterprises", component: () => import("@/pages/community/enterprises/EnterprisesPage.vue"), meta: { title: ["企业商铺", "Enterprises"], menu: true, icon: "Shop" } },
  { path: "organizations", component: () => import("@/pages/community/enterprises/OrganizationsPage.vue"), meta: { title: ["组织", "Organisations"], menu: true, icon: "Connection" } },
  // Grids, planner, visits, cases and notices (CASES-PAGES).
  { path: "grids", component: () => import("@/pages/community/grids/GridsPage.vue"), meta: { title: ["网格", "Grids"], menu: true, icon: "Grid" } },
  { path: "planner", component: () => import("@/pages/community/grids/PlannerPage.vue"), meta: { title: ["网格规划", "Grid planner"], menu: true, icon: "MagicStick" } },
  { path: "visits", component: () => import("@/pages/community/visits/VisitsPage.vue"), meta: { title: ["走访", "Visits"], menu: true, icon: "Location" } },
  { path: "cases", component: () => import("@/pages/community/cases/CasesBoardPage.vue"), meta: { title: ["事件", "Cases"], menu: true, icon: "Tickets" } },
  { path: "cases/:caseId", component: () => import("@/pages/community/cases/CaseDetailPage.vue"), meta: { title: ["事件详情", "Case"] } },
  { path: "notices", component: () => import("@/pages/community/notices/NoticesPage.vue"), meta: { title: ["通知", "Notices"], menu: true, icon: "Promotion" } },
  { path: "notices/new", component: () => import("@/pages/community/notices/NoticeComposerPage.vue"), meta: { title: ["发布通知", "New notice"] } },
  { path: "notices/:noticeId", component: () => import("@/pages/community/notices/NoticeDetailPage.vue"), meta: { title: ["通知详情", "Notice"] } },
  // Members (CENSUS-PAGES), just before the inbox.
  { path: "members", component: () => import("@/pages/community/MembersPage.vue"), meta: { title: ["成员", "Members"], menu: true, icon: "Avatar" } },
  { path: "inbox", component: () => import("@/pages/common/InboxPage.vue"), meta: { title: ["消息", "Messages"], menu: true, icon: "Bell" } },
];

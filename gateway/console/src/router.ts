// One route table, assembled from each area's own routes. A desktop area (street, community)
// shows its children with `meta.menu` in the side menu; the phone areas (grid worker, resident)
// show theirs as bottom tabs.
import { createRouter, createWebHistory, type Router, type RouteRecordRaw } from "vue-router";

import DesktopShell from "@/layouts/DesktopShell.vue";
import PhoneShell from "@/layouts/PhoneShell.vue";
import NoAccess from "@/pages/common/NoAccess.vue";
import NotFound from "@/pages/common/NotFound.vue";
import { communityRoutes } from "@/pages/community/routes";
import { gridWorkerRoutes } from "@/pages/grid/routes";
import { residentRoutes } from "@/pages/resident/routes";
import { streetRoutes } from "@/pages/street/routes";
import { homePath } from "@/session";

declare module "vue-router" {
  interface RouteMeta {
    /** [Chinese, English] title: menu entry, tab and browser title. */
    title?: [string, string];
    /** Shown in the area's menu (desktop side menu, phone bottom tabs), in this order. */
    menu?: boolean;
    /** An Element Plus icon component name (`@element-plus/icons-vue`). */
    icon?: string;
  }
}

const routes: RouteRecordRaw[] = [
  { path: "/", redirect: () => homePath() },
  { path: "/street/:street", component: DesktopShell, props: { area: "street" }, children: streetRoutes },
  { path: "/community/:tenant", component: DesktopShell, props: { area: "community" }, children: communityRoutes },
  { path: "/m/grid/:tenant", component: PhoneShell, props: { area: "grid" }, children: gridWorkerRoutes },
  { path: "/m/resident/:tenant", component: PhoneShell, props: { area: "resident" }, children: residentRoutes },
  { path: "/no-access", component: NoAccess, meta: { title: ["没有可用的角色", "No role"] } },
  { path: "/:rest(.*)*", component: NotFound, meta: { title: ["页面不存在", "Page not found"] } },
];

/** Made after the login callback has been handled: the history reads the address when created. */
export function createConsoleRouter(): Router {
  return createRouter({ history: createWebHistory("/console/"), routes });
}

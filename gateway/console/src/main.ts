// Start-up: read the deployment's configuration, finish or start the Keycloak login, learn who
// the user is, then show the console. A failure at any step is shown in words, not a blank page.
import "element-plus/dist/index.css";
import "@/styles.css";

import ElementPlus from "element-plus";
import { createApp } from "vue";

import App from "@/App.vue";
import { messageOf } from "@/api";
import { completeLoginIfCallback, currentUser, initAuth, login } from "@/auth";
import { loadConfig } from "@/config";
import { setLocale, locale, tr } from "@/i18n";
import { createConsoleRouter } from "@/router";
import { loadSession } from "@/session";

function showFatal(text: string): void {
  const root = document.getElementById("app");
  if (!root) return;
  root.innerHTML = "";
  const box = document.createElement("div");
  box.className = "fatal";
  const heading = document.createElement("h2");
  heading.textContent = tr("控制台无法启动", "The console could not start");
  const detail = document.createElement("p");
  detail.textContent = text;
  const retry = document.createElement("button");
  retry.textContent = tr("重新加载", "Reload");
  retry.onclick = () => window.location.reload();
  box.append(heading, detail, retry);
  root.append(box);
}

async function start(): Promise<void> {
  setLocale(locale.value);
  initAuth(await loadConfig());
  const returnTo = await completeLoginIfCallback();
  if (returnTo !== null) window.history.replaceState(null, "", returnTo);
  if (!(await currentUser())) {
    await login();
    return;
  }
  await loadSession();
  createApp(App).use(ElementPlus).use(createConsoleRouter()).mount("#app");
}

start().catch((error: unknown) => {
  showFatal(error instanceof Error && !("problem" in error) ? error.message : messageOf(error));
});

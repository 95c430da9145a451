// Login through Keycloak: authorization code + PKCE (S256) with the public `shequ-console` client.
// The refresh token renews the access token in the background before it expires; when renewal
// fails (session ended at Keycloak) the next API call sends the user back to the login page.
import { UserManager, WebStorageStateStore, type User } from "oidc-client-ts";

import type { ConsoleConfig } from "@/config";

const CALLBACK_PATH = "/console/callback";
let manager: UserManager | null = null;

function users(): UserManager {
  if (manager === null) throw new Error("auth not initialised");
  return manager;
}

export function initAuth(config: ConsoleConfig): void {
  manager = new UserManager({
    authority: config.issuer,
    client_id: config.client_id,
    redirect_uri: `${window.location.origin}${CALLBACK_PATH}`,
    post_logout_redirect_uri: `${window.location.origin}/console/`,
    response_type: "code",
    scope: "openid profile",
    automaticSilentRenew: true,
    // Session storage: a token never outlives the tab, and never sits in localStorage.
    userStore: new WebStorageStateStore({ store: window.sessionStorage }),
  });
  manager.events.addSilentRenewError(() => {
    // Leave the user in place; the next call that needs a token starts a fresh login.
    void users().removeUser();
  });
}

/** Finishes a login redirect when the page is the callback; answers where to go next. */
export async function completeLoginIfCallback(): Promise<string | null> {
  if (window.location.pathname !== CALLBACK_PATH) return null;
  const user = await users().signinRedirectCallback();
  const state = user.state as { returnTo?: string } | undefined;
  return state?.returnTo && state.returnTo.startsWith("/console/") ? state.returnTo : "/console/";
}

export async function currentUser(): Promise<User | null> {
  const user = await users().getUser();
  return user && !user.expired ? user : null;
}

export async function login(returnTo: string = window.location.pathname + window.location.search): Promise<never> {
  await users().signinRedirect({ state: { returnTo } });
  // signinRedirect navigates away; nothing runs after it.
  return new Promise<never>(() => undefined);
}

/** A valid access token, renewed with the refresh token when it is about to expire. */
export async function accessToken(): Promise<string> {
  let user = await users().getUser();
  if (user && (user.expired || (user.expires_in ?? 0) < 15)) {
    try {
      user = await users().signinSilent();
    } catch {
      user = null;
    }
  }
  if (!user || user.expired) return login();
  return user.access_token;
}

export async function logout(): Promise<void> {
  await users().signoutRedirect();
}

// What the gateway tells the console at /console/config.json: where Keycloak is (the
// browser-facing issuer) and which public client to log in with. Nothing is baked into the build,
// so one build serves every deployment.
export interface ConsoleConfig {
  issuer: string;
  client_id: string;
  api_base: string;
  environment: string;
}

export async function loadConfig(): Promise<ConsoleConfig> {
  const response = await fetch("/console/config.json", { headers: { Accept: "application/json" } });
  if (!response.ok) {
    throw new Error(`控制台配置不可用（${response.status}）Console configuration unavailable`);
  }
  return (await response.json()) as ConsoleConfig;
}

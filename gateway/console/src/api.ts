// The gateway's REST API as the pages call it. Every failure becomes an ApiError carrying the
// words of the problem+json the gateway answered (Chinese `detail`, English `detail_en`, the
// fields named in `errors`), so a page can show them as they are: never a stack trace.
import { accessToken, login } from "@/auth";
import { currentLocale } from "@/i18n";

export interface FieldProblem {
  field: string;
  detail: string;
}

export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail?: string;
  detail_en?: string;
  code?: string;
  request_id?: string;
  errors?: FieldProblem[];
  params?: Record<string, unknown>;
}

export class ApiError extends Error {
  readonly problem: Problem;
  readonly retryAfterS: number | null;

  constructor(problem: Problem, retryAfterS: number | null = null) {
    super(problem.detail ?? problem.title ?? `HTTP ${problem.status}`);
    this.problem = problem;
    this.retryAfterS = retryAfterS;
  }

  get status(): number {
    return this.problem.status;
  }

  get code(): string | undefined {
    return this.problem.code;
  }
}

const GENERIC: Record<number, [string, string]> = {
  0: ["无法连接服务器，请检查网络后重试", "Cannot reach the server; check the network and try again"],
  401: ["登录已过期，请重新登录", "Your login has expired; please log in again"],
  403: ["您没有权限进行此操作", "You are not allowed to do this"],
  404: ["没有找到相关记录，可能已被删除", "Not found; it may have been removed"],
  409: ["数据已被他人修改或状态不允许，请刷新后重试", "Changed meanwhile or not allowed now; refresh and retry"],
  413: ["文件或内容太大", "The file or content is too large"],
  422: ["填写的内容有误，请检查标出的字段", "Some fields need correcting"],
  429: ["操作太频繁，请稍后再试", "Too many requests; wait a moment"],
  503: ["服务暂时不可用，请稍后重试", "The service is briefly unavailable; try again shortly"],
  504: ["服务响应超时，请稍后重试", "The service took too long; try again shortly"],
};

/** The sentence a community worker reads for any failure, in the console's language. */
export function messageOf(error: unknown): string {
  const english = currentLocale() === "en";
  if (error instanceof ApiError) {
    const p = error.problem;
    const own = english ? (p.detail_en ?? p.detail) : p.detail;
    const generic = GENERIC[p.status] ?? (p.status >= 500 ? GENERIC[503] : undefined);
    let text = own ?? (generic ? generic[english ? 1 : 0] : (p.title ?? `HTTP ${p.status}`));
    if (error.retryAfterS) text += english ? ` (retry in ${error.retryAfterS} s)` : `（约 ${error.retryAfterS} 秒后重试）`;
    return text;
  }
  return GENERIC[0][english ? 1 : 0];
}

/** Field name (last part of `body.x` / `query.x`) → its problem, for form validation display. */
export function fieldProblems(error: unknown): Record<string, string> {
  if (!(error instanceof ApiError)) return {};
  const out: Record<string, string> = {};
  for (const e of error.problem.errors ?? []) {
    out[e.field.split(".").slice(-1)[0]] = e.detail;
  }
  return out;
}

type Query = Record<string, string | number | boolean | string[] | undefined | null>;

interface RequestOptions {
  query?: Query;
  body?: unknown;
  form?: FormData;
  headers?: Record<string, string>;
}

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    if (Array.isArray(value)) value.forEach((v) => params.append(key, v));
    else params.append(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
  const headers: Record<string, string> = {
    Accept: "application/json, application/problem+json",
    Authorization: `Bearer ${await accessToken()}`,
    ...options.headers,
  };
  let body: BodyInit | undefined;
  if (options.form) body = options.form;
  else if (options.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(options.body);
  }
  let response: Response;
  try {
    response = await fetch(withQuery(path, options.query), { method, headers, body });
  } catch {
    throw new ApiError({ status: 0 });
  }
  if (response.status === 401) {
    // The token was refused although it looked valid: the session ended. Log in again.
    await login();
  }
  if (!response.ok) {
    let problem: Problem = { status: response.status };
    try {
      const parsed = (await response.json()) as Partial<Problem>;
      problem = { ...parsed, status: response.status };
    } catch {
      // Not problem+json (a proxy's page): the generic sentence for the status stands.
    }
    const retry = Number(response.headers.get("Retry-After"));
    throw new ApiError(problem, Number.isFinite(retry) && retry > 0 ? retry : null);
  }
  return response;
}

async function json<T>(method: string, path: string, options?: RequestOptions): Promise<T> {
  const response = await send(method, path, options);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export const api = {
  get: <T>(path: string, query?: Query) => json<T>("GET", path, { query }),
  post: <T>(path: string, body?: unknown, headers?: Record<string, string>) =>
    json<T>("POST", path, { body: body ?? {}, headers }),
  put: <T>(path: string, body: unknown) => json<T>("PUT", path, { body }),
  patch: <T>(path: string, body: unknown) => json<T>("PATCH", path, { body }),
  delete: <T>(path: string, body?: unknown) => json<T>("DELETE", path, { body }),
  upload: <T>(path: string, form: FormData) => json<T>("POST", path, { form }),
};

/** The tenant-scoped path of a resource: `/api/v1/tenants/{tenant}/{rest}`. */
export function tenantPath(tenant: string, rest: string): string {
  return `/api/v1/tenants/${encodeURIComponent(tenant)}/${rest}`;
}

/** Downloads a file the API answers (template, export) under the name the server gives it. */
export async function download(method: "GET" | "POST", path: string, options: RequestOptions = {}): Promise<string> {
  const response = await send(method, path, options);
  const disposition = response.headers.get("Content-Disposition") ?? "";
  const star = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  const plain = /filename="([^"]+)"/i.exec(disposition);
  const name = star ? decodeURIComponent(star[1]) : (plain?.[1] ?? "download");
  const url = URL.createObjectURL(await response.blob());
  const anchor = document.createElement("a");
  anchor.href = url;
  anchor.download = name;
  document.body.appendChild(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return name;
}

/** The gateway's response and request bodies, generated from its OpenAPI document (`make console`). */
export type Schemas = import("@/schema").components["schemas"];

import { describe, expect, it } from "vitest";

import { ApiError, fieldProblems, messageOf, withQuery } from "@/api";
import { setLocale } from "@/i18n";

describe("problem+json in words", () => {
  it("shows the gateway's own Chinese sentence, and its English one after switching", () => {
    const error = new ApiError({ status: 409, code: "tenant.not_active", detail: "郡乐社区尚未启用，请先完成社区启用", detail_en: "tenant is preparing; onboard it first" });
    expect(messageOf(error)).toBe("郡乐社区尚未启用，请先完成社区启用");
    globalThis.localStorage = { setItem: () => undefined, getItem: () => null } as unknown as Storage;
    globalThis.document = { documentElement: {} } as unknown as Document;
    setLocale("en");
    expect(messageOf(error)).toBe("tenant is preparing; onboard it first");
    setLocale("zh-CN");
  });

  it("falls back to a plain sentence for a status without a body, with the retry delay", () => {
    expect(messageOf(new ApiError({ status: 503 }, 5))).toBe("服务暂时不可用，请稍后重试（约 5 秒后重试）");
    expect(messageOf(new TypeError("Failed to fetch"))).toBe("无法连接服务器，请检查网络后重试");
  });

  it("names each field a 422 complained about", () => {
    const error = new ApiError({ status: 422, errors: [{ field: "body.title", detail: "不能为空" }] });
    expect(fieldProblems(error)).toEqual({ title: "不能为空" });
  });
});

describe("query strings", () => {
  it("repeats list parameters and drops empty ones", () => {
    expect(withQuery("/x", { state: ["closed", "rated"], q: "", page_size: 50 })).toBe("/x?state=closed&state=rated&page_size=50");
  });
});

// Every time is shown in Beijing time, whatever the browser's own zone is.
import { locale } from "@/i18n";

const ZONE = "Asia/Shanghai";

function formatter(options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  return new Intl.DateTimeFormat(locale.value === "en" ? "en-GB" : "zh-CN", { timeZone: ZONE, hour12: false, ...options });
}

export function dateTime(value: string | null | undefined): string {
  if (!value) return "—";
  return formatter({ year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }).format(new Date(value));
}

export function date(value: string | null | undefined): string {
  if (!value) return "—";
  // A bare date (2026-11-23) is a Beijing calendar day already.
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return value;
  return formatter({ year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(value));
}

/** Today's date in Beijing, `YYYY-MM-DD`. */
export function todayInBeijing(now: Date = new Date()): string {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: ZONE, year: "numeric", month: "2-digit", day: "2-digit" }).format(now);
  return parts;
}

/** A rate in [0, 1] as a percentage, `—` when the API says there is no denominator (null). */
export function percent(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined) return "—";
  return `${(value * 100).toFixed(digits)}%`;
}

export function count(value: number | null | undefined): string {
  if (value === null || value === undefined) return "—";
  return value.toLocaleString(locale.value === "en" ? "en-GB" : "zh-CN");
}

/** Time left until a deadline, as a short countdown; negative means overdue. */
export function countdown(deadline: string | null | undefined, now: Date = new Date()): { text: string; overdue: boolean; hoursLeft: number } | null {
  if (!deadline) return null;
  const ms = new Date(deadline).getTime() - now.getTime();
  const overdue = ms < 0;
  const minutes = Math.floor(Math.abs(ms) / 60000);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const mins = minutes % 60;
  const en = locale.value === "en";
  const span = days > 0 ? (en ? `${days}d ${hours}h` : `${days}天${hours}小时`) : hours > 0 ? (en ? `${hours}h ${mins}m` : `${hours}小时${mins}分`) : en ? `${mins}m` : `${mins}分钟`;
  return { text: overdue ? (en ? `overdue ${span}` : `已超期${span}`) : en ? `${span} left` : `剩余${span}`, overdue, hoursLeft: ms / 3_600_000 };
}

// The street cockpit's arithmetic, kept apart from the pages so it can be tested: statistics
// periods in Beijing time, one row of figures per community from the census and case
// statistics, and the chart series built from the API's answers.
import type { Schemas } from "@/api";
import { todayInBeijing } from "@/format";
import type { TenantNode } from "@/session";

export type CensusPart = Schemas["StatisticsOut"];
export type Indicators = Schemas["IndicatorsOut"];
export type NoticeRow = Schemas["StatisticsRowOut"];

export type PeriodChoice = "month" | "quarter" | "year";

/** A half-open statistics period as the API takes it: Beijing wall-clock times without offset. */
export interface Period {
  start: string;
  end: string;
}

function monthStart(year: number, month: number): string {
  // `month` may run past 12 or below 1: normalise it into the right year.
  const index = year * 12 + (month - 1);
  const y = Math.floor(index / 12);
  const m = (index % 12) + 1;
  return `${String(y).padStart(4, "0")}-${String(m).padStart(2, "0")}-01T00:00:00`;
}

/** The chosen period, ending with the current Beijing month: this month, the last 3 months, this year. */
export function periodOf(choice: PeriodChoice, now: Date = new Date()): Period {
  const [year, month] = todayInBeijing(now).split("-").map(Number);
  const end = monthStart(year, month + 1);
  if (choice === "month") return { start: monthStart(year, month), end };
  if (choice === "quarter") return { start: monthStart(year, month - 2), end };
  return { start: monthStart(year, 1), end };
}

/** The months a period covers, `2026-09 – 2026-11` (one month alone: `2026-11`). */
export function periodMonths(period: Period): string {
  const first = period.start.slice(0, 7);
  const [y, m] = period.end.slice(0, 7).split("-").map(Number);
  const last = monthStart(y, m - 1).slice(0, 7);
  return first === last ? first : `${first} – ${last}`;
}

/** The last twelve Beijing months, this one included (the trend charts and the open-case window). */
export function lastTwelveMonths(now: Date = new Date()): Period {
  const [year, month] = todayInBeijing(now).split("-").map(Number);
  return { start: monthStart(year, month - 11), end: monthStart(year, month + 1) };
}

/** The figures of one community (or of the street) the cockpit shows. */
export interface CommunityFigures {
  id: string;
  nameZh: string;
  nameEn: string;
  preparing: boolean;
  households: number | null;
  residents: number | null;
  migrantShare: number | null;
  elderly: number | null;
  children: number | null;
  openCases: number | null;
  overdueCases: number | null;
  onTimeClosureRate: number | null;
  satisfactionRate: number | null;
  reported: number | null;
}

/** Migrants among current residents, in [0, 1]; null with nobody living there. */
export function migrantShare(part: CensusPart | undefined): number | null {
  if (!part || part.residents === 0) return null;
  return (part.by_residence_type.migrant ?? 0) / part.residents;
}

function censusFigures(part: CensusPart | undefined) {
  return {
    households: part ? part.households : null,
    residents: part ? part.residents : null,
    migrantShare: migrantShare(part),
    // The census derives these tags from the birth date on the day asked: 60 and over, under 18.
    elderly: part ? (part.by_care_tag.elderly ?? 0) : null,
    children: part ? (part.by_care_tag.child ?? 0) : null,
  };
}

/**
 * One row per community of the street, preparing ones included (without figures). `period`
 * gives the rates of the chosen period, `standing` the open and overdue cases now (among the
 * cases reported or due in the last twelve months: the API counts open cases per period).
 * A community the statistics do not mention has had no case: zero, not unknown.
 */
export function communityRows(
  communities: TenantNode[],
  census: CensusPart[],
  period: Indicators[],
  standing: Indicators[],
): CommunityFigures[] {
  const censusBy = new Map(census.map((p) => [p.scope_id, p]));
  const periodBy = new Map(period.map((g) => [g.key ?? "", g]));
  const standingBy = new Map(standing.map((g) => [g.key ?? "", g]));
  return communities.map((c) => {
    const preparing = c.status !== "active";
    const base = { id: c.id, nameZh: c.name_zh, nameEn: c.name_en, preparing };
    if (preparing) {
      return {
        ...base,
        households: null,
        residents: null,
        migrantShare: null,
        elderly: null,
        children: null,
        openCases: null,
        overdueCases: null,
        onTimeClosureRate: null,
        satisfactionRate: null,
        reported: null,
      };
    }
    const rates = periodBy.get(c.id);
    const now = standingBy.get(c.id);
    return {
      ...base,
      ...censusFigures(censusBy.get(c.id)),
      openCases: now?.open ?? 0,
      overdueCases: now?.overdue ?? 0,
      onTimeClosureRate: rates?.on_time_closure_rate ?? null,
      satisfactionRate: rates?.satisfaction_rate ?? null,
      reported: rates?.reported ?? 0,
    };
  });
}

/** A whole street's (or one community's) figures: the census total and the case statistics' totals. */
export function totalFigures(
  street: TenantNode,
  censusTotal: CensusPart | undefined,
  periodTotal: Indicators | undefined,
  standingTotal: Indicators | undefined,
): CommunityFigures {
  return {
    id: street.id,
    nameZh: street.name_zh,
    nameEn: street.name_en,
    preparing: false,
    ...censusFigures(censusTotal),
    openCases: standingTotal?.open ?? 0,
    overdueCases: standingTotal?.overdue ?? 0,
    onTimeClosureRate: periodTotal?.on_time_closure_rate ?? null,
    satisfactionRate: periodTotal?.satisfaction_rate ?? null,
    reported: periodTotal?.reported ?? 0,
  };
}

export interface DailyChannelSeries {
  days: string[];
  /** Channel word → sent per day (aligned with `days`). */
  sent: Record<string, number[]>;
  labels: Record<string, string>;
}

/** Every day from `from` to `to` inclusive (`YYYY-MM-DD`), so quiet days show as zero. */
export function daysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  const cursor = new Date(`${from}T00:00:00Z`);
  const last = new Date(`${to}T00:00:00Z`);
  while (cursor <= last && out.length < 400) {
    out.push(cursor.toISOString().slice(0, 10));
    cursor.setUTCDate(cursor.getUTCDate() + 1);
  }
  return out;
}

/** Notices sent per day and channel, summed over the street's communities. */
export function noticesPerDay(rows: NoticeRow[], from: string, to: string): DailyChannelSeries {
  const days = daysBetween(from, to);
  const index = new Map(days.map((d, i) => [d, i]));
  const sent: Record<string, number[]> = {};
  const labels: Record<string, string> = {};
  for (const row of rows) {
    const channel = row.channel ?? "none";
    const i = index.get(row.day);
    if (i === undefined) continue;
    sent[channel] ??= days.map(() => 0);
    sent[channel][i] += row.sent;
    if (row.channel_label) labels[channel] = row.channel_label;
  }
  return { days, sent, labels };
}

/** The `days` Beijing days ending today, as the notice statistics take them. */
export function lastDays(days: number, now: Date = new Date()): { from: string; to: string } {
  const to = todayInBeijing(now);
  const start = new Date(`${to}T00:00:00Z`);
  start.setUTCDate(start.getUTCDate() - (days - 1));
  return { from: start.toISOString().slice(0, 10), to };
}

const PASSWORD_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";

/**
 * A temporary password for a new account (the user must change it at first login): 14
 * characters without look-alikes (0/O, 1/l/I), from the browser's cryptographic generator.
 */
export function temporaryPassword(length = 14, random: (bytes: Uint8Array) => Uint8Array = (b) => crypto.getRandomValues(b)): string {
  const out: string[] = [];
  // Rejection sampling keeps every character equally likely.
  const limit = 256 - (256 % PASSWORD_ALPHABET.length);
  while (out.length < length) {
    for (const byte of random(new Uint8Array(length * 2))) {
      if (byte < limit && out.length < length) out.push(PASSWORD_ALPHABET[byte % PASSWORD_ALPHABET.length]);
    }
  }
  return out.join("");
}

/** The tenant id of a new community under the street, from the short name typed in. */
export function communityId(street: string, slug: string): string {
  return `${street}.${slug.trim().toLowerCase()}`;
}

export const SLUG_PATTERN = /^[a-z][a-z0-9-]{0,39}$/;
export const USERNAME_PATTERN = /^[a-z0-9][a-z0-9._-]{2,39}$/;
export const EMAIL_PATTERN = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
export const DIVISION_CODE_PATTERN = /^\d{12}$/;

// The options of the street pages' charts, built from the API's answers.
import { PALETTE, type ChartOption } from "@/charts";
import { tr } from "@/i18n";
import type { DailyChannelSeries, Indicators } from "@/pages/street/figures";

export { VChart } from "@/charts";

const rateAxis = {
  type: "value" as const,
  min: 0,
  max: 100,
  axisLabel: { formatter: "{value}%" },
  splitLine: { show: false },
};

function ratePoint(rate: number | null): number | null {
  return rate === null ? null : Math.round(rate * 1000) / 10;
}

/** Cases per month: reported and closed as bars, the on-time closure rate as a line. */
export function casesByMonthOption(groups: Indicators[]): ChartOption {
  return {
    color: PALETTE,
    tooltip: { trigger: "axis" },
    legend: { top: 0 },
    grid: { left: 40, right: 48, top: 36, bottom: 28 },
    xAxis: { type: "category", data: groups.map((g) => g.key ?? "") },
    yAxis: [{ type: "value", minInterval: 1 }, rateAxis],
    series: [
      { name: tr("上报", "Reported"), type: "bar", data: groups.map((g) => g.reported) },
      { name: tr("结案", "Closed"), type: "bar", data: groups.map((g) => g.closed) },
      {
        name: tr("按期结案率", "On-time closure"),
        type: "line",
        yAxisIndex: 1,
        connectNulls: false,
        data: groups.map((g) => ratePoint(g.on_time_closure_rate)),
        tooltip: { valueFormatter: (v) => (v === null || v === undefined ? "—" : `${String(v)}%`) },
      },
    ],
  };
}

/** Reported and closed cases per category (or any labelled group) as horizontal bars. */
export function casesByGroupOption(groups: Indicators[]): ChartOption {
  const sorted = [...groups].sort((a, b) => a.reported - b.reported);
  return {
    color: PALETTE,
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    legend: { top: 0 },
    grid: { left: 8, right: 24, top: 36, bottom: 8, containLabel: true },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", data: sorted.map((g) => g.label ?? g.key ?? "") },
    series: [
      { name: tr("上报", "Reported"), type: "bar", data: sorted.map((g) => g.reported) },
      { name: tr("结案", "Closed"), type: "bar", data: sorted.map((g) => g.closed) },
    ],
  };
}

const CHANNELS: Record<string, [string, string]> = {
  inbox: ["站内信", "In-app"],
  email: ["电子邮件", "E-mail"],
  wecom: ["企业微信群", "WeCom group"],
  sms: ["短信", "SMS"],
  none: ["无渠道", "No channel"],
};

/** Notices sent per day, one stacked bar per channel. */
export function noticesPerDayOption(series: DailyChannelSeries): ChartOption {
  return {
    color: PALETTE.slice(1),
    tooltip: { trigger: "axis" },
    legend: { top: 0 },
    grid: { left: 40, right: 16, top: 36, bottom: 28 },
    xAxis: { type: "category", data: series.days.map((d) => d.slice(5)) },
    yAxis: { type: "value", minInterval: 1 },
    series: Object.entries(series.sent).map(([channel, data]) => ({
      name: CHANNELS[channel] ? tr(...CHANNELS[channel]) : (series.labels[channel] ?? channel),
      type: "bar" as const,
      stack: "sent",
      data,
    })),
  };
}

export interface CommunityBar {
  name: string;
  residents: number;
  openCases: number;
}

/** The communities side by side: residents (left axis) and open cases (right axis). */
export function communitiesOption(rows: CommunityBar[]): ChartOption {
  return {
    color: PALETTE.slice(1),
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    legend: { top: 0 },
    grid: { left: 48, right: 40, top: 36, bottom: 28 },
    xAxis: { type: "category", data: rows.map((r) => r.name), axisLabel: { interval: 0 } },
    yAxis: [
      { type: "value", name: tr("人", "people") },
      { type: "value", name: tr("件", "cases"), minInterval: 1, splitLine: { show: false } },
    ],
    series: [
      { name: tr("常住人口", "Residents"), type: "bar", data: rows.map((r) => r.residents) },
      { name: tr("未办结事件", "Open cases"), type: "bar", yAxisIndex: 1, data: rows.map((r) => r.openCases) },
    ],
  };
}

/** A share of a whole (residence types). */
export function pieOption(slices: { name: string; value: number }[]): ChartOption {
  return {
    color: PALETTE,
    tooltip: { trigger: "item", formatter: "{b}: {c} ({d}%)" },
    legend: { bottom: 0 },
    // Shares inside the ring, names in the legend: outside labels get cut off in a narrow card.
    series: [{ type: "pie", radius: ["30%", "70%"], center: ["50%", "45%"], data: slices, label: { position: "inside", formatter: "{d}%", color: "#fff" } }],
  };
}

/** Counts per named bucket (age bands, care tags, grids). */
export function barsOption(bars: { name: string; value: number }[], seriesName: string, horizontal = false): ChartOption {
  // Many long names under vertical bars would overlap: slant them.
  const category = { type: "category" as const, data: bars.map((b) => b.name), axisLabel: { interval: 0, rotate: !horizontal && bars.length > 5 ? 30 : 0 } };
  const value = { type: "value" as const, minInterval: 1 };
  return {
    color: PALETTE.slice(1),
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
    grid: { left: 8, right: 24, top: 16, bottom: 8, containLabel: true },
    xAxis: horizontal ? value : category,
    yAxis: horizontal ? category : value,
    series: [{ name: seriesName, type: "bar", data: bars.map((b) => b.value), label: { show: true, position: horizontal ? "right" : "top" } }],
  };
}

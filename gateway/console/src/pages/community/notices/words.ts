// The notify API's words with the console's two languages (the API gives Chinese labels beside
// most of them; the composer needs them before any notice exists).
export const CHANNELS: [string, string, string][] = [
  ["inbox", "站内信", "In-app inbox"],
  ["sms", "短信", "SMS"],
  ["wecom", "企业微信群", "WeCom group"],
  ["email", "电子邮件", "E-mail"],
];
export const KINDS: [string, string, string][] = [
  ["anti_fraud", "反诈预警", "Anti-fraud alert"],
  ["event", "活动通知", "Event"],
  ["meeting", "会议通知", "Meeting"],
  ["general", "一般通知", "General"],
  ["case_update", "事件进展", "Case update"],
];
export const NOTICE_STATES: [string, string, string][] = [
  ["scheduled", "待发送", "Scheduled"],
  ["sending", "发送中", "Sending"],
  ["sent", "已发送", "Sent"],
  ["cancelled", "已取消", "Cancelled"],
];
export const DELIVERY_STATES: [string, string, string][] = [
  ["queued", "排队中", "Queued"],
  ["sent", "已发出", "Sent"],
  ["delivered", "已送达", "Delivered"],
  ["failed", "发送失败", "Failed"],
  ["unreachable", "无法送达", "Unreachable"],
];
export const VARIABLES: Record<string, [string, string]> = {
  title: ["标题", "Title"],
  content: ["内容", "Content"],
  time: ["时间", "Time"],
  place: ["地点", "Place"],
};
export const ROLES: [string, string, string][] = [
  ["community-staff", "社区工作人员", "Community staff"],
  ["grid-worker", "网格员", "Grid workers"],
  ["resident", "居民账号", "Resident accounts"],
];

/** The word's label in the console's language, or the word itself. */
export function wordLabel(table: [string, string, string][], word: string | null | undefined, tr: (zh: string, en: string) => string): string {
  if (!word) return "—";
  if (word === "none") return tr("无可用渠道", "No channel");
  const found = table.find((w) => w[0] === word);
  return found ? tr(found[1], found[2]) : word;
}

// Two languages, Simplified Chinese first. Text is written where it is shown as a pair,
// `tr("户数", "Households")`, so a page reads in both languages at once and nothing can fall
// out of a separate message file. The choice is kept per browser.
import { ref } from "vue";

export type Locale = "zh-CN" | "en";

const STORAGE_KEY = "shequ.locale";

function initial(): Locale {
  const stored = typeof localStorage === "undefined" ? null : localStorage.getItem(STORAGE_KEY);
  return stored === "en" ? "en" : "zh-CN";
}

export const locale = ref<Locale>(initial());

export function currentLocale(): Locale {
  return locale.value;
}

export function setLocale(value: Locale): void {
  locale.value = value;
  localStorage.setItem(STORAGE_KEY, value);
  document.documentElement.lang = value;
}

/** The text in the console's language (reactive inside templates and computed values). */
export function tr(zh: string, en: string): string {
  return locale.value === "en" ? en : zh;
}

/** A label the API gives in both languages (`name_zh`/`name_en`, `state_label`/word). */
export function named(zh: string | null | undefined, en: string | null | undefined): string {
  return (locale.value === "en" ? en || zh : zh || en) ?? "";
}

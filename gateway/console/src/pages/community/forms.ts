// A form's write: run it like `attempt` (failure shown as a message), and keep the API's 422
// per field so each input can show its own problem.
import type { Ref } from "vue";

import { fieldProblems } from "@/api";
import { attempt } from "@/load";

export async function submitForm<T>(action: () => Promise<T>, success: string, problems: Ref<Record<string, string>>): Promise<T | null> {
  let failure: unknown = null;
  const value = await attempt(async () => {
    try {
      return await action();
    } catch (e) {
      failure = e;
      throw e;
    }
  }, success);
  problems.value = value === null ? fieldProblems(failure) : {};
  return value;
}

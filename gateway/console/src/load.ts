// Loading state for a page or a panel: the data, whether it is loading, the error in words.
import { ElMessage } from "element-plus";
import { ref, shallowRef, type Ref, type ShallowRef } from "vue";

import { messageOf } from "@/api";

export interface Loaded<T> {
  data: ShallowRef<T | null>;
  loading: Ref<boolean>;
  error: Ref<string | null>;
  reload: () => Promise<void>;
}

export function useLoad<T>(fetcher: () => Promise<T>, options: { immediate?: boolean } = {}): Loaded<T> {
  const data = shallowRef<T | null>(null);
  const loading = ref(false);
  const error = ref<string | null>(null);
  let generation = 0;
  const reload = async () => {
    const mine = ++generation;
    loading.value = true;
    error.value = null;
    try {
      const value = await fetcher();
      if (mine === generation) data.value = value;
    } catch (e) {
      if (mine === generation) error.value = messageOf(e);
    } finally {
      if (mine === generation) loading.value = false;
    }
  };
  if (options.immediate !== false) void reload();
  return { data, loading, error, reload };
}

/** Runs an action (save, send, apply); shows its failure as a message and answers null. */
export async function attempt<T>(action: () => Promise<T>, success?: string): Promise<T | null> {
  try {
    const value = await action();
    if (success) ElMessage.success(success);
    return value;
  } catch (e) {
    ElMessage.error({ message: messageOf(e), duration: 6000, showClose: true });
    return null;
  }
}

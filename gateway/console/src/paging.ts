// A paged list with "加载更多 Load more": the items so far, the next page's token, loading and
// the error in words. `reload` starts again from the first page (filters changed).
import { computed, ref, shallowRef, type ComputedRef, type Ref, type ShallowRef } from "vue";

import { messageOf } from "@/api";

export interface PageOf<T> {
  items: T[];
  next_page_token: string;
}

export interface Paged<T> {
  items: ShallowRef<T[]>;
  nextToken: Ref<string>;
  hasMore: ComputedRef<boolean>;
  loading: Ref<boolean>;
  error: Ref<string | null>;
  reload: () => Promise<void>;
  more: () => Promise<void>;
}

export function usePaged<T>(fetchPage: (pageToken: string) => Promise<PageOf<T>>, options: { immediate?: boolean } = {}): Paged<T> {
  const items = shallowRef<T[]>([]);
  const nextToken = ref("");
  const loading = ref(false);
  const error = ref<string | null>(null);
  let generation = 0;
  const load = async (more: boolean) => {
    const mine = ++generation;
    loading.value = true;
    error.value = null;
    try {
      const page = await fetchPage(more ? nextToken.value : "");
      if (mine !== generation) return;
      items.value = more ? [...items.value, ...page.items] : page.items;
      nextToken.value = page.next_page_token;
    } catch (e) {
      if (mine === generation) error.value = messageOf(e);
    } finally {
      if (mine === generation) loading.value = false;
    }
  };
  if (options.immediate !== false) void load(false);
  const hasMore = computed(() => Boolean(nextToken.value));
  return { items, nextToken, hasMore, loading, error, reload: () => load(false), more: () => load(true) };
}

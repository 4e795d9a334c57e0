import { type DependencyList, useCallback, useEffect, useRef, useState } from 'react';

export type AsyncState<T> =
  | { status: 'loading'; data?: T; error?: undefined }
  | { status: 'ready'; data: T; error?: undefined }
  | { status: 'error'; data?: T; error: unknown };

/**
 * Runs an async loader when its dependencies change; stale answers from an earlier run are dropped.
 * `reload` runs it again keeping the current data on screen; `setData` applies local changes.
 */
export function useAsync<T>(
  load: () => Promise<T>,
  deps: DependencyList,
): AsyncState<T> & { reload: () => void; setData: (update: (data: T) => T) => void } {
  const [state, setState] = useState<AsyncState<T>>({ status: 'loading' });
  const run = useRef(0);
  const reload = useCallback(() => {
    const id = ++run.current;
    setState((s) => ({ status: 'loading', data: s.data }));
    load().then(
      (data) => {
        if (id === run.current) setState({ status: 'ready', data });
      },
      (error: unknown) => {
        if (id === run.current) setState((s) => ({ status: 'error', error, data: s.data }));
      },
    );
    // biome-ignore lint/correctness/useExhaustiveDependencies: the caller lists the loader's dependencies
  }, deps);
  useEffect(() => {
    reload();
    return () => {
      run.current++;
    };
  }, [reload]);
  const setData = useCallback((update: (data: T) => T) => {
    setState((s) => (s.data === undefined ? s : { ...s, data: update(s.data) }));
  }, []);
  return { ...state, reload, setData };
}

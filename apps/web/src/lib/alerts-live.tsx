import type { Alert, VehicleView } from '@tacho/protocol';
import {
  createContext,
  type ReactNode,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
} from 'react';
import { api } from './api.js';
import { Link } from './router.js';

/** The badge's count asks at most this many; beyond it the badge says "500+". */
const COUNT_LIMIT = 500;
/** A safety net besides the live socket (down, or a vehicle added since): count and vehicles asked again. */
const REFRESH_MS = 60_000;
const TOAST_MS = 12_000;
const MAX_TOASTS = 3;

interface AlertsContext {
  /** Open (unacknowledged) alerts; null until the first answer. */
  openCount: number | null;
  /** More than `openCount` are open. */
  more: boolean;
  /** Ask the count again (after an acknowledge). */
  refreshCount(): void;
  /** Hears each alert frame of the user's vehicles: fired, acknowledged, resolved. */
  onAlert(listener: (alert: Alert) => void): () => void;
}

const Context = createContext<AlertsContext | null>(null);

/**
 * In-app alerts: the open count for the navigation's badge (from `GET /alerts?state=open`, asked again on
 * every alert frame and after a reconnect), a notice for each alert that fires while the dashboard is
 * open, and the frames for pages that show alerts. Follows every vehicle the user can see.
 */
export function AlertsProvider({ children }: { children: ReactNode }) {
  const [count, setCount] = useState<{ openCount: number | null; more: boolean }>({
    openCount: null,
    more: false,
  });
  const [vehicles, setVehicles] = useState<VehicleView[]>([]);
  const [toasts, setToasts] = useState<Alert[]>([]);
  const listeners = useRef(new Set<(alert: Alert) => void>());
  const asked = useRef(0);

  const refreshCount = useCallback(() => {
    const id = ++asked.current;
    api.listAlerts({ state: 'open', limit: COUNT_LIMIT }).then(
      (page) => {
        if (id === asked.current) setCount({ openCount: page.items.length, more: page.nextBefore !== null });
      },
      () => {},
    );
  }, []);

  const refreshVehicles = useCallback(() => {
    api.listVehicles().then(
      (list) =>
        setVehicles((shown) =>
          shown.map((v) => `${v.id}:${v.name}`).join() === list.map((v) => `${v.id}:${v.name}`).join()
            ? shown
            : list,
        ),
      () => {},
    );
  }, []);

  useEffect(() => {
    refreshCount();
    refreshVehicles();
    const timer = setInterval(() => {
      if (document.hidden) return;
      refreshCount();
      refreshVehicles();
    }, REFRESH_MS);
    return () => clearInterval(timer);
  }, [refreshCount, refreshVehicles]);

  const ids = vehicles.map((v) => v.id).join(',');
  // biome-ignore lint/correctness/useExhaustiveDependencies: `ids` stands for the vehicle list
  useEffect(() => {
    if (!ids) return;
    return api.watchAlerts(ids.split(','), {
      alert(alert) {
        refreshCount();
        if (alert.state === 'open')
          setToasts((shown) => [alert, ...shown.filter((a) => a.id !== alert.id)].slice(0, MAX_TOASTS));
        else setToasts((shown) => shown.filter((a) => a.id !== alert.id));
        for (const listener of listeners.current) listener(alert);
      },
      resumed: refreshCount,
    });
  }, [ids]);

  const value = useMemo<AlertsContext>(
    () => ({
      ...count,
      refreshCount,
      onAlert(listener) {
        listeners.current.add(listener);
        return () => listeners.current.delete(listener);
      },
    }),
    [count, refreshCount],
  );

  const names = useMemo(() => new Map(vehicles.map((v) => [v.id, v.name])), [vehicles]);
  const dismiss = useCallback((id: string) => setToasts((shown) => shown.filter((a) => a.id !== id)), []);

  return (
    <Context.Provider value={value}>
      {children}
      <section className="toasts" aria-label="New alerts" aria-live="polite">
        {toasts.map((alert) => (
          <Toast key={alert.id} alert={alert} vehicleName={names.get(alert.vehicleId)} onClose={dismiss} />
        ))}
      </section>
    </Context.Provider>
  );
}

function Toast({
  alert,
  vehicleName,
  onClose,
}: {
  alert: Alert;
  vehicleName: string | undefined;
  onClose: (id: string) => void;
}) {
  useEffect(() => {
    const timer = setTimeout(() => onClose(alert.id), TOAST_MS);
    return () => clearTimeout(timer);
  }, [alert.id, onClose]);
  return (
    <div className="toast" role="status" data-alert={alert.id}>
      <div>
        <strong>
          {alert.ruleName}
          {vehicleName ? ` · ${vehicleName}` : ''}
        </strong>
        <div>{alert.message}</div>
        <Link href="/alerts" onClick={() => onClose(alert.id)}>
          See alerts
        </Link>
      </div>
      <button type="button" className="link" onClick={() => onClose(alert.id)} aria-label="Dismiss">
        ✕
      </button>
    </div>
  );
}

export function useAlerts(): AlertsContext {
  const value = useContext(Context);
  if (!value) throw new Error('useAlerts outside AlertsProvider');
  return value;
}

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
import { alertMessageForDisplay } from './alerts.js';
import { client } from './api.js';
import { Link, useLocation } from './router.js';

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
  /**
   * Hears each alert frame of the user's vehicles (fired, acknowledged, resolved), and null when alerts
   * may have changed unseen (a vehicle newly followed, a reconnect): ask again.
   */
  onAlert(listener: (alert: Alert | null) => void): () => void;
}

const Context = createContext<AlertsContext | null>(null);

interface AlertListener {
  alert(alert: Alert): void;
  /**
   * The vehicles' streams (re)started: a snapshot after subscribing or reconnecting. Alerts may have
   * changed unseen before it, so what shows them asks REST again; from here on every change has a frame.
   */
  resynced(): void;
}

/** Hears the alerts of these vehicles over the live socket: fired, acknowledged, resolved. */
function watchAlerts(vehicleIds: readonly string[], listener: AlertListener): () => void {
  const live = client.live;
  let timer: ReturnType<typeof setTimeout> | null = null;
  // One call for the snapshots of many vehicles arriving together.
  const resynced = () => {
    timer ??= setTimeout(() => {
      timer = null;
      listener.resynced();
    }, 100);
  };
  const stops = vehicleIds.map((id) =>
    live.subscribe(id, {
      alert: (alert) => listener.alert(alert),
      // No update: a snapshot (subscribed, reconnected) or the REST resync after a gap.
      state: (_state, update) => {
        if (!update) resynced();
      },
    }),
  );
  return () => {
    if (timer) clearTimeout(timer);
    for (const stop of stops) stop();
  };
}

/**
 * In-app alerts: the open count for the navigation's badge (from `GET /alerts?state=open`, asked again on
 * every alert frame and after each snapshot: a vehicle newly followed, a reconnect), a notice for each
 * alert that fires while the dashboard is open, and the frames for pages that show alerts. Follows every
 * vehicle the user can see (the list asked again on each page change and every minute).
 */
export function AlertsProvider({ children }: { children: ReactNode }) {
  const [count, setCount] = useState<{ openCount: number | null; more: boolean }>({
    openCount: null,
    more: false,
  });
  const [vehicles, setVehicles] = useState<VehicleView[]>([]);
  const [toasts, setToasts] = useState<Alert[]>([]);
  const listeners = useRef(new Set<(alert: Alert | null) => void>());
  const { path } = useLocation();
  const asked = useRef(0);

  const refreshCount = useCallback(() => {
    const id = ++asked.current;
    client.alerts.list({ state: 'open', limit: COUNT_LIMIT }).then(
      (page) => {
        if (id === asked.current) setCount({ openCount: page.items.length, more: page.nextBefore !== null });
      },
      () => {},
    );
  }, []);

  const refreshVehicles = useCallback(() => {
    client.vehicles.list().then(
      (list) =>
        setVehicles((shown) =>
          shown.map((v) => `${v.id}:${v.name}`).join() === list.map((v) => `${v.id}:${v.name}`).join()
            ? shown
            : list,
        ),
      () => {},
    );
  }, []);

  // A vehicle added or shared since is followed from the next page on.
  // biome-ignore lint/correctness/useExhaustiveDependencies: each page change asks again
  useEffect(() => {
    refreshVehicles();
  }, [path, refreshVehicles]);

  useEffect(() => {
    refreshCount();
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
    return watchAlerts(ids.split(','), {
      alert(alert) {
        refreshCount();
        if (alert.state === 'open')
          setToasts((shown) => [alert, ...shown.filter((a) => a.id !== alert.id)].slice(0, MAX_TOASTS));
        else setToasts((shown) => shown.filter((a) => a.id !== alert.id));
        for (const listener of listeners.current) listener(alert);
      },
      resynced() {
        refreshCount();
        for (const listener of listeners.current) listener(null);
      },
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
        <div>{alertMessageForDisplay(alert.message)}</div>
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

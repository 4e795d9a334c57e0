import { DEFAULT_UNIT_PREFERENCES, type UnitPreferences, type UserView } from '@tacho/protocol';
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { client, logout, onSessionLost } from './api.js';
import { navigate, useLocation } from './router.js';
import { setDisplayUnits } from './units.js';

interface SessionContext {
  user: UserView | null;
  /** Sets the signed-in user after login or setup. */
  signedIn(user: UserView): void;
  logout(): Promise<void>;
  refreshUser(): Promise<void>;
  /** The units the user reads values in; `chooseUnits` saves them and redraws every page. */
  units: UnitPreferences;
  chooseUnits(units: UnitPreferences): Promise<void>;
}

const Context = createContext<SessionContext | null>(null);

/** Pages anyone may open; every other page sends an anonymous visitor to login. */
export const publicPaths = ['/login', '/setup'];

export function loginPathFor(href: string): string {
  return href === '/' || href.startsWith('/login') ? '/login' : `/login?next=${encodeURIComponent(href)}`;
}

/**
 * Who is signed in. The client refreshes an expired access token by itself; only when that refresh fails
 * does `onSessionLost` fire, and the user is sent to login with the current page remembered.
 */
export function SessionProvider({ children }: { children: ReactNode }) {
  const [user, setUserState] = useState<UserView | null | undefined>(undefined);
  const [units, setUnits] = useState<UnitPreferences>(DEFAULT_UNIT_PREFERENCES);
  const { href, path } = useLocation();

  // The user's units arrive with the user, before any page shows a value.
  const setUser = useCallback(async (next: UserView | null) => {
    let chosen = DEFAULT_UNIT_PREFERENCES;
    if (next) chosen = await client.auth.preferences().catch(() => DEFAULT_UNIT_PREFERENCES);
    setDisplayUnits(chosen);
    setUnits(chosen);
    setUserState(next);
  }, []);

  const refreshUser = useCallback(async () => {
    try {
      await setUser(await client.auth.me());
    } catch {
      await setUser(null);
    }
  }, [setUser]);

  const chooseUnits = useCallback(async (next: UnitPreferences) => {
    const saved = await client.auth.setPreferences(next);
    setDisplayUnits(saved);
    setUnits(saved);
  }, []);

  useEffect(() => {
    void refreshUser();
  }, [refreshUser]);

  useEffect(
    () =>
      onSessionLost(() => {
        void setUser(null);
        const here = window.location.pathname + window.location.search;
        if (!publicPaths.includes(window.location.pathname)) navigate(loginPathFor(here), { replace: true });
      }),
    [setUser],
  );

  useEffect(() => {
    if (user === null && !publicPaths.includes(path)) navigate(loginPathFor(href), { replace: true });
  }, [user, path, href]);

  const value = useMemo<SessionContext | null>(
    () =>
      user === undefined
        ? null
        : {
            user,
            signedIn: (next: UserView) => void setUser(next),
            refreshUser,
            units,
            chooseUnits,
            async logout() {
              try {
                await logout();
              } finally {
                await setUser(null);
                navigate('/login', { replace: true });
              }
            },
          },
    [user, refreshUser, units, chooseUnits, setUser],
  );

  if (!value) {
    return (
      <div className="auth-page">
        <span className="spinner" role="status" aria-label="Loading" />
      </div>
    );
  }
  // A change of units redraws every page (keyed), so no value is left in the old unit.
  return (
    <Context.Provider value={value}>
      <UnitsScope key={`${units.distance}-${units.temperature}-${units.pressure}`}>{children}</UnitsScope>
    </Context.Provider>
  );
}

function UnitsScope({ children }: { children: ReactNode }) {
  return <>{children}</>;
}

export function useSession(): SessionContext {
  const value = useContext(Context);
  if (!value) throw new Error('useSession outside SessionProvider');
  return value;
}

/** The signed-in user on pages that are only rendered for one. */
export function useUser(): UserView {
  const { user } = useSession();
  if (!user) throw new Error('no user');
  return user;
}

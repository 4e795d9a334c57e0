import type { UserView } from '@tacho/protocol';
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { client, logout, onSessionLost } from './api.js';
import { navigate, useLocation } from './router.js';

interface SessionContext {
  user: UserView | null;
  /** Sets the signed-in user after login or setup. */
  signedIn(user: UserView): void;
  logout(): Promise<void>;
  refreshUser(): Promise<void>;
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
  const [user, setUser] = useState<UserView | null | undefined>(undefined);
  const { href, path } = useLocation();

  const refreshUser = useCallback(async () => {
    try {
      setUser(await client.auth.me());
    } catch {
      setUser(null);
    }
  }, []);

  useEffect(() => {
    void refreshUser();
  }, [refreshUser]);

  useEffect(
    () =>
      onSessionLost(() => {
        setUser(null);
        const here = window.location.pathname + window.location.search;
        if (!publicPaths.includes(window.location.pathname)) navigate(loginPathFor(here), { replace: true });
      }),
    [],
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
            signedIn: setUser,
            refreshUser,
            async logout() {
              try {
                await logout();
              } finally {
                setUser(null);
                navigate('/login', { replace: true });
              }
            },
          },
    [user, refreshUser],
  );

  if (!value) {
    return (
      <div className="auth-page">
        <span className="spinner" role="status" aria-label="Loading" />
      </div>
    );
  }
  return <Context.Provider value={value}>{children}</Context.Provider>;
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

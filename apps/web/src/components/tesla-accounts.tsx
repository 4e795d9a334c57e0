import type { TeslaVehicleItem } from '@tacho/protocol';
import { useEffect, useState } from 'react';
import { client } from '../lib/api.js';
import { navigate, useLocation } from '../lib/router.js';
import { useUser } from '../lib/session.js';
import { useAsync } from '../lib/use-async.js';
import { MakerAccountCard } from './maker-account.js';
import { type MakerColumn, MakerVehicles, vinColumn } from './maker-vehicles.js';
import { Button, Empty, ErrorBox, errorMessage, Loading } from './ui.js';

/** What the callback's `tesla_error` means, in words. */
const SIGN_IN_ERRORS: Record<string, string> = {
  denied: 'You declined at Tesla, so nothing was connected.',
  expired: 'That sign-in took too long or was used already. Connect again.',
  signed_out: 'Tesla sent back a sign-in started by another Tacho login. Connect again from here.',
  refused:
    'Tesla did not accept the sign-in. Connect again; if it keeps failing, check the app settings at Tesla.',
  unreachable: 'Tesla could not be reached. Try again in a moment.',
  not_configured: 'This server has no Tesla application configured.',
};

/** What the poller is doing with a car, in words. */
const POLL_LABELS: Record<string, string> = {
  unknown: 'starting',
  asleep: 'asleep',
  offline: 'offline',
  online: 'parked, awake',
  driving: 'driving',
  charging: 'charging',
  suspended: 'letting it fall asleep',
};

const COLUMNS: ReadonlyArray<MakerColumn<TeslaVehicleItem>> = [
  vinColumn,
  { label: 'At Tesla', cell: (car) => car.state },
];

/**
 * Settings → Connected accounts → Tesla: connect an account (sign-in at Tesla), each account's state and
 * the Fleet API requests it used today, its vehicles to add, and disconnecting (Tacho deletes the tokens;
 * the owner also removes Tacho's access at Tesla, which offers no revocation call).
 */
export function TeslaAccounts() {
  const user = useUser();
  const { search } = useLocation();
  const accounts = useAsync(() => client.tesla.accounts(), []);
  const [connecting, setConnecting] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(search.get('account'));
  const signInError = search.get('tesla_error');
  const justConnected = search.get('tesla') === 'connected';
  const canConnect = user.role !== 'viewer';

  // Back from Tesla after the login's access cookie ran out: Tesla's answer is in the fragment. Drop it
  // from the address at once (it holds the code), then finish with the renewed login.
  // biome-ignore lint/correctness/useExhaustiveDependencies: once, on arrival
  useEffect(() => {
    const prefix = '#tesla_finish=';
    if (!window.location.hash.startsWith(prefix)) return;
    const sent = new URLSearchParams(decodeURIComponent(window.location.hash.slice(prefix.length)));
    window.history.replaceState(null, '', window.location.pathname);
    const state = sent.get('state');
    if (!state) return;
    const code = sent.get('code');
    const refused = sent.get('error');
    client.tesla.finish({ state, ...(code ? { code } : {}), ...(refused ? { error: refused } : {}) }).then(
      (outcome) => {
        const query =
          outcome.outcome === 'connected'
            ? `tesla=connected&account=${encodeURIComponent(outcome.accountId ?? '')}`
            : `tesla_error=${encodeURIComponent(outcome.error ?? 'refused')}`;
        if (outcome.accountId) setOpen(outcome.accountId);
        navigate(`/settings/connected-accounts?${query}`, { replace: true });
        accounts.reload();
      },
      (failure: unknown) => setError(errorMessage(failure)),
    );
  }, []);

  const connect = async () => {
    setConnecting(true);
    setError(null);
    try {
      window.location.assign(await client.tesla.signInUrl());
    } catch (failure) {
      setError(errorMessage(failure));
      setConnecting(false);
    }
  };

  return (
    <section className="stack" aria-labelledby="tesla-title">
      <h2 id="tesla-title">Tesla</h2>
      {signInError && (
        <div className="alert error" role="alert">
          {SIGN_IN_ERRORS[signInError] ?? 'The Tesla sign-in did not work. Connect again.'}
        </div>
      )}
      {justConnected && (
        <output className="alert ok">Tesla account connected. Add the vehicles Tacho should record.</output>
      )}
      {error && (
        <div className="alert error" role="alert">
          {error}
        </div>
      )}
      {accounts.status === 'error' && <ErrorBox error={accounts.error} onRetry={accounts.reload} />}
      {!accounts.data && accounts.status !== 'error' && <Loading what="Loading Tesla accounts" />}
      {accounts.data && !accounts.data.configured && (
        <p className="muted">
          This server has no Tesla application set up. An admin sets TACHO_TESLA_CLIENT_ID (see the README's
          Tesla section).
        </p>
      )}
      {accounts.data && accounts.data.items.length === 0 && accounts.data.configured && (
        <Empty>No Tesla account is connected.</Empty>
      )}
      {accounts.data?.items.map((account) => (
        <MakerAccountCard
          key={account.id}
          maker="Tesla"
          account={account}
          details={
            <span data-testid="tesla-budget">
              {account.requestsToday} of {account.requestBudget} requests today
            </span>
          }
          actions={
            account.state === 'reauth_needed' &&
            canConnect && (
              <Button busy={connecting} onClick={connect}>
                Sign in to Tesla again
              </Button>
            )
          }
          open={open === account.id}
          onToggle={() => setOpen(open === account.id ? null : account.id)}
          onDisconnect={async () => {
            await client.tesla.disconnect(account.id);
            accounts.setData((data) => ({ ...data, items: data.items.filter((a) => a.id !== account.id) }));
          }}
          disconnectNote={
            <p>
              Tacho deletes this account's Tesla tokens and stops reading its vehicles. The vehicles and what
              they recorded stay. Tesla offers no way for an app to give its access back: remove Tacho under
              Third-party apps on your Tesla account's security page as well.
            </p>
          }
        >
          {open === account.id && account.state !== 'reauth_needed' && (
            <MakerVehicles
              maker="Tesla"
              accountId={account.id}
              load={(id) => client.tesla.vehicles(id)}
              add={(id, vin) => client.tesla.addVehicle(id, vin)}
              canAdd={canConnect && account.ownerId === user.id}
              columns={COLUMNS}
              linked={(car) =>
                car.pollState && (
                  <span className="muted"> · {POLL_LABELS[car.pollState] ?? car.pollState}</span>
                )
              }
            />
          )}
        </MakerAccountCard>
      ))}
      {accounts.data?.configured && canConnect && (
        <div>
          <Button busy={connecting} onClick={connect}>
            Connect a Tesla account
          </Button>
        </div>
      )}
    </section>
  );
}

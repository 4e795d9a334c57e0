import { type ReactNode, useState } from 'react';
import { formatTime } from '../lib/format.js';
import { ConfirmDialog, errorMessage } from './ui.js';

/** What Tacho knows of every connected maker-cloud account. */
export interface MakerAccount {
  id: string;
  label: string;
  region: string;
  state: 'connected' | 'refreshing' | 'reauth_needed' | 'error';
  stateReason: string | null;
  createdMs: number;
}

const TONES: Record<MakerAccount['state'], string> = {
  connected: 'ok',
  refreshing: 'plain',
  reauth_needed: 'danger',
  error: 'warn',
};

function stateLabel(maker: string, state: MakerAccount['state']): string {
  if (state === 'reauth_needed') return `Sign in to ${maker} again`;
  return { connected: 'Connected', refreshing: 'Refreshing', error: 'Error' }[state];
}

/**
 * One connected account on Settings → Connected accounts: its label, state, region and when it was
 * connected, what the maker adds to that line (`details`), the maker's own buttons (`actions`), showing its
 * vehicles, and disconnecting after asking (`disconnectNote` says what that does at the maker).
 */
export function MakerAccountCard({
  maker,
  account,
  details,
  actions,
  open,
  onToggle,
  onDisconnect,
  disconnectNote,
  children,
}: {
  /** "Tesla", "VinFast". */
  maker: string;
  account: MakerAccount;
  details: ReactNode;
  actions?: ReactNode;
  open: boolean;
  /**
   * Shows or hides the vehicles; without it there is no Vehicles button, nor while the account needs a new
   * sign-in (its vehicles cannot be listed until then).
   */
  onToggle?: () => void;
  /** Disconnects at the server and drops the account from the list. */
  onDisconnect: () => Promise<void>;
  disconnectNote: ReactNode;
  /** Below the account's line: its vehicles, a sign-in form. */
  children?: ReactNode;
}) {
  const [leaving, setLeaving] = useState(false);
  const [leavingBusy, setLeavingBusy] = useState(false);
  const [leaveError, setLeaveError] = useState<string | null>(null);
  return (
    <article className="card stack" aria-label={`${maker} account ${account.label}`}>
      <div className="row" style={{ justifyContent: 'space-between', flexWrap: 'wrap', gap: '0.5rem' }}>
        <div>
          <strong>{account.label}</strong>{' '}
          <span
            className={`badge ${TONES[account.state]}`}
            data-testid={`${maker.toLowerCase()}-account-state`}
          >
            {stateLabel(maker, account.state)}
          </span>
          <div className="muted">
            Region {account.region.toUpperCase()} · connected {formatTime(account.createdMs)} · {details}
          </div>
          {account.stateReason && account.state !== 'connected' && (
            <p className="muted">{account.stateReason}</p>
          )}
        </div>
        <div className="row" style={{ gap: '0.5rem' }}>
          {actions}
          {onToggle && account.state !== 'reauth_needed' && (
            <button type="button" aria-expanded={open} onClick={onToggle}>
              {open ? 'Hide vehicles' : 'Vehicles'}
              <span className="sr-only"> of {account.label}</span>
            </button>
          )}
          <button type="button" className="danger" onClick={() => setLeaving(true)}>
            Disconnect<span className="sr-only"> {account.label}</span>
          </button>
        </div>
      </div>
      {children}
      {leaving && (
        <ConfirmDialog
          title={`Disconnect ${account.label}?`}
          confirmLabel="Disconnect"
          busy={leavingBusy}
          error={leaveError}
          onCancel={() => {
            setLeaving(false);
            setLeaveError(null);
          }}
          onConfirm={async () => {
            setLeavingBusy(true);
            setLeaveError(null);
            try {
              await onDisconnect();
            } catch (failure) {
              setLeaveError(errorMessage(failure));
              setLeavingBusy(false);
            }
          }}
        >
          {disconnectNote}
        </ConfirmDialog>
      )}
    </article>
  );
}

import { TeslaAccounts } from '../components/tesla-accounts.js';
import { VinFastAccounts } from '../components/vinfast-accounts.js';

/**
 * Settings → Connected accounts: the maker clouds Tacho reads vehicles from, one section per maker
 * (issue 21: Tesla; issue 22 adds VinFast beside it).
 */
export function ConnectedAccountsPage() {
  return (
    <>
      <div className="page-head">
        <h1>Connected accounts</h1>
        <a href="/settings">Settings</a>
      </div>
      <div className="stack">
        <TeslaAccounts />
        <VinFastAccounts />
      </div>
    </>
  );
}

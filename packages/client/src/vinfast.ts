import type {
  AddedVinFastVehicle,
  ConnectVinFast,
  VinFastAccount,
  VinFastAccountList,
  VinFastVehicleList,
} from '@tacho/protocol';
import type { HttpTransport } from './http.js';

/** The VinFast connector: accounts signed in with email and password, their vehicles. */
export class VinFastApi {
  constructor(private readonly http: HttpTransport) {}

  /** Signs in at VinFast (a wrong password: TachoApiError 401 `vinfast_sign_in_refused`). */
  connect(input: ConnectVinFast): Promise<VinFastAccount> {
    return this.http.request('POST', 'connectors/vinfast/accounts', { body: input });
  }
  accounts(): Promise<VinFastAccountList> {
    return this.http.request('GET', 'connectors/vinfast/accounts');
  }
  vehicles(accountId: string): Promise<VinFastVehicleList> {
    return this.http.request('GET', `connectors/vinfast/accounts/${encodeURIComponent(accountId)}/vehicles`);
  }
  addVehicle(accountId: string, vin: string): Promise<AddedVinFastVehicle> {
    return this.http.request(
      'POST',
      `connectors/vinfast/accounts/${encodeURIComponent(accountId)}/vehicles`,
      {
        body: { vin },
      },
    );
  }
  disconnect(accountId: string): Promise<void> {
    return this.http.request('DELETE', `connectors/vinfast/accounts/${encodeURIComponent(accountId)}`);
  }
}

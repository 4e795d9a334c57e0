import type {
  TeslaAccount,
  TeslaAccountList,
  TeslaFinish,
  TeslaSignInOutcome,
  TeslaVehicleList,
} from '@tacho/protocol';
import type { HttpTransport } from './http.js';

const account = (id: string) => `connectors/tesla/accounts/${encodeURIComponent(id)}`;

/** The Tesla connector: sign-in at Tesla, connected accounts, their vehicles. */
export class TeslaApi {
  constructor(private readonly http: HttpTransport) {}

  /** Tesla's sign-in URL for a new attempt; the browser goes there and comes back to Connected accounts. */
  async signInUrl(): Promise<string> {
    return (await this.http.request<{ url: string }>('GET', 'connectors/tesla/start')).url;
  }
  /** Finishes a sign-in whose browser came back signed out: what Tesla sent, posted once logged in. */
  finish(input: TeslaFinish): Promise<TeslaSignInOutcome> {
    return this.http.request('POST', 'connectors/tesla/finish', { body: input });
  }
  /** The caller's Tesla accounts (an admin: everyone's), and whether the server has Tesla configured. */
  accounts(): Promise<TeslaAccountList> {
    return this.http.request('GET', 'connectors/tesla/accounts');
  }
  /** The account's vehicles at Tesla, with the Tacho vehicle each is linked to (or null). */
  async vehicles(accountId: string): Promise<TeslaVehicleList['items']> {
    return (await this.http.request<TeslaVehicleList>('GET', `${account(accountId)}/vehicles`)).items;
  }
  /** Adds the account's vehicle with this VIN as a Tacho vehicle; answers its id. */
  addVehicle(accountId: string, vin: string): Promise<{ vehicleId: string }> {
    return this.http.request('POST', `${account(accountId)}/vehicles`, { body: { vin } });
  }
  /** Disconnects the account: Tacho deletes its tokens (the vehicles and their data stay). */
  disconnect(accountId: TeslaAccount['id']): Promise<void> {
    return this.http.request('DELETE', account(accountId));
  }
}

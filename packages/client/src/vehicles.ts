import type {
  CreatedToken,
  CreateVehicleRequest,
  ShareVehicleRequest,
  TokenView,
  UpdateVehicleRequest,
  VehicleAccessView,
  VehicleView,
} from '@tacho/protocol';
import type { HttpTransport } from './http.js';

const v = (id: string) => `vehicles/${encodeURIComponent(id)}`;

/** Vehicles, who they are shared with, and their device tokens. */
export class VehiclesApi {
  constructor(private readonly http: HttpTransport) {}

  list(): Promise<VehicleView[]> {
    return this.http.request('GET', 'vehicles');
  }
  /** The vehicle, with `refusals`: how many of its messages were refused, and the last reason (or null). */
  get(id: string): Promise<VehicleView> {
    return this.http.request('GET', v(id));
  }
  /** The visible vehicle with this VIN or id (vehicles are addressed by id; the CLI takes either). */
  async byVin(vinOrId: string): Promise<VehicleView | undefined> {
    const wanted = vinOrId.replace(/\s+/g, '').toUpperCase();
    return (await this.list()).find(
      (vehicle) => vehicle.vin?.toUpperCase() === wanted || vehicle.id.toUpperCase() === wanted,
    );
  }
  create(input: CreateVehicleRequest): Promise<VehicleView> {
    return this.http.request('POST', 'vehicles', { body: input });
  }
  update(id: string, input: UpdateVehicleRequest): Promise<VehicleView> {
    return this.http.request('PATCH', v(id), { body: input });
  }
  delete(id: string): Promise<void> {
    return this.http.request('DELETE', v(id));
  }
  access(id: string): Promise<VehicleAccessView[]> {
    return this.http.request('GET', `${v(id)}/access`);
  }
  share(id: string, input: ShareVehicleRequest): Promise<VehicleAccessView> {
    return this.http.request('POST', `${v(id)}/access`, { body: input });
  }
  unshare(id: string, userId: string): Promise<void> {
    return this.http.request('DELETE', `${v(id)}/access/${encodeURIComponent(userId)}`);
  }
  /** A device token for the vehicle: its MQTT password (username = VIN) and HTTP bearer token. */
  createToken(id: string, name?: string): Promise<CreatedToken> {
    return this.http.request('POST', `${v(id)}/tokens`, { body: name ? { name } : {} });
  }
  tokens(id: string): Promise<TokenView[]> {
    return this.http.request('GET', `${v(id)}/tokens`);
  }
  revokeToken(id: string, tokenId: string): Promise<void> {
    return this.http.request('DELETE', `${v(id)}/tokens/${encodeURIComponent(tokenId)}`);
  }
}

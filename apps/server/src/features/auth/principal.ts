import type { Role } from '../../db/index.js';

/**
 * Who acts. Every service call takes one first and checks a named permission against it.
 * - `user`: a person, through a login cookie (`loginId`) or an API token (`tokenId`, with scopes and an
 *   optional vehicle allow-list that narrow what the user may do).
 * - `vehicle`: a device holding a vehicle token; it may only publish telemetry for that one vehicle.
 */
export type Principal =
  | {
      readonly kind: 'user';
      readonly userId: string;
      readonly role: Role;
      readonly loginId?: string;
      readonly tokenId?: string;
      /** Scopes of the API token; undefined for a cookie login (all the role allows). */
      readonly scopes?: readonly string[];
      /** Vehicle ids an API token is limited to; undefined = all the user may see. */
      readonly vehicleIds?: readonly string[];
      /** Set for a phone's ID token (TACHO_DEVICE_ISSUERS): good on the ingest and recording routes only. */
      readonly via?: 'id_token';
    }
  | {
      readonly kind: 'vehicle';
      readonly vehicleId: string;
      /** Null for a vehicle without a VIN. */
      readonly vin: string | null;
      readonly tokenId: string;
      /** The user who created the token (the owner or an operator of the vehicle). */
      readonly userId: string;
    };

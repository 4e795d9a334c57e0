/** An authenticated device: MQTT username = VIN, password = that vehicle's token. */
export interface DeviceIdentity {
  readonly vehicleId: string;
  readonly vin: string;
}

/**
 * An MQTT topic family devices publish to, with the format that reads it. The native format is built
 * in; source formats (VinFast `/mobile/<VIN>/push`, OwnTracks) register theirs with `add`.
 */
export interface DeviceTopic {
  /** Names the format in logs (`native`, `vinfast`). */
  readonly name: string;
  /** Whether this authenticated device may publish to `topic` (embedded broker ACL). */
  matches(topic: string, device: DeviceIdentity): boolean;
  /** Ingests one payload; resolves after commit (the PUBACK is sent then). */
  handle(device: DeviceIdentity, topic: string, payload: Buffer): Promise<unknown>;
  /**
   * External broker: the topic filter to subscribe to (without `$share/…`), and how to find the VIN in
   * a topic, since there the broker has authenticated the device, not Tacho.
   */
  readonly external?: { readonly filter: string; vinOf(topic: string): string | null };
}

export class DeviceTopics {
  private readonly topics: DeviceTopic[] = [];

  add(topic: DeviceTopic): void {
    this.topics.push(topic);
  }

  /** The topic family a device's publish belongs to, or undefined (the publish is then refused). */
  find(topic: string, device: DeviceIdentity): DeviceTopic | undefined {
    return this.topics.find((t) => t.matches(topic, device));
  }

  all(): readonly DeviceTopic[] {
    return this.topics;
  }
}

/** The native telemetry topic of a vehicle. */
export function nativeTopic(vin: string): string {
  return `tacho/v1/${vin}/telemetry`;
}

/** The topic a device subscribes to for commands. */
export function commandsTopic(vin: string): string {
  return `tacho/v1/${vin}/commands`;
}

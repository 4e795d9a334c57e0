import type { NativeMessage } from '@tacho/protocol';

/** A drive around a small loop: battery drains, speed varies, position moves; raw keys for the deep scan. */
export function driveMessage(step: number, ts: number): NativeMessage {
  const angle = step / 20;
  return {
    ts,
    metrics: {
      battery_level_pct: Math.max(5, 80 - step * 0.5),
      range_km: Math.max(20, 320 - step * 2),
      speed_kmh: 30 + (step % 7) * 8,
      power_kw: 12 + (step % 5) * 3.5,
      odometer_km: 12_345 + step * 0.4,
      charging_state: 'disconnected',
      outside_temp_c: 14.5,
      inside_temp_c: 21,
      battery_temp_c: 27.5,
      tyre_pressure_fl_kpa: 250,
      tyre_pressure_fr_kpa: 252,
      tyre_pressure_rl_kpa: 248,
      tyre_pressure_rr_kpa: 249,
      ignition: true,
      gear: 'D',
    },
    position: { lat: 52.52 + Math.sin(angle) * 0.01, lon: 13.405 + Math.cos(angle) * 0.015, heading_deg: 90 },
    raw: {
      '34183_00001_00009': Math.max(5, 80 - step * 0.5),
      '34180_00001_00011': 30 + (step % 7) * 8,
      '56789_00002_00003': step,
    },
  };
}

/** Sends telemetry the way a device does: HTTP POST with its vehicle token. */
export async function publish(
  baseUrl: string,
  vin: string,
  token: string,
  messages: NativeMessage[],
): Promise<void> {
  const res = await fetch(`${baseUrl}/api/v1/vehicles/${vin}/telemetry`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(messages),
    signal: AbortSignal.timeout(10_000),
  });
  if (!res.ok) throw new Error(`telemetry refused: ${res.status} ${await res.text()}`);
}

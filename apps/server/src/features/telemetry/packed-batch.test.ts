import { describe, expect, it } from 'vitest';
import { toRow } from './batch-rows.js';
import { packSamples, rowParams, sampleAt } from './packed-batch.js';
import type { BatchSample } from './sample-batch.js';
import { SAMPLE_COLUMNS } from './telemetry.repo.js';

describe('packed batch (what crosses to the SQLite writer thread)', () => {
  const samples: BatchSample[] = [
    {
      vehicleId: 'v1',
      tsMs: 1_700_000_000_000,
      seq: 0,
      receivedMs: 1_700_000_000_100,
      source: 'http',
      metrics: { speed_kmh: 12.5, gear: 'D', ignition: true, software_version: 'Straße ✓ 😀' },
      position: { lat: 48.1, lon: 11.5, heading_deg: 0, speed_kmh: 12.5 },
    },
    { vehicleId: 'v2', tsMs: 1_700_000_000_001, seq: 7, receivedMs: 1, source: 'mqtt', metrics: {} },
    {
      vehicleId: 'v1',
      tsMs: 1_700_000_000_002,
      seq: 2_147_483_647,
      receivedMs: 2,
      source: 'owntracks',
      metrics: { battery_level_pct: 0 },
      position: { lat: -90, lon: 180, alt_m: -12, accuracy_m: 5 },
      raw: { 'x.y': 'a', n: 3 },
      rawInfo: { 'x.y': { canonicalKey: null, unit: null } },
    },
  ];

  it('gives back every column of every row and every sample as it was', () => {
    // Through a structured clone, as postMessage sends it.
    const packed = structuredClone(packSamples(samples));
    const params: unknown[] = [];
    samples.forEach((sample, i) => {
      rowParams(packed, i, params);
      const row = toRow(sample);
      expect(params).toEqual(SAMPLE_COLUMNS.map((c) => row[c]));
      expect(sampleAt(packed, i)).toEqual(sample);
    });
  });

  it('packs no samples', () => {
    expect(packSamples([]).count).toBe(0);
  });
});

import { describe, expect, it } from 'vitest';
import {
  decodeDtcResponse,
  decodeObdResponse,
  dtcFromBytes,
  encodeObdResponse,
  expandObd,
  listPids,
} from './obd.js';

describe('OBD-II mode 01 decoding (SAE J1979 via the OBDb signal set)', () => {
  it.each([
    ['010D', '41 0D 3C', { VSS: 60 }],
    ['010D', '410d3c', { VSS: 60 }],
    ['0D', '41 0D 3C', { VSS: 60 }],
    ['010C', '41 0C 1A F8', { RPM: 1726 }],
    ['0105', '41 05 7B', { ECT: 83 }],
    ['0105', '41 05 00', { ECT: -40 }],
    ['0111', '41 11 FF', { TP: 100 }],
    ['0104', '41 04 80', { LOAD_PCT: 50.1961 }],
    ['0146', '41 46 50', { AAT: 40 }],
    ['0142', '41 42 36 B0', { VPWR: 14 }],
    ['0110', '41 10 01 F4', { MAF: 5 }],
    ['01A6', '41 A6 00 00 27 10', { ODO: 1000 }],
    ['0132', '41 32 FF FC', { EVAP_VP: -0.001 }],
    ['0103', '41 03 02 00', { FUELSYS1: 'CL' }],
    ['0101', '41 01 81 07 65 04', { MIL: true, DTC_CNT: 1 }],
  ])('%s %s', (pid, response, expected) => {
    const result = decodeObdResponse(pid, response);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const values = Object.fromEntries(result.values.map((v) => [v.id, v.value]));
    expect(values).toMatchObject(expected);
  });

  it('drops readings that mean "not available" (VSS 255, fuel level 0)', () => {
    expect(decodeObdResponse('010D', '41 0D FF')).toEqual({ ok: true, pid: '010D', values: [] });
    expect(decodeObdResponse('012F', '41 2F 00')).toEqual({ ok: true, pid: '012F', values: [] });
  });

  it.each([
    ['01ZZ', '41 0D 3C', 'obd: pid is not a mode 01 PID like "010D"'],
    [13, '41 0D 3C', 'obd: pid is not a mode 01 PID like "010D"'],
    ['010D', 'NO DATA', 'obd: response of 010D is not hex'],
    ['010D', '41 0D 3', 'obd: response of 010D is not hex'],
    ['010D', 60, 'obd: response of 010D is not a string'],
    ['010D', '41 0D', 'obd: response of 010D is too short for VSS'],
    ['010D', '7F 01 12', 'obd: response of 010D does not start with 41 0D'],
    ['010C', '41 0D 3C', 'obd: response of 010C does not start with 41 0C'],
  ])('refuses pid %s response %s', (pid, response, reason) => {
    expect(decodeObdResponse(pid, response)).toEqual({ ok: false, reason });
  });
});

describe('OBD-II mode 03 trouble codes (SAE J2012)', () => {
  it.each([
    ['43 01 33 00 00 00 00', ['P0133']],
    ['43 00 00 00 00 00 00', []],
    ['4301330000000000'.slice(0, 14), ['P0133']],
    ['43 01 3a 00 00 00 00', ['P013A']],
    ['43 01 01 33', ['P0133']],
    ['43 41 23 C1 00 81 00', ['C0123', 'U0100', 'B0100']],
    ['43 01 33 04 20 00 00\r\n43 01 33 00 00 00 00', ['P0133', 'P0420']],
  ])('%s → %j', (response, codes) => {
    expect(decodeDtcResponse(response)).toEqual({ ok: true, codes });
  });

  it('maps the two high bits to the system letter', () => {
    expect(dtcFromBytes(0x00, 0x00)).toBeNull();
    expect(dtcFromBytes(0x3f, 0xff)).toBe('P3FFF');
    expect(dtcFromBytes(0xff, 0xff)).toBe('U3FFF');
  });

  it.each([
    [42, 'obd: dtc is not a string'],
    ['', 'obd: dtc is empty'],
    ['43 0G', 'obd: dtc is not hex'],
    ['41 01 33 00 00 00 00', 'obd: dtc does not start with 43 (mode 03 response)'],
  ])('refuses %j', (response, reason) => {
    expect(decodeDtcResponse(response)).toEqual({ ok: false, reason });
  });
});

describe('expandObd', () => {
  it('fills canonical metrics and raw keys, keeps explicit metrics, dead-letters bad entries only', () => {
    const { message, deadLetters } = expandObd({
      ts: 1_700_000_000_000,
      metrics: { speed_kmh: 61 },
      obd: [
        { pid: '010D', response: '41 0D 3C' },
        { pid: '010C', response: '41 0C 1A F8' },
        { pid: '0103', response: '41 03 02 00' },
        { pid: '0105', response: 'NO DATA' },
      ],
      dtc: '43 01 33 00 00 00 00',
    });
    expect(message.metrics).toEqual({ speed_kmh: 61, engine_rpm: 1726 });
    expect(message.raw).toMatchObject({
      'obd.VSS': 60,
      'obd.RPM': 1726,
      'obd.FUELSYS1': 'CL',
      'obd.dtc': 'P0133',
    });
    expect(message).not.toHaveProperty('obd');
    expect(message).not.toHaveProperty('dtc');
    expect(deadLetters).toEqual([
      { reason: 'obd: response of 0105 is not hex', payload: '{"pid":"0105","response":"NO DATA"}' },
    ]);
  });

  it('leaves a message without OBD fields untouched', () => {
    const plain = { ts: 1, metrics: { speed_kmh: 1 } };
    expect(expandObd(plain).message).toBe(plain);
  });

  it('dead-letters an obd field that is not an array', () => {
    expect(expandObd({ ts: 1, obd: 'x' }).deadLetters).toEqual([
      { reason: 'obd: obd is not an array', payload: 'x' },
    ]);
  });
});

describe('PID catalog', () => {
  it('lists every signal with its unit and canonical metric', () => {
    const pids = listPids();
    expect(pids.length).toBe(298);
    expect(pids.find((p) => p.id === 'VSS')).toEqual({
      id: 'VSS',
      name: 'Vehicle speed',
      pid: '010D',
      unit: 'km/h',
      max: 255,
      metric: 'speed_kmh',
    });
    expect(pids.find((p) => p.id === 'ECT')).toMatchObject({
      unit: '°C',
      min: -40,
      metric: 'coolant_temp_c',
    });
    expect(pids.find((p) => p.id === 'MIL')).toMatchObject({ unit: 'bool' });
    expect(pids.find((p) => p.id === 'FUELSYS1')?.states).toContain('CL');
  });

  it('encodes real responses that decode back to the value (simulator OBD mode)', () => {
    for (const [id, value] of [
      ['VSS', 88],
      ['RPM', 2250.5],
      ['ECT', 90],
      ['FLI', 50.1961],
      ['ODO', 12345.6],
    ] as const) {
      const response = encodeObdResponse(id, value);
      expect(response).not.toBeNull();
      const pid = listPids().find((p) => p.id === id)!.pid;
      const decoded = decodeObdResponse(pid, response);
      expect(decoded.ok && decoded.values[0]?.value).toBe(value);
    }
  });
});

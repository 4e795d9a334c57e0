import { describe, expect, it } from 'vitest';
import { axisWidth, decimalsForStep, TIME_INCREMENTS_S, timeLabels, valueLabels } from './axis-labels.js';

describe('axis labels', () => {
  it('write numbers with the locale separators and only the decimals the step needs', () => {
    const thousands = new Intl.NumberFormat().format(12_345);
    expect(valueLabels([12_000, 12_345], 'km')[1]).toBe(`${thousands} km`);
    expect(decimalsForStep(500)).toBe(0);
    expect(decimalsForStep(0.5)).toBe(1);
    expect(decimalsForStep(0.25)).toBe(1);
    expect(decimalsForStep(0.05)).toBe(2);
    expect(valueLabels([0, 0.5, 1], 'kW')).toEqual([
      `${new Intl.NumberFormat(undefined, { minimumFractionDigits: 1 }).format(0)} kW`,
      `${new Intl.NumberFormat(undefined, { minimumFractionDigits: 1 }).format(0.5)} kW`,
      `${new Intl.NumberFormat(undefined, { minimumFractionDigits: 1 }).format(1)} kW`,
    ]);
  });

  it('never step or label a fraction of a second', () => {
    expect(TIME_INCREMENTS_S.every((step) => Number.isInteger(step) && step >= 1)).toBe(true);
    const labels = timeLabels([1_700_000_000.4, 1_700_000_001.6], 60);
    for (const label of labels) expect(label).not.toMatch(/\d[.,]\d+\s*$/);
  });

  it('add the date once the span passes a day', () => {
    const day = Date.UTC(2026, 5, 1, 12) / 1000;
    const [within] = timeLabels([day], 3600);
    const [across] = timeLabels([day], 3 * 86_400);
    expect(across).not.toBe(within);
    expect(across).toContain(
      new Intl.DateTimeFormat(undefined, { month: 'short' }).format(new Date(day * 1000)),
    );
  });

  it('size the axis to its widest label', () => {
    expect(axisWidth(['1 km', '12,345 km'], (t) => t.length * 7)).toBe(9 * 7 + 22);
  });
});

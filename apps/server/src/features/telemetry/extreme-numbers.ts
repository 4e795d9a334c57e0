/**
 * For the fuzz tests: extreme numbers as JSON text, for every place a number goes. `1e400` and `-1e-400`
 * exist only as text (they parse to Infinity and -0), which is how a device sends them; 9e15 and
 * 8640000000000001 are past what a Date holds, 2^53+1 past what a double holds exactly.
 */
export const EXTREME_NUMBERS_JSON = [
  '1e308',
  '-1e308',
  '9e15',
  '-9e15',
  '"NaN"',
  '"Infinity"',
  '"-Infinity"',
  '-0',
  '9007199254740993',
  '1e400',
  '-1e-400',
  '8.64e15',
  '8640000000000001',
] as const;

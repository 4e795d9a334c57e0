/**
 * Vehicle identification numbers (ISO 3779): 17 characters of digits and capital letters except I, O and
 * Q, which are left out so they cannot be mistaken for 1 and 0. The check digit is not verified: only
 * North American VINs carry one.
 */
export const VIN_PATTERN = '^[A-HJ-NPR-Z0-9]{17}$';

const vinRegex = new RegExp(VIN_PATTERN);

/** Whether `vin` is a well-formed VIN (already upper-case; see `normalizeVin`). */
export function isValidVin(vin: string): boolean {
  return vinRegex.test(vin);
}

/** Trims and upper-cases what a person typed, so `wba 3a5c5…` and `WBA3A5C5…` are the same vehicle. */
export function normalizeVin(input: string): string {
  return input.replace(/\s+/g, '').toUpperCase();
}

import type { VehicleView } from '@tacho/protocol';

/** "2022 Volkswagen ID.3"; a phone or a tracker has no model to set: its kind says what it is. */
export function describeModel(vehicle: VehicleView): string {
  const model = [vehicle.year, vehicle.make, vehicle.model].filter(Boolean).join(' ');
  if (model) return model;
  // A phone or a tracker has no model to set: its kind says what it is.
  return vehicle.kind === 'car' ? 'Model not set' : vehicle.kind[0]!.toUpperCase() + vehicle.kind.slice(1);
}

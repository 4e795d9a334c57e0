import { type ReactNode, useState } from 'react';
import { useAsync } from '../lib/use-async.js';
import { Button, Empty, ErrorBox, errorMessage, Loading } from './ui.js';

/** What every maker cloud says about a car of the account. */
export interface MakerCar {
  vin: string;
  name: string | null;
  /** The Tacho vehicle it is linked to, or null when not added. */
  vehicleId: string | null;
}

/**
 * A column between "Vehicle" and "In Tacho": its heading (also the cell's label on a phone), its cell and
 * the cell's class (`wide` takes a whole line on a phone).
 */
export interface MakerColumn<Car> {
  label: string;
  cell: (car: Car) => ReactNode;
  className?: string;
}

/** The VIN column, where each maker places it. */
export const vinColumn: MakerColumn<MakerCar> = {
  label: 'VIN',
  cell: (car) => car.vin,
  className: 'mono wide',
};

/**
 * A connected account's cars as the maker lists them, each opened in Tacho or added to it (by the
 * account's owner; others see "not added"). On a phone each car is a small card (`.phone-cards`).
 */
export function MakerVehicles<Car extends MakerCar>({
  maker,
  accountId,
  load,
  add,
  canAdd,
  columns,
  linked,
}: {
  /** "Tesla", "VinFast": in the loading and empty texts and the name of a car without one. */
  maker: string;
  accountId: string;
  load: (accountId: string) => Promise<Car[]>;
  /** Adds the car with this VIN as a Tacho vehicle; answers its id. */
  add: (accountId: string, vin: string) => Promise<{ vehicleId: string }>;
  canAdd: boolean;
  columns: ReadonlyArray<MakerColumn<Car>>;
  /** Said after "Open" for a car already in Tacho. */
  linked?: (car: Car) => ReactNode;
}) {
  const cars = useAsync(() => load(accountId), [accountId]);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  if (cars.status === 'error') return <ErrorBox error={cars.error} onRetry={cars.reload} />;
  if (!cars.data) return <Loading what={`Asking ${maker} for the account's vehicles`} />;
  if (cars.data.length === 0) return <Empty>This {maker} account has no vehicles.</Empty>;
  const addCar = async (car: Car) => {
    setBusy(car.vin);
    setError(null);
    try {
      const { vehicleId } = await add(accountId, car.vin);
      cars.setData((all) => all.map((c) => (c.vin === car.vin ? { ...c, vehicleId } : c)));
    } catch (failure) {
      setError(errorMessage(failure));
    } finally {
      setBusy(null);
    }
  };
  return (
    <div className="stack">
      {error && (
        <div className="alert error" role="alert">
          {error}
        </div>
      )}
      <div className="table-wrap phone-cards">
        <table>
          <thead>
            <tr>
              <th scope="col">Vehicle</th>
              {columns.map((column) => (
                <th key={column.label} scope="col">
                  {column.label}
                </th>
              ))}
              <th scope="col">In Tacho</th>
            </tr>
          </thead>
          <tbody>
            {cars.data.map((car) => (
              <tr key={car.vin}>
                <td>{car.name ?? maker}</td>
                {columns.map((column) => (
                  <td key={column.label} data-label={column.label} className={column.className}>
                    {column.cell(car)}
                  </td>
                ))}
                <td data-label="In Tacho">
                  {car.vehicleId ? (
                    <>
                      <a href={`/vehicles/${car.vehicleId}`}>Open</a>
                      {linked?.(car)}
                    </>
                  ) : canAdd ? (
                    <Button busy={busy === car.vin} onClick={() => addCar(car)}>
                      Add<span className="sr-only"> {car.name ?? car.vin}</span>
                    </Button>
                  ) : (
                    <span className="muted">not added</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

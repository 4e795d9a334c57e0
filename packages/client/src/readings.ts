import type {
  DownsampledSamples,
  RawScan,
  SamplesPage,
  SamplesQuery,
  SamplesResponse,
  Track,
  VehicleState,
} from '@tacho/protocol';
import type { HttpTransport } from './http.js';

const v = (id: string) => `vehicles/${encodeURIComponent(id)}`;

/** The time range every read takes (epoch ms), as `SamplesQuery` of the protocol defines it. */
export type RangeQuery = Pick<SamplesQuery, 'from' | 'to'>;

/** Reads: current state, history, deep scan, track. */
export class ReadingsApi {
  constructor(private readonly http: HttpTransport) {}

  state(vehicleId: string): Promise<VehicleState> {
    return this.http.request('GET', `${v(vehicleId)}/state`);
  }

  /** One downsampled series per metric (at most `maxPoints` each), for charts. */
  async series(
    vehicleId: string,
    query: RangeQuery & { metrics?: readonly string[]; maxPoints: number },
  ): Promise<DownsampledSamples> {
    const res = await this.samples(vehicleId, query);
    if (res.kind !== 'downsampled') throw new Error('expected a downsampled answer');
    return res;
  }

  /** One page of raw samples; pass the previous page's `nextCursor` for the next. */
  async page(
    vehicleId: string,
    query: RangeQuery & { metrics?: readonly string[]; cursor?: string | null; limit?: number },
  ): Promise<SamplesPage> {
    const res = await this.samples(vehicleId, query);
    if (res.kind !== 'page') throw new Error('expected a page');
    return res;
  }

  /** Every raw sample of the range, page after page. */
  async *allSamples(
    vehicleId: string,
    query: RangeQuery & { metrics?: readonly string[]; limit?: number },
  ): AsyncGenerator<SamplesPage['samples'][number]> {
    let cursor: string | null = null;
    do {
      const page: SamplesPage = await this.page(vehicleId, { ...query, cursor });
      yield* page.samples;
      cursor = page.nextCursor;
    } while (cursor);
  }

  samples(
    vehicleId: string,
    query: RangeQuery & {
      metrics?: readonly string[];
      maxPoints?: number;
      cursor?: string | null;
      limit?: number;
    },
  ): Promise<SamplesResponse> {
    return this.http.request('GET', `${v(vehicleId)}/samples`, {
      query: {
        from: query.from,
        to: query.to,
        metrics: query.metrics?.join(','),
        maxPoints: query.maxPoints,
        cursor: query.cursor,
        limit: query.limit,
      },
    });
  }

  raw(vehicleId: string): Promise<RawScan> {
    return this.http.request('GET', `${v(vehicleId)}/raw`);
  }

  track(vehicleId: string, query: RangeQuery & { maxPoints?: number }): Promise<Track> {
    return this.http.request('GET', `${v(vehicleId)}/track`, { query: { ...query } });
  }
}

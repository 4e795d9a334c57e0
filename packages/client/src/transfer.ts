import {
  type ExportFormat,
  type ExportUnits,
  type ImportFormat,
  type ImportResult,
  TRANSFER_MEDIA,
} from '@tacho/protocol';
import { ApiError } from './errors.js';
import type { HttpTransport, Query } from './http.js';

export interface ExportRange {
  format: ExportFormat;
  /** Epoch milliseconds or ISO-8601 (a date alone is midnight UTC). */
  from?: number | string;
  to?: number | string;
  /** Catalog metric keys (CSV columns, GPX extensions). */
  metrics?: readonly string[];
  /**
   * CSV: `preferred` (the server's default) writes the user's units, `stored` the canonical ones. The
   * other formats are always canonical.
   */
  units?: ExportUnits;
}

/** An export as it streams: the file name the server suggests, its type, and the body. */
export interface ExportDownload {
  fileName: string;
  contentType: string;
  body: ReadableStream<Uint8Array>;
}

/** What imports send for each format when the caller says nothing else. */
export const IMPORT_CONTENT_TYPE: Record<ImportFormat, string> = {
  gpx: 'application/gpx+xml',
  geojson: 'application/geo+json',
  ndjson: 'application/x-ndjson',
  csv: 'text/csv',
};

/** The import format a file name suggests (`.gpx`, `.geojson`/`.json`, `.ndjson`/`.jsonl`, `.csv`). */
export function formatOfFileName(name: string): ImportFormat | null {
  const ext = name.toLowerCase().split('.').pop() ?? '';
  if (ext === 'gpx') return 'gpx';
  if (ext === 'geojson' || ext === 'json') return 'geojson';
  if (ext === 'ndjson' || ext === 'jsonl') return 'ndjson';
  if (ext === 'csv') return 'csv';
  return null;
}

/** Export and import: CSV, NDJSON, GPX and GeoJSON out, GPX, GeoJSON, NDJSON and CSV in. */
export class TransferApi {
  constructor(private readonly http: HttpTransport) {}

  /** The address of a vehicle's export (a browser downloads it with its login cookies). */
  vehicleExportUrl(vehicleId: string, range: ExportRange): string {
    return this.http.url(`vehicles/${encodeURIComponent(vehicleId)}/export`, exportQuery(range));
  }

  /** The address of a session's export (`units` as in ExportRange). */
  sessionExportUrl(sessionId: string, format: ExportFormat, units?: ExportUnits): string {
    return this.http.url(`sessions/${encodeURIComponent(sessionId)}/export`, { format, units });
  }

  /** A vehicle's samples over a range, streamed. */
  async exportVehicle(vehicleId: string, range: ExportRange, signal?: AbortSignal): Promise<ExportDownload> {
    const res = await this.http.raw('GET', `vehicles/${encodeURIComponent(vehicleId)}/export`, {
      query: exportQuery(range),
      ...(signal ? { signal } : {}),
    });
    return download(res, range.format);
  }

  /** One session's samples, streamed (`units` as in ExportRange). */
  async exportSession(
    sessionId: string,
    format: ExportFormat,
    signal?: AbortSignal,
    units?: ExportUnits,
  ): Promise<ExportDownload> {
    const res = await this.http.raw('GET', `sessions/${encodeURIComponent(sessionId)}/export`, {
      query: { format, units },
      ...(signal ? { signal } : {}),
    });
    return download(res, format);
  }

  /**
   * Imports a file into a vehicle: `body` is a Blob (a browser's File), bytes, or a stream. In a browser,
   * `onProgress` hears the bytes sent (XMLHttpRequest's upload events); elsewhere the caller counts what
   * its stream gives.
   */
  async importFile(
    vehicleId: string,
    format: ImportFormat,
    body: Blob | Uint8Array | ReadableStream<Uint8Array>,
    options: { name?: string; contentType?: string; onProgress?: (sent: number, total: number) => void } = {},
  ): Promise<ImportResult> {
    const path = `vehicles/${encodeURIComponent(vehicleId)}/import`;
    const query: Query = { format, ...(options.name ? { name: options.name } : {}) };
    const contentType = options.contentType ?? IMPORT_CONTENT_TYPE[format];
    if (options.onProgress && typeof XMLHttpRequest !== 'undefined' && body instanceof Blob) {
      return xhrUpload(this.http.url(path, query), body, contentType, options.onProgress);
    }
    const res = await this.http.raw('POST', path, { query, body: body as BodyInit, contentType });
    return (await res.json()) as ImportResult;
  }
}

function exportQuery(range: ExportRange): Query {
  return {
    format: range.format,
    from: range.from,
    to: range.to,
    metrics: range.metrics && range.metrics.length > 0 ? range.metrics.join(',') : undefined,
    units: range.units,
  };
}

function download(res: Response, format: ExportFormat): ExportDownload {
  const disposition = res.headers.get('content-disposition') ?? '';
  const fileName =
    /filename="([^"]+)"/.exec(disposition)?.[1] ?? `tacho-export.${TRANSFER_MEDIA[format].extension}`;
  if (!res.body) throw new Error('the export has no body');
  return { fileName, contentType: res.headers.get('content-type') ?? '', body: res.body };
}

/** A browser upload with progress (fetch has no upload progress); same-origin cookies go along. */
function xhrUpload(
  url: string,
  body: Blob,
  contentType: string,
  onProgress: (sent: number, total: number) => void,
): Promise<ImportResult> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', url);
    xhr.withCredentials = true;
    xhr.setRequestHeader('content-type', contentType);
    xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : body.size);
    xhr.onerror = () => reject(new Error('the upload failed (network)'));
    xhr.onload = () => {
      let parsed: { error?: { code?: string; message?: string } } & Partial<ImportResult> = {};
      try {
        parsed = JSON.parse(xhr.responseText);
      } catch {
        // not JSON: reported below by status
      }
      if (xhr.status >= 200 && xhr.status < 300) return resolve(parsed as ImportResult);
      reject(
        new ApiError(
          xhr.status,
          parsed.error?.code ?? 'http_error',
          parsed.error?.message ?? `${xhr.status} ${xhr.statusText}`,
        ),
      );
    };
    xhr.send(body);
  });
}

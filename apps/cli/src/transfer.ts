import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { formatOfFileName } from '@tacho/client';
import {
  EXPORT_FORMATS,
  EXPORT_UNITS,
  type ExportFormat,
  type ExportUnits,
  IMPORT_FORMATS,
  type ImportFormat,
} from '@tacho/protocol';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { action, createClient, findVehicle, resolveConnection } from './api.js';

/** How often a non-terminal stderr gets a progress line. */
const QUIET_LINE_MS = 5000;

/**
 * Progress on stderr: a bar (cli-progress: bytes, rate, ETA when the total is known) when stderr is a
 * terminal, else a plain line every few seconds and one at the end, for logs and pipes.
 */
export class Progress {
  private bar: SingleBar | null = null;
  private readonly started = Date.now();
  private lastLine = Date.now();
  private done = 0;

  constructor(
    private readonly what: string,
    private readonly total: number | null,
    private readonly out: NodeJS.WriteStream = process.stderr,
  ) {
    if (out.isTTY) {
      const known = total !== null;
      this.bar = new SingleBar({
        stream: out,
        format: known
          ? `${what} [{bar}] {percentage}% | {doneText} of {totalText} | {rateText} | ETA {eta_formatted}`
          : `${what} {doneText} | {rateText}`,
        barsize: 30,
        hideCursor: true,
        etaBuffer: 20,
        fps: 5,
        clearOnComplete: false,
      });
      this.bar.start(total ?? 0, 0, this.fields());
    }
  }

  add(bytes: number): void {
    this.done += bytes;
    if (this.bar) {
      this.bar.update(this.done, this.fields());
    } else if (Date.now() - this.lastLine >= QUIET_LINE_MS) {
      this.lastLine = Date.now();
      this.out.write(`${this.line()}\n`);
    }
  }

  stop(): void {
    if (this.bar) {
      this.bar.update(this.done, this.fields());
      this.bar.stop();
    } else this.out.write(`${this.line()}\n`);
  }

  private rate(): number {
    return this.done / Math.max(0.001, (Date.now() - this.started) / 1000);
  }

  private fields() {
    return {
      doneText: bytes(this.done),
      totalText: bytes(this.total ?? 0),
      rateText: `${bytes(this.rate())}/s`,
    };
  }

  private line(): string {
    const of = this.total !== null ? ` of ${bytes(this.total)}` : '';
    return `${this.what}: ${bytes(this.done)}${of} (${bytes(this.rate())}/s)`;
  }
}

function bytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** Counts bytes going through for a Progress. */
function counter(progress: Progress): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      progress.add(chunk.length);
      done(null, chunk);
    },
  });
}

/** `tacho export <VIN>` and `tacho import <VIN> <file>`. */
export function registerTransferCommands(program: Command): void {
  program
    .command('export')
    .description("export a vehicle's samples (or one session) as GPX, GeoJSON, CSV or NDJSON")
    .argument('<vin>', 'the VIN (or id) of the vehicle')
    .option('--format <format>', `one of ${EXPORT_FORMATS.join(', ')}`, 'gpx')
    .option(
      '--from <time>',
      'start: a date (2026-01-01), an ISO-8601 time or epoch ms (default: the first sample)',
    )
    .option('--to <time>', 'end, inclusive (default: now)')
    .option('--metrics <keys>', 'comma-separated metrics (CSV columns, GPX extensions)')
    .option('--session <id>', 'export this session instead of a range')
    .option(
      '--units <units>',
      `CSV values: ${EXPORT_UNITS.join(' or ')} (your unit setting, the server's default; or the units Tacho stores). The other formats are always in the stored units`,
    )
    .option('-o, --output <file>', 'write to this file (default: standard output)')
    .option('--url <url>', 'server URL (default: TACHO_URL, the saved login, or http://127.0.0.1:8080)')
    .action(
      action(
        async (
          vin: string,
          options: {
            format: string;
            from?: string;
            to?: string;
            metrics?: string;
            session?: string;
            units?: string;
            output?: string;
            url?: string;
          },
        ) => {
          if (!(EXPORT_FORMATS as readonly string[]).includes(options.format))
            throw new Error(`--format must be one of ${EXPORT_FORMATS.join(', ')}, got "${options.format}"`);
          if (options.units !== undefined && !(EXPORT_UNITS as readonly string[]).includes(options.units))
            throw new Error(`--units must be one of ${EXPORT_UNITS.join(', ')}, got "${options.units}"`);
          const format = options.format as ExportFormat;
          const units = options.units as ExportUnits | undefined;
          const client = createClient(resolveConnection(options.url));
          const vehicle = await findVehicle(client, vin);
          const download = options.session
            ? await client.transfer.exportSession(options.session, format, undefined, units)
            : await client.transfer.exportVehicle(vehicle.id, {
                format,
                ...(units ? { units } : {}),
                ...(options.from ? { from: options.from } : {}),
                ...(options.to ? { to: options.to } : {}),
                ...(options.metrics ? { metrics: options.metrics.split(',') } : {}),
              });
          const target: Writable = options.output ? createWriteStream(options.output) : process.stdout;
          const progress = new Progress(`export ${download.fileName}`, null);
          await pipeline(
            Readable.fromWeb(download.body as import('node:stream/web').ReadableStream),
            counter(progress),
            target,
            ...(options.output ? [] : [{ end: false }]),
          );
          progress.stop();
          if (options.output) process.stderr.write(`wrote ${options.output}\n`);
        },
      ),
    );

  program
    .command('import')
    .description('import a GPX, GeoJSON, NDJSON or CSV file into a vehicle; each track becomes a recording')
    .argument('<vin>', 'the VIN (or id) of the vehicle')
    .argument('<file>', 'the file to import')
    .option('--format <format>', `one of ${IMPORT_FORMATS.join(', ')} (default: from the file name)`)
    .option('--name <name>', 'a name for recordings the file does not name')
    .option('--json', 'print the reply as JSON')
    .option('--url <url>', 'server URL (default: TACHO_URL, the saved login, or http://127.0.0.1:8080)')
    .action(
      action(
        async (
          vin: string,
          file: string,
          options: { format?: string; name?: string; json?: boolean; url?: string },
        ) => {
          const format = (options.format ?? formatOfFileName(file)) as ImportFormat | null;
          if (!format || !(IMPORT_FORMATS as readonly string[]).includes(format))
            throw new Error(
              `--format must be one of ${IMPORT_FORMATS.join(', ')} (the file name does not say)`,
            );
          const size = statSync(file).size;
          const client = createClient(resolveConnection(options.url));
          const vehicle = await findVehicle(client, vin);
          const progress = new Progress(`import ${basename(file)}`, size);
          const body = createReadStream(file).pipe(counter(progress));
          let result: Awaited<ReturnType<typeof client.transfer.importFile>>;
          try {
            result = await client.transfer.importFile(
              vehicle.id,
              format,
              Readable.toWeb(body) as unknown as ReadableStream<Uint8Array>,
              options.name ? { name: options.name } : {},
            );
          } finally {
            progress.stop();
          }
          if (options.json) {
            process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
            return;
          }
          process.stdout.write(
            `imported ${basename(file)} into ${vehicle.name}: ${result.stored} samples stored, ${result.duplicates} duplicates, ` +
              `${result.rejected} refused, ${result.events} events, ${result.sessionsCreated} sessions created\n`,
          );
          for (const reason of result.reasons) process.stdout.write(`  refused: ${reason}\n`);
        },
      ),
    );
}

import type { CompiledQuery, Kysely } from 'kysely';
import type { Database } from './tables.js';

/** Both engines allow 32k+ bound parameters a statement; 1,000 rows of up to 13 columns stay well below. */
const MAX_ROWS = 1000;

/**
 * A multi-row statement (an insert or upsert of many rows) run over any number of rows. Building and
 * compiling a 1,000-row statement through Kysely costs more than running it (it walks every value node),
 * and a text that changes with each row count is prepared again every time. The text depends only on the
 * row count and the dialect, so it is compiled once per shape — rows split into power-of-two chunks of at
 * most 1,000, so there are at most ten shapes — and run with fresh parameters.
 */
export class ChunkedStatement<Row> {
  private readonly compiled = new WeakMap<object, Map<number, CompiledQuery>>();

  /**
   * @param name names the statement in the error raised if `build` does not bind one parameter per column.
   * @param columns the order `build`'s statement binds each row's values in.
   * @param build the statement for `rows` placeholder rows.
   */
  constructor(
    private readonly name: string,
    private readonly columns: ReadonlyArray<keyof Row>,
    private readonly build: (db: Kysely<Database>, rows: number) => { compile(): CompiledQuery },
  ) {}

  /** Runs the statement over `rows`, in order; returns the rows it returned (RETURNING), if any. */
  async run<Result = unknown>(db: Kysely<Database>, rows: readonly Row[]): Promise<Result[]> {
    const returned: Result[] = [];
    let offset = 0;
    while (offset < rows.length) {
      const left = Math.min(rows.length - offset, MAX_ROWS);
      // The largest power of two that fits: at most ten statement shapes, at most ten statements.
      const size = left >= MAX_ROWS ? MAX_ROWS : 2 ** Math.floor(Math.log2(left));
      const parameters: unknown[] = new Array(size * this.columns.length);
      let p = 0;
      for (let r = offset; r < offset + size; r++) {
        const row = rows[r]!;
        for (const column of this.columns) parameters[p++] = row[column];
      }
      const result = await db.executeQuery<Result>({ ...this.shape(db, size), parameters });
      for (const row of result.rows) returned.push(row);
      offset += size;
    }
    return returned;
  }

  private shape(db: Kysely<Database>, rows: number): CompiledQuery {
    const adapter = db.getExecutor().adapter;
    let shapes = this.compiled.get(adapter);
    if (!shapes) {
      shapes = new Map();
      this.compiled.set(adapter, shapes);
    }
    let compiled = shapes.get(rows);
    if (!compiled) {
      compiled = this.build(db, rows).compile();
      if (compiled.parameters.length !== rows * this.columns.length) {
        throw new Error(`unexpected parameter layout for the ${this.name}`);
      }
      shapes.set(rows, compiled);
    }
    return compiled;
  }
}

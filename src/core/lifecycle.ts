// The one lifecycle every node service shares (js-libp2p's Startable): services start in the order the
// assembly starts them and stop in reverse; a node whose start fails stops what already started.
import { describeError } from './errors.ts';

/** A service with a start/stop lifecycle. */
export interface Startable {
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

/** Services started so far, stopped in reverse order (each at most once). */
export class Lifecycle {
  private readonly running: { name: string; service: Startable }[] = [];
  private stopping: Promise<void> | undefined;
  private readonly onStopError: (name: string, error: string) => void;

  constructor(onStopError: (name: string, error: string) => void = () => {}) {
    this.onStopError = onStopError;
  }

  /** Starts a service now and records it for stop(). A service whose start throws is not recorded. */
  async start<T extends Startable>(name: string, service: T): Promise<T> {
    if (this.stopping) throw new Error(`cannot start ${name}: the lifecycle is stopping`);
    await service.start();
    this.running.push({ name, service });
    return service;
  }

  /** Records something already open (a file, a database) so that stop() closes it in its turn. */
  adopt(name: string, close: () => unknown): void {
    this.running.push({ name, service: { start: () => {}, stop: async () => void (await close()) } });
  }

  /** Names of the running services, in start order. */
  names(): string[] {
    return this.running.map((r) => r.name);
  }

  /** Stops every running service in reverse start order; a failing stop is reported and the rest still stop. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const { name, service } of this.running.splice(0).reverse()) {
        try {
          await service.stop();
        } catch (err) {
          this.onStopError(name, describeError(err));
        }
      }
    })();
    return this.stopping;
  }

  /**
   * Runs an assembly: `build` starts services through the lifecycle; when it throws, everything it
   * started is stopped (in reverse) before the error propagates — a half-started node leaves nothing running.
   */
  static async assemble<T>(life: Lifecycle, build: (life: Lifecycle) => Promise<T>): Promise<T> {
    try {
      return await build(life);
    } catch (err) {
      await life.stop();
      throw err;
    }
  }
}

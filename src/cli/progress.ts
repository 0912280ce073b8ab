// Progress display: an ora spinner on an interactive stderr, nothing otherwise (CI, pipes, --json).
import type { ProgressEvent } from '../commands/context.ts';

export interface ProgressDisplay {
  update(event: ProgressEvent): void;
  stop(): void;
}

const silent: ProgressDisplay = { update: () => {}, stop: () => {} };

export async function createProgress(animate: boolean): Promise<ProgressDisplay> {
  if (!animate) return silent;
  const { default: ora } = await import('ora');
  const spinner = ora({ stream: process.stderr, discardStdin: false });
  return {
    update(event) {
      const count = event.total ? ` ${event.done ?? 0}/${event.total}` : event.done ? ` ${event.done}` : '';
      spinner.text = `${event.phase}${count}`;
      if (!spinner.isSpinning) spinner.start();
    },
    stop() {
      if (spinner.isSpinning) spinner.stop();
    },
  };
}

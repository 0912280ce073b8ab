// libp2p's component logger, built only where DEBUG asks for output. @libp2p/logger's default builds `debug`
// instances (three: the logger, its error and its trace logger) for every component and for every scope —
// a scope per stream, per protocol negotiation, per query — and each asks whether stderr is a TTY (a system
// call). With DEBUG unset none of them would ever print. This hands out an inert logger where no name is
// enabled, and @libp2p/logger's own where DEBUG enables the name, its error or its trace logger.
import type { ComponentLogger, Logger } from '@libp2p/interface';
import { enabled, logger } from '@libp2p/logger';

const nothing = (): void => {};

function loggerFor(name: string): Logger {
  if (enabled(name) || enabled(`${name}:error`) || enabled(`${name}:trace`)) return logger(name);
  return Object.assign(() => {}, {
    enabled: false,
    error: nothing,
    trace: nothing,
    newScope: (scope: string) => loggerFor(`${name}:${scope}`),
  });
}

/** The ComponentLogger the host gives libp2p (its `logger` option). */
export const libp2pLogger: ComponentLogger = { forComponent: loggerFor };

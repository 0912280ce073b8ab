// Text rendering of `chorus version`.
import type { BuildInfo } from '../../core/version.ts';
import { renderPairs } from '../pairs.ts';

export function renderVersion(info: BuildInfo): string {
  return renderPairs([
    ['chorus', info.version],
    ['commit', info.commit],
    ['built', info.buildDate],
    ['runtime', info.runtime],
    ['target', info.target],
    [
      'code cache',
      info.codeCache &&
        Object.entries(info.codeCache)
          .map(([bundle, use]) => `${bundle} ${use}`)
          .join(', '),
    ],
    [
      'bundles',
      info.bundleSource &&
        Object.entries(info.bundleSource)
          .map(([bundle, source]) => `${bundle} from the ${source === 'file' ? 'file' : 'mapped executable'}`)
          .join(', '),
    ],
  ]);
}

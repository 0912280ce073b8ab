// `chorus version`: the build identity of this binary.
import { buildInfo, type BuildInfo } from '../core/version.ts';

export function run(): BuildInfo {
  return buildInfo();
}

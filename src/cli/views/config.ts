// Text rendering of `chorus config`: the effective configuration as YAML.
import { stringify } from 'yaml';
import type { ChorusConfig } from '../../core/config/schema.ts';

export function renderConfig(config: ChorusConfig): string {
  return stringify(config);
}

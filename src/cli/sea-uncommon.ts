// uncommon.ts inside the single executable's client bundle: the same modules, taken from the full
// program's asset (loaded on first use by sea-full.ts). The build maps invoke.ts's import of
// ./uncommon.ts here.
import { fullProgram } from './sea-full.ts';
import type * as Uncommon from './uncommon.ts';

export const configLoader: typeof Uncommon.configLoader = () => fullProgram().configLoader();
export const redactorModule: typeof Uncommon.redactorModule = () => fullProgram().redactorModule();

// Modules a client verb loads only on an uncommon path: the config schema and its parser (a config file,
// or a CHORUS_* variable clientConfig leaves to loadConfig) and SHHH's Redactor (the first logged line).
// invoke.ts loads them through here. In the single executable the client entry's bundle gets them from
// the full program's asset instead (sea-uncommon.ts), so zod, yaml and re2js stay out of its main script.
export const configLoader = () => import('../core/config/load.ts');
export const redactorModule = () => import('../core/shhh/redactor.ts');

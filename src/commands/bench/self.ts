// How a benchmark starts more processes of this same program: the single executable itself, or the
// runtime plus the script (from source or the bundle).
export function selfCommand(): { command: string; args: string[] } {
  const sea = process.getBuiltinModule?.('node:sea') as { isSea?: () => boolean } | undefined;
  if (sea?.isSea?.()) return { command: process.execPath, args: [] };
  return { command: process.execPath, args: process.argv[1] ? [process.argv[1]] : [] };
}

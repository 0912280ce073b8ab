// The portal's built files when chorus runs from source: built from ui/ with esbuild (a dev dependency) on
// first use. scripts/build-binaries.ts replaces this module with one that holds the built files as strings,
// so the executable and dist/chorus.mjs never build anything, and never import esbuild.
export async function uiFiles(): Promise<Record<string, string>> {
  const { buildUi } = await import('../../../ui/build.ts');
  return buildUi();
}

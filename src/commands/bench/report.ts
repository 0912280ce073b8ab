// `chorus bench report <report.json> [--html <out.html>]`: reads a report written by `chorus bench … --out` and
// prints its latencies (and SLO verdict), or writes them as one self-contained HTML file — the portal's
// benchmark view with its charts, the report inlined, no server and no network needed to open it.
import { writeFile } from 'node:fs/promises';
import { parseBenchReport, type ParsedBenchReport } from '../../bench/report-file.ts';
import { describeError, UsageError } from '../../core/errors.ts';
import type { CommandContext } from '../context.ts';
import { readInputFile } from '../../core/input-file.ts';

export interface BenchReportOptions {
  file: string;
  /** Write the HTML page here. */
  html?: string;
}

export interface BenchReportResult {
  file: string;
  report: ParsedBenchReport;
  /** The HTML file written, with its size. */
  html?: { file: string; bytes: number };
}

export async function run(opts: BenchReportOptions, _ctx: CommandContext): Promise<BenchReportResult> {
  const text = (await readInputFile(opts.file)).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new UsageError(`${opts.file} is not JSON (a report from chorus bench … --out)`);
  }
  let report: ParsedBenchReport;
  try {
    report = parseBenchReport(json);
  } catch (err) {
    throw new UsageError(`${opts.file}: ${describeError(err)}`);
  }
  if (!opts.html) return { file: opts.file, report };
  const [{ loadAssets }, { benchReportPage }] = await Promise.all([
    import('../../core/hap/assets.ts'),
    import('../../core/hap/report-page.ts'),
  ]);
  const page = benchReportPage(json, await loadAssets(), report.title);
  await writeFile(opts.html, page);
  return { file: opts.file, report, html: { file: opts.html, bytes: Buffer.byteLength(page) } };
}

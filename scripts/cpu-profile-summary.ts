// Summarises a V8 .cpuprofile (from `node --cpu-prof …`): self time per function, heaviest first.
//   node scripts/cpu-profile-summary.ts <file.cpuprofile> [top=25]
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node scripts/cpu-profile-summary.ts <file.cpuprofile> [top]\n');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<string, number>();
let total = 0;
profile.samples.forEach((id, i) => {
  const frame = byId.get(id)?.callFrame;
  const dt = profile.timeDeltas[i] ?? 0;
  total += dt;
  if (!frame) return;
  const where = frame.url.includes('/node_modules/')
    ? frame.url.split('/node_modules/').pop()!.split('/').slice(0, 2).join('/')
    : frame.url.replace(/^file:\/\/.*\/src\//, 'src/');
  const key = `${frame.functionName || '(anonymous)'} ${where}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;
  self.set(key, (self.get(key) ?? 0) + dt);
});
process.stdout.write(`total ${(total / 1000).toFixed(0)} ms sampled\n`);
for (const [key, t] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg ?? 25))) {
  process.stdout.write(
    `${(t / 1000).toFixed(0).padStart(7)} ms ${((100 * t) / total).toFixed(1).padStart(5)} %  ${key}\n`,
  );
}

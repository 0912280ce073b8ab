// Tables for text output (cli-table3), without colour codes unless colour is on.
import Table from 'cli-table3';

export function renderTable(head: string[], rows: (string | number)[][], color: boolean): string {
  const table = new Table({
    head,
    style: { head: color ? ['cyan'] : [], border: color ? ['grey'] : [], compact: false },
  });
  for (const row of rows) table.push(row.map(String));
  return table.toString();
}

// Damages store files the way disks and careless operators do: garbage written over the middle of a file,
// and a file cut short. Used by the integrity tests of the event log and the node's start.
import { closeSync, openSync, statSync, truncateSync, writeSync } from 'node:fs';

/** Overwrites `bytes` (default two 4 KiB pages) in the middle of the file with 0x41 ('A'). */
export function garbageInMiddle(file: string, bytes = 8192): void {
  const size = statSync(file).size;
  if (size < bytes * 3) throw new Error(`${file} is too small (${size} bytes) to damage its middle`);
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, Buffer.alloc(bytes, 0x41), 0, bytes, Math.floor(size / 2));
  } finally {
    closeSync(fd);
  }
}

/** Cuts the file to a third of its size. */
export function truncateFile(file: string): void {
  truncateSync(file, Math.floor(statSync(file).size / 3));
}

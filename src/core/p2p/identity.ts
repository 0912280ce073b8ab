// The node's persistent Ed25519 identity: created on first start in the data dir (mode 0600),
// loaded afterwards. A damaged identity file is an error, never silently replaced.
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys';
import type { PeerId, PrivateKey } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { chmod, mkdir, open, readFile, rename, stat } from 'node:fs/promises';
import { dataFile } from '../datadir.ts';
import { ChorusError, describeError } from '../errors.ts';

export interface Identity {
  privateKey: PrivateKey;
  peerId: PeerId;
  created: boolean;
  file: string;
}

/** Creates the data dir (0700) if needed. */
export async function ensureDataDir(dataDir: string): Promise<void> {
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new ChorusError('DATA_DIR', `cannot create data dir ${dataDir}: ${describeError(err)}`, { cause: err });
  }
}

/** Writes a file atomically with mode 0600 (temp file, fsync, rename). */
export async function writePrivateFile(file: string, bytes: Uint8Array | string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
}

export async function loadOrCreateIdentity(dataDir: string): Promise<Identity> {
  await ensureDataDir(dataDir);
  const file = dataFile(dataDir, 'identity');
  let bytes: Uint8Array | undefined;
  try {
    bytes = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ChorusError('IDENTITY_UNREADABLE', `cannot read identity ${file}: ${describeError(err)}`, {
        cause: err,
      });
    }
  }
  if (bytes) {
    let privateKey: PrivateKey;
    try {
      privateKey = privateKeyFromProtobuf(bytes);
    } catch (err) {
      throw new ChorusError(
        'IDENTITY_CORRUPT',
        `identity file ${file} is damaged (${describeError(err)}); restore it from backup or move it away to create a new identity`,
        { cause: err },
      );
    }
    if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, 0o600);
    return { privateKey, peerId: peerIdFromPrivateKey(privateKey), created: false, file };
  }
  const privateKey = await generateKeyPair('Ed25519');
  await writePrivateFile(file, privateKeyToProtobuf(privateKey));
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey), created: true, file };
}

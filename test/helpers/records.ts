// Signed decision records for unit tests: a valid record (its payload a stand-in ciphertext) of a subject
// and version, signed by the given signer.
import { encodeRecord, signDecision } from '../../src/core/decisions/record.ts';
import type { Signer } from '../../src/core/p2p/signer.ts';

export function signedRecordBytes(signer: Signer, subject: string, version: number): Uint8Array {
  const record = signDecision(
    {
      v: 1,
      subject,
      version,
      author: signer.author,
      authorRole: 'architect',
      timestamp: new Date().toISOString(),
      contentType: 'text/plain',
      prevHash: version === 1 ? '' : 'a'.repeat(64),
      roles: ['developer'],
      payload: Buffer.from('ciphertext').toString('base64'),
      size: 10,
    },
    signer.sign,
  );
  return encodeRecord(record);
}

// readAll over real libp2p streams: the whole message, including one that was sent and closed
// before the reader started (the case libp2p's async iterator never ends on), bounded by size and time.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Stream } from '@libp2p/interface';
import { readAll } from '../../src/core/p2p/streams.ts';
import { plainHosts, type PlainHost } from '../helpers/cluster.ts';

const PROTOCOL = '/chorus/test/read-all/1.0.0';

describe('readAll', () => {
  let server: PlainHost;
  let client: PlainHost;
  let onStream: (stream: Stream) => void = () => {};

  before(async () => {
    [server, client] = (await plainHosts(2)) as [PlainHost, PlainHost];
    await server.host.handle(PROTOCOL, (stream) => onStream(stream));
    await client.host.dial(server.host.getMultiaddrs()[0]!);
  });
  after(() => Promise.all([server.stop(), client.stop()]));

  /** Opens a stream to the server, sends `parts` and closes the writable end; returns the server's side. */
  async function send(parts: string[]): Promise<{ served: Stream; sent: Stream }> {
    const served = new Promise<Stream>((resolve) => (onStream = resolve));
    const sent = await client.host.dialProtocol(server.host.peerId, PROTOCOL);
    for (const p of parts) sent.send(Buffer.from(p));
    await sent.close();
    return { served: await served, sent };
  }

  test('reads a request the remote sent and closed before reading began', async () => {
    const { served } = await send(['{"op":', '"prove"}']);
    if (served.remoteWriteStatus !== 'closed') {
      await new Promise((resolve) => served.addEventListener('remoteCloseWrite', resolve, { once: true }));
    }
    assert.equal(served.readBufferLength > 0, true, 'the request is waiting in the buffer');
    const body = await readAll(served, 1024, AbortSignal.timeout(5000));
    assert.equal(body.toString('utf8'), '{"op":"prove"}');
  });

  test('refuses a message over the size limit and resets the stream', async () => {
    const { served } = await send(['x'.repeat(600), 'y'.repeat(600)]);
    await assert.rejects(readAll(served, 1000, AbortSignal.timeout(5000)), /message too large/);
    assert.equal(served.status, 'aborted');
  });

  test('gives up when the remote never finishes, with the signal as the reason', async () => {
    const served = new Promise<Stream>((resolve) => (onStream = resolve));
    const sent = await client.host.dialProtocol(server.host.peerId, PROTOCOL);
    sent.send(Buffer.from('{"op":'));
    const controller = new AbortController();
    const reading = readAll(await served, 1024, controller.signal);
    controller.abort(new Error('deadline passed'));
    await assert.rejects(reading, /deadline passed/);
    sent.abort(new Error('test over'));
  });
});

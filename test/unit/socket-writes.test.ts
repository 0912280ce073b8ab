// Tests for src/core/p2p/socket-writes.ts: a send of several chunks on a TCP connection reaches the socket as one
// write (a writev), with the bytes unchanged and in order; anything that is not such a connection is left alone.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, Socket, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { coalesceSocketWrites } from '../../src/core/p2p/socket-writes.ts';

/** A connected loopback socket pair, the client's writes counted by kind (one _write or _writev call each). */
async function socketPair(): Promise<{ client: Socket; server: Socket; writes: { single: number; vector: number } }> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const accepted = once(srv, 'connection');
  const client = new Socket();
  client.connect((srv.address() as AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  const [server] = (await accepted) as [Socket];
  srv.close();
  const writes = { single: 0, vector: 0 };
  const write = client._write.bind(client);
  const writev = client._writev!.bind(client);
  client._write = (...args) => (writes.single++, write(...args));
  client._writev = (...args) => (writes.vector++, writev(...args));
  return { client, server, writes };
}

/** As @libp2p/tcp's connection: every chunk of a send written to the socket on its own. */
function tcpConnection(socket: Socket): { socket: Socket; sendData(data: Uint8Array[]): boolean } {
  return {
    socket,
    sendData(data) {
      let more = true;
      for (const chunk of data) more = socket.write(chunk);
      return more;
    },
  };
}

async function received(server: Socket, bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  for await (const chunk of server) {
    chunks.push(chunk as Buffer);
    got += (chunk as Buffer).length;
    if (got >= bytes) break;
  }
  return Buffer.concat(chunks);
}

test('a send of a frame (length, then ciphertext) reaches the socket as one write, bytes unchanged', async () => {
  const { client, server, writes } = await socketPair();
  try {
    const conn = tcpConnection(client);
    coalesceSocketWrites(conn);
    coalesceSocketWrites(conn); // a second call changes nothing
    const frames = [Buffer.from([0, 5]), Buffer.from('hello'), Buffer.from([0, 3]), Buffer.from('abc')];
    const arrived = received(server, 12);
    assert.equal(conn.sendData(frames.slice(0, 2)), true);
    assert.equal(conn.sendData(frames.slice(2)), true);
    assert.deepEqual(writes, { single: 0, vector: 2 }, 'one writev per send');
    assert.deepEqual(await arrived, Buffer.concat(frames));
  } finally {
    client.destroy();
    server.destroy();
  }
});

test('anything but a TCP connection with a socket is left as it is', () => {
  const sendData = (): boolean => true;
  const noSocket = { sendData };
  coalesceSocketWrites(noSocket);
  assert.equal(noSocket.sendData, sendData);
  coalesceSocketWrites(undefined);
  coalesceSocketWrites({ socket: {}, sendData });
});

// Fewer socket writes on a TCP connection: every send made during one turn of the event loop reaches the kernel
// in one writev. Noise hands the connection every encrypted frame as a list of chunks (its 2-byte length, then
// the ciphertext) and @libp2p/tcp writes the chunks of a list one by one; and one turn often sends several frames
// on one connection (a request answered within the turn it arrived in behind yamux's window update, the frames
// of a few streams). On a loopback TCP socket each write syscall also runs the receiver's side of the kernel's
// TCP path (~0.15 ms of CPU apiece on the development VM). The socket is corked at the first send of a turn and
// uncorked once the turn's callbacks have run (setImmediate): the bytes on the wire and their order are
// unchanged, and a send waits at most for the rest of the turn.

/** The parts of @libp2p/tcp's multiaddr connection (dist/src/socket-to-conn.js) this relies on. */
interface TcpConnectionLike {
  socket: { cork(): void; uncork(): void };
  sendData(data: unknown): unknown;
}

const corked = new WeakSet<object>();

function isTcpConnection(value: unknown): value is TcpConnectionLike {
  const c = value as Partial<TcpConnectionLike> | null;
  return (
    typeof c?.sendData === 'function' && typeof c.socket?.cork === 'function' && typeof c.socket.uncork === 'function'
  );
}

/** Makes a raw TCP multiaddr connection write the sends of one event-loop turn in one syscall (anything else is left as it is). */
export function coalesceSocketWrites(maConn: unknown): void {
  if (!isTcpConnection(maConn) || corked.has(maConn)) return;
  corked.add(maConn);
  const send = maConn.sendData.bind(maConn);
  const socket = maConn.socket;
  let open = false;
  const uncork = (): void => {
    open = false;
    socket.uncork();
  };
  maConn.sendData = (data) => {
    if (!open) {
      open = true;
      socket.cork();
      setImmediate(uncork);
    }
    return send(data);
  };
}

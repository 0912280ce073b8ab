// One socket write per send of a TCP connection: Noise hands the connection every encrypted frame as a list of
// chunks (its 2-byte length, then the ciphertext) and @libp2p/tcp writes the chunks of a list one by one — two
// write syscalls per frame, and on a loopback TCP socket each syscall also runs the receiver's side of the
// kernel's TCP path (~0.15 ms of CPU apiece on the development VM). Corking the socket for the duration of one
// send makes Node hand the chunks to the kernel in one writev. The bytes on the wire are unchanged.

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

/** Makes a raw TCP multiaddr connection write each send in one syscall (anything else is left as it is). */
export function coalesceSocketWrites(maConn: unknown): void {
  if (!isTcpConnection(maConn) || corked.has(maConn)) return;
  corked.add(maConn);
  const send = maConn.sendData.bind(maConn);
  const socket = maConn.socket;
  maConn.sendData = (data) => {
    socket.cork();
    try {
      return send(data);
    } finally {
      socket.uncork();
    }
  };
}

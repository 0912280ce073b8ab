// Yamux receive-window updates at half the window, as go-yamux and the Go/Rust libp2p stacks send them.
// @chainsafe/libp2p-yamux 8 answers every data frame it receives with a window-update frame: its own Noise
// message, socket write and wake-up of the other process, for every request and every answer on a channel —
// half the socket writes of a decision PUT. Flow control is unchanged: the sender may still have at most one
// window in flight, and the update goes out as soon as half of it was consumed (a SYN/ACK or a paused stream
// keeps the library's own behaviour). Installed once per process, by createHost.
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream';

interface WindowFields {
  state: number;
  recvWindow: number;
  recvWindowCapacity: number;
}

const PATCHED = Symbol.for('chorus.yamux.halfWindowUpdates');

/** Makes every yamux stream of this process send its receive-window update once half the window is consumed. Idempotent. */
export function installHalfWindowUpdates(): void {
  const proto = YamuxStream.prototype as unknown as Record<PropertyKey, unknown> & {
    sendWindowUpdate: (this: WindowFields) => void;
  };
  if (proto[PATCHED]) return;
  const original = proto.sendWindowUpdate;
  proto.sendWindowUpdate = function sendWindowUpdate(this: WindowFields): void {
    if (this.state === StreamState.Established && this.recvWindow - this.recvWindowCapacity < this.recvWindow / 2)
      return;
    original.call(this);
  };
  proto[PATCHED] = true;
}

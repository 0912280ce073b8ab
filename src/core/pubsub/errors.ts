// Errors specific to publishing.
import { ChorusError } from '../errors.ts';

/**
 * Nobody is subscribed to the topic (after waiting for the mesh, or at once when this node has no peer to
 * wait for): the message would go nowhere.
 */
export class NoSubscribersError extends ChorusError {
  readonly topic: string;
  constructor(topic: string, waitedMs: number, alone = false) {
    super(
      'NO_SUBSCRIBERS',
      alone
        ? `no peer is subscribed to ${topic}: this node is connected to no peer and is not dialling one`
        : `no peer is subscribed to ${topic} (waited ${waitedMs} ms for the mesh)`,
    );
    this.name = 'NoSubscribers';
    this.topic = topic;
  }
}

/** Delivery could not be confirmed by enough peers in time. */
export class NotConfirmedError extends ChorusError {
  constructor(message: string) {
    super('NOT_CONFIRMED', message);
    this.name = 'NotConfirmed';
  }
}

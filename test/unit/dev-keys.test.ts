// Operator clarity for role keys: dev nodes of one dev authority share its role keys, so a decision
// written on one is readable on another whose role may read it; a node whose keyring holds the role
// but not the writer's key says so, instead of a bare "not a recipient".
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { NotARecipientError } from '../../src/core/crypto/envelope.ts';
import { RoleKeyring } from '../../src/core/crypto/keyring.ts';
import type { ChorusNode } from '../../src/core/node/node.ts';
import { parseAddress } from '../../src/core/ucxl/address.ts';
import { connectAll, startCluster, startNode, stopAll } from '../helpers/cluster.ts';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('dev nodes sharing a dev authority', () => {
  let nodes: ChorusNode[] = [];
  before(async () => {
    // every node has its own data dir and so its own keyring file (no keys.keyring shared by hand)
    nodes = await startCluster(3, { roles: ['architect', 'developer', 'observer'] });
  });
  after(() => stopAll(nodes));

  test('share the dev role keys: a decision written on one node is readable on another whose role may read it', async () => {
    const [a, b, c] = nodes as [ChorusNode, ChorusNode, ChorusNode];
    assert.notEqual(a.keyring.file, b.keyring.file);
    assert.equal(a.keyring.current('developer')?.recipient, b.keyring.current('developer')?.recipient);
    const address = parseAddress('ucxl://alice:architect@devkeys:t/*^/adr/1');
    await a.decisions.put(address, text('shared'), { roles: ['developer'] });
    assert.equal(new TextDecoder().decode((await b.decisions.get(address)).content), 'shared');
    // a role that may not read it is still told so, plainly
    await assert.rejects(c.decisions.get(address), (err: unknown) => {
      assert.ok(err instanceof NotARecipientError);
      assert.match(err.message, /cannot decrypt this decision \(not a recipient\)/);
      return true;
    });
  });

  test('a node whose keyring holds the role but another key says that it does not match the writer’s', async () => {
    // a keyring made elsewhere (another cluster's keys), given to a developer node of this dev cluster
    const file = join(mkdtempSync(join(tmpdir(), 'chorus-foreign-keys-')), 'keyring.json');
    const foreign = await RoleKeyring.open(file);
    await foreign.ensureRoles(['admin', 'architect', 'developer', 'observer']);
    const d = await startNode({ agent: { role: 'developer' }, keys: { keyring: file } });
    nodes.push(d);
    await connectAll(nodes);
    const address = parseAddress('ucxl://alice:architect@devkeys:t/*^/adr/2');
    await nodes[0]!.decisions.put(address, text('for developers'), { roles: ['developer'] });
    await assert.rejects(d.decisions.get(address), (err: unknown) => {
      assert.ok(err instanceof NotARecipientError);
      assert.match(
        err.message,
        /^this node's developer key does not match the writer's — keyring from another cluster\?/,
      );
      return true;
    });
  });
});

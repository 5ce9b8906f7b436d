// node-consul 2.x (npm `consul`) against consul-sim: KV, sessions, txn, events and a blocking
// query. Any answer the client rejects, or a value Consul would not give, fails the run.
"use strict";
const assert = require("assert");
const Consul = require("consul");

const url = new URL(process.env.CONSUL_SIM_URL);
const consul = new Consul({ host: url.hostname, port: url.port });

async function main() {
  // KV
  assert.strictEqual(await consul.kv.set("node/a", "1"), true);
  assert.strictEqual(await consul.kv.set({ key: "node/b", value: "2", flags: 7 }), true);
  const a = await consul.kv.get("node/a");
  assert.strictEqual(a.Key, "node/a");
  assert.strictEqual(a.Value, "1");
  const b = await consul.kv.get("node/b");
  assert.strictEqual(b.Flags, 7);
  assert.strictEqual(await consul.kv.get("node/missing"), undefined);
  const all = await consul.kv.get({ key: "node/", recurse: true });
  assert.deepStrictEqual(all.map((e) => e.Key), ["node/a", "node/b"]);
  assert.deepStrictEqual(await consul.kv.keys("node/"), ["node/a", "node/b"]);
  // A refused cas answers `false`, which node-consul hands back as a falsy result.
  assert.ok(!(await consul.kv.set({ key: "node/a", value: "3", cas: 1 })));
  assert.strictEqual((await consul.kv.get("node/a")).Value, "1", "a refused cas changes nothing");
  assert.strictEqual(await consul.kv.set({ key: "node/a", value: "3", cas: a.ModifyIndex }), true);
  assert.strictEqual(await consul.kv.del("node/b"), true);

  // Sessions and locks
  const session = await consul.session.create({ name: "node-client", ttl: "15s", lockdelay: "1s" });
  assert.match(session.ID, /^[0-9a-f-]{36}$/);
  // node-consul 2 hands back the first item of `session/info`'s array.
  const info = await consul.session.info(session.ID);
  assert.strictEqual(info.ID, session.ID);
  assert.strictEqual(info.TTL, "15s");
  assert.strictEqual(info.Node, "node1");
  assert.strictEqual(await consul.kv.set({ key: "node/lock", value: "me", acquire: session.ID }), true);
  const lock = await consul.kv.get("node/lock");
  assert.strictEqual(lock.Session, session.ID);
  assert.strictEqual(lock.LockIndex, 1);
  const renewed = await consul.session.renew(session.ID);
  assert.strictEqual((Array.isArray(renewed) ? renewed[0] : renewed).ID, session.ID);
  const listed = await consul.session.list();
  assert.ok(listed.some((s) => s.ID === session.ID));
  const onNode = await consul.session.node("node1");
  assert.ok(onNode.some((s) => s.ID === session.ID));
  await consul.session.destroy(session.ID);
  assert.strictEqual((await consul.kv.get("node/lock")).Session, undefined);

  // Transactions
  const ok = await consul.transaction.create([
    { KV: { Verb: "set", Key: "node/t1", Value: Buffer.from("x").toString("base64") } },
    { KV: { Verb: "get", Key: "node/t1" } },
  ]);
  assert.strictEqual(ok.Errors, null);
  assert.strictEqual(ok.Results.length, 2);
  assert.strictEqual(ok.Results[1].KV.Key, "node/t1");
  await assert.rejects(
    consul.transaction.create([
      { KV: { Verb: "set", Key: "node/t2", Value: "" } },
      { KV: { Verb: "check-not-exists", Key: "node/t1" } },
    ]),
    (err) => err.statusCode === 409,
  );
  assert.strictEqual(await consul.kv.get("node/t2"), undefined, "a failed txn rolls back");

  // Events
  const fired = await consul.event.fire("node-deploy", "payload");
  assert.strictEqual(fired.Name, "node-deploy");
  assert.strictEqual(fired.Payload, "payload");
  const events = await consul.event.list("node-deploy");
  assert.strictEqual(events.length, 1);
  assert.strictEqual(events[0].ID, fired.ID);
  assert.strictEqual(events[0].Payload, "payload");

  // A blocking query returns when the key changes.
  const before = await consul.kv.get({ key: "node/a" }, { extra: true });
  const index = before.ModifyIndex;
  const waiting = consul.kv.get({ key: "node/a", index, wait: "30s" });
  setTimeout(() => consul.kv.set("node/a", "changed"), 50);
  const changed = await waiting;
  assert.strictEqual(changed.Value, "changed");
  assert.ok(changed.ModifyIndex > index);

  // agent/self and status
  const self = await consul.agent.self();
  assert.strictEqual(self.Config.NodeName, "node1");
  assert.strictEqual(self.Stats.consul.leader_addr, await consul.status.leader());
  console.log("node-consul: all checks passed");
}

main().catch((err) => {
  console.error("node-consul check failed:", err);
  process.exit(1);
});

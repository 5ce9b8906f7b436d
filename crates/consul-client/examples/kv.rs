//! Writes, reads, lists and deletes a few keys, then takes and releases a lock.
//!
//! Run it against a Consul agent (or `consul-sim --listen 127.0.0.1:8500`), configured with
//! Consul's usual variables:
//!
//! ```text
//! CONSUL_HTTP_ADDR=http://127.0.0.1:8500 cargo run -p consul-client --example kv
//! ```

use std::time::Duration;

use consul_client::{
    AcquireMode, Client, DeleteOptions, Lock, LockAttempt, LockOptions, PutOptions, QueryOptions,
    TxnOp,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), consul_client::Error> {
    let client = Client::from_env()?;
    let kv = client.kv();

    // A create-only write, then an ordinary one.
    let created = kv
        .put("example/greeting", b"hello", &PutOptions::new().cas(0))
        .await?;
    println!("created example/greeting: {created}");
    kv.put("example/colour", b"blue", &PutOptions::new().flags(7))
        .await?;

    // Read one key with its metadata, then the whole prefix.
    let (pair, meta) = kv
        .get("example/greeting", &QueryOptions::consistent())
        .await?;
    if let Some(pair) = pair {
        println!(
            "{} = {:?} (modify index {}, X-Consul-Index {})",
            pair.key,
            pair.value_str(),
            pair.modify_index,
            meta.index
        );
    }
    let (pairs, _) = kv.list("example/", &QueryOptions::new()).await?;
    for p in &pairs {
        println!("  {} = {:?} flags {}", p.key, p.value_str(), p.flags);
    }

    // Change both keys atomically, only if the greeting is unchanged.
    let greeting_index = pairs
        .iter()
        .find(|p| p.key == "example/greeting")
        .map_or(0, |p| p.modify_index);
    match client
        .txn(&[
            TxnOp::check_index("example/greeting", greeting_index),
            TxnOp::set("example/greeting", b"bonjour".to_vec()),
            TxnOp::set("example/colour", b"green".to_vec()),
        ])
        .await
    {
        Ok(done) => println!("transaction applied ({} results)", done.results.len()),
        Err(e) => println!("transaction not applied: {e}"),
    }

    // A lock: someone else holding it is reported, not waited for forever.
    let lock = Lock::new(
        client.clone(),
        LockOptions::new("example/lock", b"kv example".to_vec()),
    )?;
    match lock
        .acquire(AcquireMode::WaitUpTo(Duration::from_secs(5)))
        .await?
    {
        LockAttempt::Acquired(held) => {
            println!("holding example/lock with session {}", held.session_id());
            held.release().await?;
            println!("released example/lock");
        }
        LockAttempt::Busy { holder } => {
            let who = holder
                .as_ref()
                .and_then(|p| p.value_str())
                .unwrap_or("unknown");
            println!("example/lock is held by {who}");
        }
        _ => {}
    }

    kv.delete("example/", &DeleteOptions::recurse()).await?;
    println!("deleted example/");
    Ok(())
}

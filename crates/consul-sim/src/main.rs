//! The `consul-sim` binary.

fn main() {
    println!("consul-sim: not yet serving");
}

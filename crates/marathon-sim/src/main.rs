//! The `marathon-sim` binary.

fn main() {
    println!("marathon-sim: not yet serving");
}

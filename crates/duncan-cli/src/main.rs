//! The `duncan` command line.

fn main() {
    println!("duncan {}", env!("CARGO_PKG_VERSION"));
}

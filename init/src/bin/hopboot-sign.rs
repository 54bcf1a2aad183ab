//! `hopboot-sign`: signing keys and signed boot manifests (docs/trust.md),
//! what `hopboot sign` runs. A program of its own so that the signing code
//! (Ed25519 signing, key generation) stays out of the `hopboot` binary that
//! boot images carry: they only verify.

#[allow(dead_code)]
#[path = "../options.rs"]
mod options;
#[path = "../sign.rs"]
mod sign;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(sign::run(&args));
}

//! hopboot: as PID 1 it finds the machine's boot entries and kexecs one; run
//! by a user it is a command-line tool (`hopboot probe`, …).
#![deny(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli;
mod kmsg;
mod live;
mod lock;
mod machine;
mod menu;
mod options;
mod pid1;
mod prompt;
mod why;

fn main() {
    if std::process::id() == 1 {
        pid1::run() // never returns
    }
    std::process::exit(cli::run(std::env::args().skip(1).collect()))
}

//! `lottery-lab`: the app in a window, or the command line (`run`, `presets`, `bench`).

#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

// The web build starts from `lottery_lab::web::WebHandle`; this binary is native only.
#[cfg(target_arch = "wasm32")]
fn main() {}

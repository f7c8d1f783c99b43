//! `edgebench device`: this machine's fingerprint.

use edgebench::results::device::HostFingerprint;

#[derive(clap::Args)]
pub struct Args {
    /// As JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Also measure memory bandwidth (STREAM-like copy, a few seconds).
    #[arg(long)]
    probe: bool,
}

pub fn exec(a: Args) -> anyhow::Result<u8> {
    let mut fp = HostFingerprint::read();
    if a.probe {
        fp.memory_bandwidth_gbs = Some(edgebench::results::bandwidth::probe());
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&fp).unwrap_or_default());
    } else {
        print!("{}", fp.render());
    }
    Ok(0)
}

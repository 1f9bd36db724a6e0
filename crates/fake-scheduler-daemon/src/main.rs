//! `gthulhu-fake-scheduler-daemon`: the fake daemon on a fixed address,
//! for `cargo xtask demo` (the DM's `daemon.endpoint`).

use clap::Parser;
use gthulhu_fake_scheduler_daemon::{FakeDaemon, Options};

#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:18080")]
    listen: std::net::SocketAddr,
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let daemon = FakeDaemon::start(Options {
        listen: args.listen,
        ..Options::default()
    })
    .await?;
    println!("fake scheduler daemon on {}", daemon.url());
    tokio::signal::ctrl_c().await?;
    daemon.stop().await;
    Ok(())
}

//! The {{name}} host. `cargo run`: build the module crate, load it, spawn an
//! actor, send it some work, print the answer and exit. `cargo run --
//! --serve`: then keep running with the admin socket open, so that
//! `relive upgrade` can move the actor to a new version while it runs.

use {{ident}}_api::{Answer, Work};
use relive::build::ModuleCrate;
use relive::{ActorRef, Host, SpawnOptions};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let serve = std::env::args().any(|a| a == "--serve");
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new(".."));

    // Build the module crate with cargo and find its library.
    let built = ModuleCrate::at(workspace.join("module")).build()?;
    println!("built {} {} at {}", built.name, built.version, built.path.display());

    let host = Host::new()?;
    host.code_server().upgrade("{{name}}", &built.path)?;
    let actor: ActorRef<Work, Answer> =
        host.spawn_with("{{name}}", &(), SpawnOptions::default().name("{{name}}"))?;
    for n in [1, 2, 3] {
        actor.call(Work::Add(n))?;
    }
    let answer = actor.call(Work::Get)?;
    println!(
        "{{name}} {}: total {} after {} adds",
        answer.version, answer.total, answer.handled
    );
    if !serve {
        return Ok(());
    }

    let socket = socket(workspace)?;
    let _admin = host.serve_admin(&socket)?;
    println!("admin socket: {}", socket.display());
    println!(
        "upgrade with: relive build module && relive --host {} upgrade {{name}} <the .so it printed>",
        socket.display()
    );
    // Keep working, and say when another version starts answering.
    let mut seen = answer.version;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let answer = actor.call(Work::Add(1))?;
        if answer.version != seen {
            println!(
                "{{name}}: now served by version {} (total {}, state kept)",
                answer.version, answer.total
            );
            seen = answer.version;
        }
    }
}

/// `$RELIVE_SOCKET`, or `target/relive/admin.sock` in the workspace (in a
/// directory only you may enter: the host refuses one others can write).
fn socket(workspace: &Path) -> std::io::Result<PathBuf> {
    if let Some(path) = std::env::var_os("RELIVE_SOCKET") {
        return Ok(PathBuf::from(path));
    }
    let dir = workspace.join("target").join("relive");
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    Ok(dir.join("admin.sock"))
}

//! Shell completions and man pages, generated from the command-line definitions themselves
//! (`clap_complete`, `clap_mangen`), so they can never describe flags that do not exist; and
//! the OpenAPI document (`custos openapi`), which the client libraries are generated from.
use anyhow::{Context as _, Result};
use std::path::Path;
use std::process::ExitCode;

/// `custos completions bash|zsh|fish|…`: the script on stdout.
pub fn completions(shell: clap_complete::Shell, mut cmd: clap::Command) -> Result<ExitCode> {
    // Into a buffer first: the generator panics on a write error (`| head` closing the pipe).
    let mut buf = vec![];
    clap_complete::generate(shell, &mut cmd, "custos", &mut buf);
    match std::io::Write::write_all(&mut std::io::stdout().lock(), &buf) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e).context("writing the completion script"),
    }
}

/// `custos man --out DIR`: `custos.1`, and `custos-<sub>[-<sub>…].1` for every subcommand.
pub fn man(out: &Path, cmd: clap::Command) -> Result<ExitCode> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut written = 0usize;
    let mut cmd = cmd.name("custos");
    // Built, so every subcommand carries the global flags it inherits.
    cmd.build();
    write_pages(out, cmd, "custos", &mut written)?;
    eprintln!("{written} man pages written to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

fn write_pages(dir: &Path, cmd: clap::Command, name: &str, written: &mut usize) -> Result<()> {
    let cmd = cmd.name(name.to_owned());
    let mut buf = vec![];
    clap_mangen::Man::new(cmd.clone())
        .render(&mut buf)
        .with_context(|| format!("rendering the man page of {name}"))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, buf).with_context(|| format!("cannot write {}", path.display()))?;
    *written += 1;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub_name = format!("{name}-{}", sub.get_name());
        write_pages(dir, sub.clone(), &sub_name, written)?;
    }
    Ok(())
}

/// Prints the OpenAPI document, pretty, with a final newline (the client generators read it).
pub fn openapi() -> Result<ExitCode> {
    let doc = custos_server::openapi::document();
    let text = serde_json::to_string_pretty(&doc).context("cannot serialize the document")?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

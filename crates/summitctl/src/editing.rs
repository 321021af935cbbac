//! `summitctl failures edit`: the parked body through `$EDITOR`, then to ops, which validates it
//! against the message's contract and retries it (validation lives there, once).
//!
//! The editor gets a file of its own (created new, in the temp directory): the body pretty-printed
//! when it is JSON, else its text. An unchanged file sends nothing. A refused edit leaves the file
//! where it is, named in the error, so the operator can fix it rather than start again.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::ops_api::{Client, segment};
use crate::output::text;

pub async fn edit_and_retry(client: &Client, message_id: &str) -> anyhow::Result<()> {
    let path = format!("/ops/failures/{}", segment(message_id));
    let failure = client.get(&path, &[]).await?;
    if failure["status"] != "parked" {
        bail!(
            "the failure is {}, not parked: only a parked one is edited",
            text(&failure["status"])
        );
    }
    let before = match &failure["body"] {
        Value::String(raw) => raw.clone(),
        json => serde_json::to_string_pretty(json)? + "\n",
    };
    let file = scratch_file(message_id)?;
    std::fs::write(&file, &before).with_context(|| format!("writing {}", file.display()))?;
    run_editor(&file).await?;
    let after = std::fs::read_to_string(&file)
        .with_context(|| format!("reading back {}", file.display()))?;
    if after == before {
        let _ = std::fs::remove_file(&file);
        bail!(
            "unchanged: nothing sent (`summitctl failures retry {message_id}` sends it as it is)"
        );
    }
    let row = match client
        .post(
            &format!("{path}/edit"),
            &serde_json::json!({ "body": after }),
        )
        .await
    {
        Ok(row) => row,
        Err(error) => {
            return Err(error.context(format!(
                "the edit was not sent; it is kept in {}",
                file.display()
            )));
        }
    };
    let _ = std::fs::remove_file(&file);
    println!(
        "edited and retried message_id={} queue={} retries={}",
        text(&row["message_id"]),
        text(&row["queue"]),
        text(&row["retry_count"])
    );
    Ok(())
}

/// A new file for this edit: the id made safe for a file name, the process id for uniqueness.
fn scratch_file(message_id: &str) -> anyhow::Result<PathBuf> {
    let safe: String = message_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path =
        std::env::temp_dir().join(format!("summitctl-edit-{safe}-{}.json", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    Ok(path)
}

/// Runs `$EDITOR` (else `$VISUAL`, else `vi`) on `file` through the shell, so an editor given
/// with arguments (`code --wait`) works; the file is passed as `$1`, never spliced into the
/// command text.
async fn run_editor(file: &Path) -> anyhow::Result<()> {
    let editor = std::env::var("EDITOR")
        .or_else(|_| std::env::var("VISUAL"))
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".to_owned());
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("summitctl-editor")
        .arg(file)
        .status()
        .await
        .with_context(|| format!("starting the editor {editor:?}"))?;
    if !status.success() {
        bail!(
            "the editor {editor:?} exited with {status}: nothing sent; the file is {}",
            file.display()
        );
    }
    Ok(())
}

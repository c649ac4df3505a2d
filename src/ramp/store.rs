//! The ramps' state file (`ramp_state`, beside the config by default):
//! one JSON object, route name → [`Persisted`], replaced atomically
//! (written aside, then renamed) after every move, read when a ramp is
//! built without a previous one (a start, or a ramp new to a reload).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Persisted, Ramp};

/// What the state file holds.
pub type Saved = BTreeMap<String, Persisted>;

/// Read the state file; empty when absent or unreadable (said in the log).
pub fn load(path: &Path) -> Saved {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(path = %path.display(), error = %e, "ramp state file unreadable; ramps start afresh");
            Saved::new()
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Saved::new(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ramp state file unreadable; ramps start afresh");
            Saved::new()
        }
    }
}

/// Write `ramps` to the state file at `path`, atomically.
pub async fn save<'a>(ramps: impl Iterator<Item = &'a std::sync::Arc<Ramp>>, path: &Path) {
    let saved: Saved = ramps
        .map(|r| (r.route.to_string(), r.persisted()))
        .collect();
    if saved.is_empty() {
        return;
    }
    let path = path.to_path_buf();
    let result = tokio::task::spawn_blocking(move || write(&path, &saved)).await;
    if let Ok(Err(e)) = result {
        tracing::warn!(error = %e, "could not save the ramp state");
    }
}

fn write(path: &PathBuf, saved: &Saved) -> std::io::Result<()> {
    let text = serde_json::to_vec_pretty(saved).map_err(std::io::Error::other)?;
    let mut aside = path.clone().into_os_string();
    aside.push(".tmp");
    let aside = PathBuf::from(aside);
    std::fs::write(&aside, text)?;
    std::fs::rename(&aside, path)
}

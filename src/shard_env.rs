//! `shard.index` and `shard.count` from the environment
//! (`MTASTS_SHARD_INDEX`, `MTASTS_SHARD_COUNT`), over the configuration
//! file's `shard:`. One ConfigMap can then serve every replica of a
//! StatefulSet, each pod taking its index from its ordinal (the
//! `apps.kubernetes.io/pod-index` label through the downward API).
//!
//! Applied by [`crate::config::Config::load`], so a reload keeps it; the
//! `--shard.index` / `--shard.count` flags set the same variables at
//! start-up.

use crate::config::yaml::ConfigIssue;
use crate::config::{Config, Shard};

/// The variable holding this replica's index, `0..count`.
pub const INDEX_VAR: &str = "MTASTS_SHARD_INDEX";
/// The variable holding the number of replicas.
pub const COUNT_VAR: &str = "MTASTS_SHARD_COUNT";

/// Reads one variable as a number; unset or empty is `None`.
fn read(var: &str) -> Result<Option<u32>, ConfigIssue> {
    match std::env::var(var) {
        Ok(text) if text.trim().is_empty() => Ok(None),
        Ok(text) => text.trim().parse().map(Some).map_err(|_| {
            ConfigIssue::new(
                var,
                format!("{text:?} is not a whole number from 0 to {}", u32::MAX),
            )
        }),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(ConfigIssue::new(var, "not valid UTF-8".to_string()))
        }
    }
}

/// The shard that `index` and `count` (each from the environment when set,
/// else from the file's `shard`) make, or `file` when neither is set.
pub fn resolve(
    file: Option<Shard>,
    index: Option<u32>,
    count: Option<u32>,
) -> Result<Option<Shard>, ConfigIssue> {
    if index.is_none() && count.is_none() {
        return Ok(file);
    }
    let index = index.or(file.map(|s| s.index));
    let count = count.or(file.map(|s| s.count));
    match (index, count) {
        (Some(index), Some(count)) if count > 0 && index < count => {
            Ok(Some(Shard { index, count }))
        }
        (Some(index), Some(count)) => Err(ConfigIssue::new(
            "shard",
            format!(
                "index {index} must be below count {count} (and count above 0; \
                 {INDEX_VAR}/{COUNT_VAR} override the file)"
            ),
        )),
        (None, _) => Err(ConfigIssue::new(
            "shard",
            format!("{COUNT_VAR} is set but no shard index: set {INDEX_VAR} or shard.index"),
        )),
        (_, None) => Err(ConfigIssue::new(
            "shard",
            format!("{INDEX_VAR} is set but no shard count: set {COUNT_VAR} or shard.count"),
        )),
    }
}

/// Applies the environment's shard settings to a loaded configuration.
pub fn apply(config: &mut Config) -> Result<(), ConfigIssue> {
    let index = read(INDEX_VAR)?;
    let count = read(COUNT_VAR)?;
    config.shard = resolve(config.shard, index, count)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_and_completes_the_file() {
        let file = Some(Shard { index: 0, count: 3 });
        assert_eq!(resolve(file, None, None), Ok(file));
        assert_eq!(resolve(None, None, None), Ok(None));
        assert_eq!(
            resolve(file, Some(2), None),
            Ok(Some(Shard { index: 2, count: 3 }))
        );
        assert_eq!(
            resolve(None, Some(1), Some(2)),
            Ok(Some(Shard { index: 1, count: 2 }))
        );
        assert!(resolve(file, Some(3), None).is_err());
        assert!(resolve(None, Some(0), Some(0)).is_err());
        assert!(resolve(None, Some(0), None).is_err());
        assert!(resolve(None, None, Some(3)).is_err());
    }
}

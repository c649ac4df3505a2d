//! The open-files limit. Every proxied request in flight holds two file
//! descriptors (the client's socket and the upstream's), every idle
//! pooled connection one. A process starts with the soft limit its shell
//! or service manager gave it, often 1,024 (systemd's default, containerd
//! 2's): about 500 clients at once. Past it `accept` and `socket` fail, the
//! clients wait or get errors, and the upstream is not to blame. So at
//! startup the soft limit is raised to the hard one, as Go's runtime does;
//! the hard limit stays the operator's (`ulimit -Hn`, `LimitNOFILE=`).

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Below this many, the limit is worth a warning: a busy edge needs more.
const WARN_BELOW: u64 = 4096;

/// What [`raise`] did: the soft limit before and after (`None`: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raised {
    pub before: Option<u64>,
    pub after: Option<u64>,
}

/// Raise the soft open-files limit to the hard one and log what it is.
pub fn raise() -> Raised {
    let limit = getrlimit(Resource::Nofile);
    let before = limit.current;
    let after = if before == limit.maximum {
        before
    } else {
        let wanted = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, wanted) {
            Ok(()) => limit.maximum,
            Err(e) => {
                tracing::warn!(error = %e, soft = %shown(before), hard = %shown(limit.maximum), "could not raise the open-files limit");
                before
            }
        }
    };
    match after {
        Some(n) if n < WARN_BELOW => tracing::warn!(
            limit = n,
            "the open-files limit is low: about {} requests can be proxied at once; raise the hard limit (ulimit -Hn, LimitNOFILE=)",
            n / 2
        ),
        _ if after != before => {
            tracing::info!(from = %shown(before), to = %shown(after), "raised the open-files limit")
        }
        _ => {}
    }
    Raised { before, after }
}

/// A limit as a person reads it.
fn shown(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".into(), |n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_one() {
        let hard = getrlimit(Resource::Nofile).maximum;
        let r = raise();
        assert_eq!(r.after, hard);
        assert_eq!(getrlimit(Resource::Nofile).current, hard);
        // Idempotent: a second call finds nothing to do.
        assert_eq!(
            raise(),
            Raised {
                before: hard,
                after: hard
            }
        );
    }
}

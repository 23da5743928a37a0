//! Which part of the input list this process predicts: `--shard I/N`, or the index a scheduler
//! gives (Slurm job arrays, Kubernetes Indexed Jobs). Input `k` of the sorted list belongs to
//! shard `k mod N`, so shards are balanced across folders and need no coordinator.

use std::fmt;
use std::str::FromStr;

use anyhow::{bail, Context};

/// Shard `index` of `count` (`0 ≤ index < count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Whether input number `k` (of the sorted list) is this shard's.
    pub fn owns(self, k: usize) -> bool {
        k % self.count == self.index
    }

    /// A name for files: `shard-2-of-8`.
    pub fn file_tag(self) -> String {
        format!("shard-{}-of-{}", self.index, self.count)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parse = |t: &str| t.trim().parse::<usize>().ok();
        let (index, count) = s
            .split_once('/')
            .and_then(|(i, n)| Some((parse(i)?, parse(n)?)))
            .ok_or_else(|| format!("{s:?}: expected I/N, e.g. 0/4"))?;
        if count == 0 || index >= count {
            return Err(format!("{s:?}: need 0 <= I < N"));
        }
        Ok(Shard { index, count })
    }
}

/// The environment variables the schedulers set, read once so tests can supply their own.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

/// The shard to run and where it came from: `--shard` first; else the index from
/// `SLURM_ARRAY_TASK_ID` (minus `SLURM_ARRAY_TASK_MIN`, so `--array=1-8` works) or
/// `JOB_COMPLETION_INDEX`, with the count from `--shards` or `SLURM_ARRAY_TASK_COUNT`;
/// else the whole list.
pub fn resolve(
    flag: Option<Shard>,
    shards: Option<usize>,
    env: &dyn Env,
) -> anyhow::Result<(Shard, &'static str)> {
    if let Some(shard) = flag {
        return Ok((shard, "--shard"));
    }
    let number = |name: &str| -> anyhow::Result<Option<usize>> {
        env.var(name)
            .map(|v| {
                v.trim()
                    .parse::<usize>()
                    .with_context(|| format!("{name}={v:?} is not a non-negative integer"))
            })
            .transpose()
    };
    let (index, source) = if let Some(id) = number("SLURM_ARRAY_TASK_ID")? {
        let min = number("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        let index = id.checked_sub(min).with_context(|| {
            format!("SLURM_ARRAY_TASK_ID={id} is below SLURM_ARRAY_TASK_MIN={min}")
        })?;
        (index, "SLURM_ARRAY_TASK_ID")
    } else if let Some(index) = number("JOB_COMPLETION_INDEX")? {
        (index, "JOB_COMPLETION_INDEX")
    } else {
        if let Some(n) = shards {
            bail!(
                "--shards {n} without a shard index: give --shard I/{n}, or run as a Slurm array \
                 task (SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX)"
            );
        }
        return Ok((Shard::WHOLE, "no sharding"));
    };
    let count = match shards {
        Some(n) => n,
        None => number("SLURM_ARRAY_TASK_COUNT")?.with_context(|| {
            format!("{source} is set but the number of shards is not: give --shards N")
        })?,
    };
    if count == 0 || index >= count {
        bail!("shard {index} of {count} (from {source}): need 0 <= index < count");
    }
    Ok((Shard { index, count }, source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Vars(HashMap<&'static str, &'static str>);
    impl Env for Vars {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
    }
    fn env(pairs: &[(&'static str, &'static str)]) -> Vars {
        Vars(pairs.iter().copied().collect())
    }

    #[test]
    fn parses_and_splits_round_robin() {
        let s: Shard = "1/3".parse().unwrap();
        assert_eq!(s, Shard { index: 1, count: 3 });
        let owned: Vec<usize> = (0..8).filter(|&k| s.owns(k)).collect();
        assert_eq!(owned, [1, 4, 7]);
        for bad in ["3/3", "1/0", "x/2", "2", "-1/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_flag_wins_then_slurm_then_kubernetes() {
        let slurm = env(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "8"),
            ("JOB_COMPLETION_INDEX", "0"),
        ]);
        let flag = Shard { index: 0, count: 2 };
        assert_eq!(resolve(Some(flag), None, &slurm).unwrap().0, flag);
        assert_eq!(
            resolve(None, None, &slurm).unwrap(),
            (Shard { index: 4, count: 8 }, "SLURM_ARRAY_TASK_ID")
        );
        let k8s = env(&[("JOB_COMPLETION_INDEX", "2")]);
        assert_eq!(
            resolve(None, Some(3), &k8s).unwrap().0,
            Shard { index: 2, count: 3 }
        );
        let e = resolve(None, None, &k8s).unwrap_err().to_string();
        assert!(e.contains("--shards"), "{e}");
        let e = resolve(None, Some(2), &k8s).unwrap_err().to_string();
        assert!(e.contains("need 0 <= index < count"), "{e}");
        assert_eq!(resolve(None, None, &env(&[])).unwrap().0, Shard::WHOLE);
        assert!(resolve(None, Some(4), &env(&[])).is_err());
    }
}

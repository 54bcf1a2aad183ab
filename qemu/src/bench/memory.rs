//! The smallest guest memory that still boots: a bisection over boots.

use serde::Serialize;

/// One boot of the memory search (`{mib, ok, reason}` in `summary.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Probe {
    /// `-m`.
    pub mib: u32,
    /// Reached the marker.
    pub ok: bool,
    /// Why not.
    pub reason: Option<String>,
}

/// The memory search's result.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MemorySearch {
    /// Smallest memory seen to boot.
    pub min_ok_mib: Option<u32>,
    /// Largest memory seen to fail (or the floor minus one, assumed).
    pub max_fail_mib: u32,
    /// The boots, in order.
    pub probes: Vec<Probe>,
}

/// Bisects between `floor - 1` (assumed to fail) and `known_ok` (booted), in steps of
/// `step` MiB, with at most `max_probes` calls of `probe`, which says whether a boot with that
/// much memory reached the marker (and if not, why).
pub fn search_memory(
    floor: u32,
    known_ok: u32,
    step: u32,
    max_probes: u32,
    mut probe: impl FnMut(u32) -> Result<(), String>,
) -> MemorySearch {
    let step = step.max(1);
    let mut s = MemorySearch {
        min_ok_mib: Some(known_ok),
        max_fail_mib: floor.saturating_sub(1),
        probes: Vec::new(),
    };
    let mut ok = known_ok;
    while (s.probes.len() as u32) < max_probes && ok - s.max_fail_mib > step {
        // The midpoint, rounded to a multiple of `step`, kept strictly inside (fail, ok).
        let mid = s.max_fail_mib + (ok - s.max_fail_mib) / 2;
        let mid = (mid / step * step).clamp(s.max_fail_mib + 1, ok - 1).max(floor);
        let result = probe(mid);
        s.probes.push(Probe {
            mib: mid,
            ok: result.is_ok(),
            reason: result.err(),
        });
        if s.probes.last().is_some_and(|p| p.ok) {
            ok = mid;
        } else {
            s.max_fail_mib = mid;
        }
    }
    s.min_ok_mib = Some(ok);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_search_bisects_within_the_probe_budget() {
        let mut calls = Vec::new();
        let s = search_memory(64, 512, 8, 6, |mib| {
            calls.push(mib);
            if mib >= 150 {
                Ok(())
            } else {
                Err("oom".into())
            }
        });
        assert!(calls.len() <= 6, "{calls:?}");
        let ok = s.min_ok_mib.unwrap();
        assert!(ok >= 150 && ok - s.max_fail_mib <= 16, "{s:?}");
        assert!(s.max_fail_mib < 150);
        assert!(calls.iter().all(|m| *m >= 64 && *m < 512));

        // Everything boots: it walks down to the floor and no further.
        let s = search_memory(64, 512, 8, 20, |_| Ok(()));
        assert_eq!(s.min_ok_mib, Some(64));
        assert_eq!(s.max_fail_mib, 63);
    }
}

//! The order of a workflow's steps, and its cycles.
//!
//! Standard library only: `etl-macros` compiles this same file, so that
//! `#[workflow]` reports the cycles [`DagBuilder::build`](super::DagBuilder::build) would.

/// Kahn's algorithm, declaration order among ready steps. On a cycle,
/// returns one cycle as step indices, its first step repeated at the end.
pub(crate) fn topological_order(
    deps: &[Vec<usize>],
) -> std::result::Result<Vec<usize>, Vec<usize>> {
    let n = deps.len();
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let mut ready: std::collections::BTreeSet<usize> =
        (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &d in &dependents[i] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.insert(d);
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Every step left waits on another left: walk back along dependencies
    // until a step repeats.
    let start = (0..n).find(|&i| waiting[i] > 0).unwrap_or(0);
    let mut path = vec![start];
    let mut at = start;
    loop {
        at = deps[at]
            .iter()
            .copied()
            .find(|&d| waiting[d] > 0)
            .unwrap_or(at);
        if let Some(pos) = path.iter().position(|&p| p == at) {
            let mut cycle: Vec<usize> = path[pos..].to_vec();
            cycle.reverse(); // dependency first: a -> b means b needs a.
            let first = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap_or(0);
            cycle.rotate_left(first); // from the step declared first
            cycle.push(cycle[0]);
            return Err(cycle);
        }
        path.push(at);
    }
}

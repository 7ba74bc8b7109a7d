//! The checks of a workflow's graph: every step named once, every
//! dependency naming a step, no cycle. [`check`] finds every problem at
//! once; `#[workflow]` reports each at its token, `Dag::builder` lists them.
//!
//! ```
//! use etl_rules::graph::{StepDecl, check};
//!
//! let steps = [
//!     StepDecl::new("users", ["report"]),
//!     StepDecl::new("report", ["users", "orders"]),
//! ];
//! let checked = check(&steps, false);
//! let problems: Vec<String> = checked.problems.iter().map(|p| p.to_string()).collect();
//! assert_eq!(
//!     problems,
//!     [
//!         "step \"report\" depends on unknown step \"orders\"; the steps of this workflow are \"users\", \"report\"",
//!         "dependency cycle: users -> report -> users",
//!     ]
//! );
//! ```

use std::collections::HashMap;
use std::fmt;

/// One step as the checks see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepDecl<'a> {
    /// Its name in the graph and in reports, unique in the workflow.
    pub name: &'a str,
    /// What other steps' dependencies call it: the name, or for
    /// `#[workflow]` the method (which `name = "…"` may rename).
    pub key: &'a str,
    /// The steps it depends on, by key: its inputs, then the steps it runs
    /// after.
    pub deps: Vec<&'a str>,
}

impl<'a> StepDecl<'a> {
    /// A step called `name` (name and key alike) depending on `deps`.
    pub fn new<I: IntoIterator<Item = &'a str>>(name: &'a str, deps: I) -> Self {
        StepDecl {
            name,
            key: name,
            deps: deps.into_iter().collect(),
        }
    }
}

/// One thing wrong with a graph. The indices say where, for a caller that
/// points at tokens; [`fmt::Display`] is the message, the same everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// Step `step` (0-based) has an empty name.
    EmptyName {
        /// The step.
        step: usize,
    },
    /// Step `step` has the name of the earlier step `first`.
    DuplicateStep {
        /// The later step.
        step: usize,
        /// The step that has the name first.
        first: usize,
        /// The name.
        name: String,
        /// The first step's key.
        first_key: String,
    },
    /// Dependency `dep` of step `step` names no step.
    UnknownStep {
        /// The step.
        step: usize,
        /// The dependency's position in [`StepDecl::deps`].
        dep: usize,
        /// The step's name.
        name: String,
        /// The dependency as written.
        missing: String,
        /// The keys of the workflow's steps, in order, each once.
        known: Vec<String>,
    },
    /// Dependency `dep` of step `step` names a step named before it.
    RepeatedDependency {
        /// The step.
        step: usize,
        /// The repeated dependency's position in [`StepDecl::deps`].
        dep: usize,
        /// The step's name.
        name: String,
        /// The dependency as written.
        repeated: String,
    },
    /// Steps that depend on each other in a ring.
    Cycle {
        /// The steps, the first repeated at the end; each depends on the one
        /// before it.
        steps: Vec<usize>,
        /// Their keys.
        keys: Vec<String>,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::EmptyName { step } => write!(f, "step {} has no name", step + 1),
            Problem::DuplicateStep {
                name, first_key, ..
            } => write!(
                f,
                "duplicate step {name:?}: step {first_key:?} has this name already"
            ),
            Problem::UnknownStep {
                name,
                missing,
                known,
                ..
            } => {
                let known: Vec<String> = known.iter().map(|k| format!("{k:?}")).collect();
                write!(
                    f,
                    "step {name:?} depends on unknown step {missing:?}; the steps of this workflow are {}",
                    known.join(", ")
                )
            }
            Problem::RepeatedDependency { name, repeated, .. } => write!(
                f,
                "step {name:?} names {repeated:?} twice among its dependencies"
            ),
            Problem::Cycle { keys, .. } => write!(f, "dependency cycle: {}", keys.join(" -> ")),
        }
    }
}

/// What [`check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// For each step, the step each dependency names (`None`: unknown).
    pub deps: Vec<Vec<Option<usize>>>,
    /// The steps in an order that runs each after its dependencies
    /// (declaration order among independent ones); `None` on a cycle.
    pub order: Option<Vec<usize>>,
    /// Every problem, in the order of the steps.
    pub problems: Vec<Problem>,
}

/// Checks a graph: names, dependencies, cycles, all problems at once.
/// With `underscore_alias`, a dependency `_orders` that names no step names
/// `orders` (what `#[workflow]` allows, for an input a step's body does not
/// use by name).
pub fn check(steps: &[StepDecl<'_>], underscore_alias: bool) -> Checked {
    let mut problems = Vec::new();
    let mut by_key: HashMap<&str, usize> = HashMap::new();
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    for (i, step) in steps.iter().enumerate() {
        by_key.entry(step.key).or_insert(i);
        if step.name.trim().is_empty() {
            problems.push(Problem::EmptyName { step: i });
        } else if let Some(&first) = by_name.get(step.name) {
            problems.push(Problem::DuplicateStep {
                step: i,
                first,
                name: step.name.to_string(),
                first_key: steps[first].key.to_string(),
            });
        } else {
            by_name.insert(step.name, i);
        }
    }
    let mut known: Vec<String> = Vec::new();
    for step in steps {
        if !known.iter().any(|k| k == step.key) {
            known.push(step.key.to_string());
        }
    }
    let deps: Vec<Vec<Option<usize>>> = steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let mut seen = Vec::new();
            step.deps
                .iter()
                .enumerate()
                .map(|(k, dep)| {
                    let found = by_key.get(dep).copied().or_else(|| {
                        let bare = dep.strip_prefix('_').filter(|_| underscore_alias)?;
                        by_key.get(bare).copied()
                    });
                    match found {
                        None => problems.push(Problem::UnknownStep {
                            step: i,
                            dep: k,
                            name: step.name.to_string(),
                            missing: dep.to_string(),
                            known: known.clone(),
                        }),
                        Some(d) if seen.contains(&d) => {
                            problems.push(Problem::RepeatedDependency {
                                step: i,
                                dep: k,
                                name: step.name.to_string(),
                                repeated: dep.to_string(),
                            });
                            return None;
                        }
                        Some(d) => seen.push(d),
                    }
                    found
                })
                .collect()
        })
        .collect();
    let plain: Vec<Vec<usize>> = deps
        .iter()
        .map(|d| d.iter().flatten().copied().collect())
        .collect();
    let order = match topological_order(&plain) {
        Ok(order) => Some(order),
        Err(cycle) => {
            let keys = cycle.iter().map(|&i| steps[i].key.to_string()).collect();
            problems.push(Problem::Cycle { steps: cycle, keys });
            None
        }
    };
    Checked {
        deps,
        order,
        problems,
    }
}

/// The check of a workflow's name.
pub fn check_workflow_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("the workflow has no name".into());
    }
    Ok(())
}

/// The check of a workflow's `max_parallel`.
pub fn check_max_parallel(n: usize) -> Result<(), String> {
    if n == 0 {
        return Err("max_parallel is 0: no step could run".into());
    }
    Ok(())
}

/// Kahn's algorithm, declaration order among ready steps. On a cycle,
/// returns one cycle as step indices, its first step repeated at the end.
pub fn topological_order(deps: &[Vec<usize>]) -> std::result::Result<Vec<usize>, Vec<usize>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(steps: &[StepDecl<'_>]) -> Vec<String> {
        check(steps, false)
            .problems
            .iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn a_good_graph_has_an_order_and_no_problem() {
        let steps = [
            StepDecl::new("load", ["clean"]),
            StepDecl::new("extract", []),
            StepDecl::new("clean", ["extract"]),
        ];
        let checked = check(&steps, false);
        assert!(checked.problems.is_empty());
        assert_eq!(checked.order, Some(vec![1, 2, 0]));
        assert_eq!(checked.deps, [vec![Some(2)], vec![], vec![Some(1)]]);
    }

    #[test]
    fn every_problem_is_found_at_once() {
        let steps = [
            StepDecl::new("a", []),
            StepDecl::new("a", []),
            StepDecl::new(" ", []),
            StepDecl::new("d", ["a", "nope", "a"]),
        ];
        assert_eq!(
            messages(&steps),
            [
                "duplicate step \"a\": step \"a\" has this name already",
                "step 3 has no name",
                "step \"d\" depends on unknown step \"nope\"; the steps of this workflow are \"a\", \" \", \"d\"",
                "step \"d\" names \"a\" twice among its dependencies",
            ]
        );
    }

    #[test]
    fn the_whole_cycle_is_named_from_its_first_step() {
        let steps = [
            StepDecl::new("x", []),
            StepDecl::new("b", ["c"]),
            StepDecl::new("c", ["d"]),
            StepDecl::new("d", ["b", "x"]),
        ];
        let checked = check(&steps, false);
        assert_eq!(
            checked.problems,
            [Problem::Cycle {
                steps: vec![1, 3, 2, 1],
                keys: ["b", "d", "c", "b"].map(String::from).to_vec(),
            }]
        );
        assert_eq!(checked.order, None);
        assert_eq!(topological_order(&[vec![0]]), Err(vec![0, 0]));
    }

    #[test]
    fn an_underscore_names_the_step_without_it_when_asked() {
        let steps = [
            StepDecl::new("orders", []),
            StepDecl::new("sum", ["_orders"]),
        ];
        assert!(check(&steps, true).problems.is_empty());
        assert_eq!(check(&steps, false).problems.len(), 1);
        // A step really called `_orders` is taken first.
        let steps = [
            StepDecl::new("orders", []),
            StepDecl::new("_orders", []),
            StepDecl::new("sum", ["_orders"]),
        ];
        assert_eq!(check(&steps, true).deps[2], [Some(1)]);
    }

    #[test]
    fn cycles_are_found_whole() {
        // 0 needs 2, 1 needs 0, 2 needs 1, 3 needs 2 (downstream of the cycle).
        let deps = vec![vec![2], vec![0], vec![1], vec![2]];
        let cycle = topological_order(&deps).unwrap_err();
        assert_eq!(cycle.len(), 4);
        assert_eq!(cycle.first(), cycle.last());
        for pair in cycle.windows(2) {
            assert!(deps[pair[1]].contains(&pair[0]), "{cycle:?}");
        }
        assert_eq!(topological_order(&[vec![0]]).unwrap_err(), [0, 0]);
        assert_eq!(
            topological_order(&[vec![], vec![0], vec![]]).unwrap(),
            [0, 1, 2]
        );
    }
}

//! Graph and validate: resolve each step's dependencies to steps, and report
//! unknown steps, duplicates, cycles and bad option values, each at its token.

use etl_rules::graph::{self, Problem, StepDecl};
use etl_rules::{Backoff, Cron, parse_duration};
use proc_macro2::Span;

use crate::Errors;
use crate::parse::{StepDef, WorkflowArgs};

/// The checked graph: for each step (in declaration order), the indices of
/// the steps each of its dependencies names, in `StepDef::dependencies` order.
pub(crate) struct Graph {
    pub(crate) deps: Vec<Vec<Option<usize>>>,
}

pub(crate) fn check(args: &WorkflowArgs, steps: &[StepDef], errors: &mut Errors) -> Graph {
    if let Some(cron) = &args.schedule
        && let Err(e) = Cron::parse(&cron.value())
    {
        errors.push(syn::Error::new(cron.span(), e));
    }
    if let Some(n) = &args.max_parallel {
        match n.base10_parse::<usize>() {
            Ok(n_value) => {
                if let Err(e) = graph::check_max_parallel(n_value) {
                    errors.push(syn::Error::new(n.span(), e));
                }
            }
            Err(e) => errors.push(syn::Error::new(n.span(), format!("max_parallel: {e}"))),
        }
    }
    if let Some(name) = &args.name
        && let Err(e) = graph::check_workflow_name(&name.value())
    {
        errors.push(syn::Error::new(name.span(), e));
    }
    for step in steps {
        if let Some(t) = &step.timeout
            && let Err(e) = parse_duration(&t.value())
        {
            errors.push(syn::Error::new(t.span(), e));
        }
        if let Some(b) = &step.backoff
            && let Err(e) = Backoff::parse(&b.value())
        {
            errors.push(syn::Error::new(b.span(), e));
        }
    }

    // Steps are referred to by method name; `name = "..."` only renames
    // them in reports. The rules crate finds the problems; each is reported
    // here at the token it concerns.
    let methods: Vec<String> = steps.iter().map(|s| s.method.to_string()).collect();
    let dep_names: Vec<Vec<String>> = steps
        .iter()
        .map(|s| s.dependencies().map(ToString::to_string).collect())
        .collect();
    let decls: Vec<StepDecl<'_>> = steps
        .iter()
        .zip(&methods)
        .zip(&dep_names)
        .map(|((step, method), deps)| StepDecl {
            name: &step.name,
            key: method,
            deps: deps.iter().map(String::as_str).collect(),
        })
        .collect();
    // `_orders` names `orders` too: the underscore keeps rustc quiet about
    // an input the body does not use (a step reading its inputs through
    // `cx.sql`).
    let checked = graph::check(&decls, true);
    let dep_span = |step: usize, dep: usize| {
        steps[step]
            .dependencies()
            .nth(dep)
            .map(|ident| ident.span())
            .unwrap_or(steps[step].name_span)
    };
    for problem in &checked.problems {
        let at = match problem {
            Problem::EmptyName { step } | Problem::DuplicateStep { step, .. } => {
                steps[*step].name_span
            }
            Problem::UnknownStep { step, dep, .. }
            | Problem::RepeatedDependency { step, dep, .. } => dep_span(*step, *dep),
            // Point at the dependency that closes the cycle: in its last
            // step, the token naming the step before it.
            Problem::Cycle { steps: cycle, .. } => {
                let (last, before) = (cycle[cycle.len() - 1], cycle[cycle.len() - 2]);
                checked.deps[last]
                    .iter()
                    .position(|d| *d == Some(before))
                    .map(|k| dep_span(last, k))
                    .unwrap_or(steps[last].name_span)
            }
            _ => steps
                .first()
                .map(|s| s.name_span)
                .unwrap_or_else(Span::call_site),
        };
        errors.push(syn::Error::new(at, problem.to_string()));
    }
    Graph { deps: checked.deps }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::{ItemImpl, parse_quote};

    fn check_impl(mut item: ItemImpl, args: proc_macro2::TokenStream) -> Vec<String> {
        let mut errors = Errors::default();
        let args = WorkflowArgs::parse(args, &mut errors);
        let steps = crate::parse::steps(&mut item, &mut errors);
        check(&args, &steps, &mut errors);
        errors.messages()
    }

    #[test]
    fn a_valid_graph_has_no_errors() {
        let errors = check_impl(
            parse_quote! {
                impl W {
                    #[step] async fn a(&self) -> Result<u8> { Ok(Default::default()) }
                    #[step(after = [a])] async fn b(&self) -> Result<u8> { Ok(Default::default()) }
                    #[step] async fn c(&self, b: &u8, cx: &StepContext) -> Result<u8> { Ok(Default::default()) }
                }
            },
            quote::quote!(schedule = "@daily", max_parallel = 2),
        );
        assert!(errors.is_empty(), "{errors:?}");
    }

    #[test]
    fn every_graph_error_is_collected() {
        let errors = check_impl(
            parse_quote! {
                impl W {
                    #[step] async fn a(&self, c: &u8) -> Result<u8> { Ok(Default::default()) }
                    #[step] async fn b(&self, a: &u8) -> Result<u8> { Ok(Default::default()) }
                    #[step(after = [b, missing], timeout = "2min", backoff = "linear")]
                    async fn c(&self) -> Result<u8> { Ok(Default::default()) }
                    #[step(name = "a")] async fn d(&self, b: &u8, b2: &u8) -> Result<u8> { Ok(Default::default()) }
                }
            },
            quote::quote!(schedule = "0 6 * *", max_parallel = 0),
        );
        assert_eq!(
            errors,
            [
                "cron \"0 6 * *\": expected 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first, found 4",
                "max_parallel is 0: no step could run",
                "duration \"2min\": unknown unit \"min\"; use ms, s, m, h or d",
                "backoff \"linear\": expected \"none\", \"fixed [delay]\" or \"exponential [first delay]\"",
                "duplicate step \"a\": step \"a\" has this name already",
                "step \"c\" depends on unknown step \"missing\"; the steps of this workflow are \"a\", \"b\", \"c\", \"d\"",
                "step \"a\" depends on unknown step \"b2\"; the steps of this workflow are \"a\", \"b\", \"c\", \"d\"",
                "dependency cycle: a -> b -> c -> a",
            ]
        );
    }

    #[test]
    fn a_leading_underscore_names_the_same_step() {
        let mut item: ItemImpl = parse_quote! {
            impl W {
                #[step] async fn a(&self) -> Result<u8> { Ok(Default::default()) }
                #[step] async fn _b(&self) -> Result<u8> { Ok(Default::default()) }
                #[step] async fn c(&self, _a: &u8, _b: &u8, __a: &u8) -> Result<u8> { Ok(Default::default()) }
            }
        };
        let mut errors = Errors::default();
        let args = WorkflowArgs::parse(quote::quote!(), &mut errors);
        let steps = crate::parse::steps(&mut item, &mut errors);
        let graph = check(&args, &steps, &mut errors);
        // `_a` is `a`, `_b` is the step `_b` itself (an exact name first),
        // and only one underscore goes: `__a` is `_a`, which is no step.
        assert_eq!(graph.deps[2], [Some(0), Some(1), None]);
        assert_eq!(
            errors.messages(),
            [
                "step \"c\" depends on unknown step \"__a\"; the steps of this workflow are \"a\", \"_b\", \"c\""
            ]
        );
    }

    #[test]
    fn a_step_depending_on_itself_is_a_cycle() {
        let errors = check_impl(
            parse_quote! {
                impl W {
                    #[step] async fn a(&self, a: &u8) -> Result<u8> { Ok(Default::default()) }
                }
            },
            quote::quote!(),
        );
        assert_eq!(errors, ["dependency cycle: a -> a"]);
    }
}

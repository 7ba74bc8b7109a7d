//! Generate: the `Workflow` impl that builds the step graph as a `Dag`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemImpl;
use syn::spanned::Spanned;

use crate::graph::Graph;
use crate::parse::{Param, StepDef, WorkflowArgs};

/// The runtime path: `::etl::__private`, or `<crate = "...">::__private`.
pub(crate) fn runtime(args: &WorkflowArgs) -> TokenStream {
    match &args.krate {
        Some(path) => quote!(#path::__private),
        None => quote!(::etl::__private),
    }
}

pub(crate) fn workflow(
    item: &ItemImpl,
    args: &WorkflowArgs,
    steps: &[StepDef],
    graph: &Graph,
) -> TokenStream {
    let rt = runtime(args);
    let self_ty = &item.self_ty;
    let name = match &args.name {
        Some(lit) => lit.value(),
        None => snake_case(&quote!(#self_ty).to_string()),
    };
    let schedule = args.schedule.iter().map(|s| quote!(.schedule(#s)));
    let max_parallel = args.max_parallel.iter().map(|n| quote!(.max_parallel(#n)));
    let fail_fast = args.fail_fast.iter().map(|b| quote!(.fail_fast(#b)));
    let built = steps
        .iter()
        .zip(&graph.deps)
        .map(|(step, deps)| build_step(&rt, steps, step, deps));
    quote! {
        #item

        impl #rt::Workflow for #self_ty {
            fn into_dag(self: #rt::Arc<Self>) -> #rt::Dag {
                #rt::Dag::builder(#name)
                    #(#schedule)*
                    #(#max_parallel)*
                    #(#fail_fast)*
                    #(.step(#built))*
                    .__build_checked()
            }
        }
    }
}

fn build_step(
    rt: &TokenStream,
    steps: &[StepDef],
    step: &StepDef,
    deps: &[Option<usize>],
) -> TokenStream {
    let method = &step.method;
    let name = &step.name;
    let mut inputs = Vec::new();
    let mut takes = Vec::new();
    let mut call_args = Vec::new();
    // The graph is checked before codegen: the first deps are the inputs,
    // in parameter order, each a step returning a `Result`.
    let mut input_deps = deps.iter();
    let mut index = 0usize;
    for param in &step.params {
        let Param::Input { ty, .. } = param else {
            call_args.push(quote!(&__etl_cx));
            continue;
        };
        let Some(Some(dep)) = input_deps.next() else {
            continue;
        };
        let Some(output) = steps[*dep].output.as_ref() else {
            continue;
        };
        // Spanned at the parameter's type, where rustc reports a mismatch.
        let var = syn::Ident::new(&format!("__etl_input_{index}"), ty.span());
        let dep_name = &steps[*dep].name;
        inputs.push(quote!(#dep_name));
        // The input is the producing step's `Ok` type; passing it where the
        // parameter's type is expected makes rustc check the two are the same.
        takes.push(quote! {
            let #var: &<#output as #rt::StepResult>::Ok = __etl_inputs.__at(#index);
        });
        call_args.push(quote!(#var));
        index += 1;
    }
    let after = step
        .after
        .iter()
        .filter_map(|ident| steps.iter().find(|s| s.method == *ident))
        .map(|s| &s.name);
    // The output's hooks (rows, table view, codec), each chosen by method
    // resolution on the concrete output type: tables first (Arrow IPC, rows,
    // a view for SQL), then serde (JSON) and row counts, then nothing. An
    // output that borrows (`&'static str`) gets none: whether it
    // deserializes depends on lifetimes, which rustc checks only after
    // choosing, so the probe would be a hard error instead of falling through.
    let hooks = step
        .output
        .as_ref()
        .filter(|o| !ok_type_borrows(o))
        .map(|output| {
            quote! {
                .output({
                    #[allow(unused_imports)]
                    use #rt::{ProbeArrow as _, ProbeFrame as _, ProbeJson as _, ProbeNone as _, ProbeRows as _};
                    let __etl_probe = &&&&#rt::Probe::<<#output as #rt::StepResult>::Ok>::new();
                    #rt::OutputHooks::__probed(
                        __etl_probe.codec(),
                        __etl_probe.rows(),
                        __etl_probe.table(),
                    )
                })
            }
        });
    let retries = step.retries.iter().map(|r| quote!(.retries(#r)));
    let backoff = step.backoff.iter().map(|b| quote!(.__backoff_checked(#b)));
    let timeout = step.timeout.iter().map(|t| quote!(.__timeout_checked(#t)));
    quote! {{
        let __etl_this = #rt::Arc::clone(&self);
        #rt::Step::new(#name, move |__etl_cx: #rt::StepContext, __etl_inputs: #rt::StepInputs| {
            let __etl_this = #rt::Arc::clone(&__etl_this);
            async move {
                #(#takes)*
                __etl_this.#method(#(#call_args),*).await
            }
        })
        .inputs({ let __etl_names: &[&str] = &[#(#inputs),*]; __etl_names.iter().copied() })
        .after({ let __etl_names: &[&str] = &[#(#after),*]; __etl_names.iter().copied() })
        #(#retries)*
        #(#backoff)*
        #(#timeout)*
        #hooks
    }}
}

/// Whether the `Ok` type of a step's `Result` (its first generic argument;
/// the whole type when it is not of that shape) holds a reference or a lifetime.
fn ok_type_borrows(result: &syn::Type) -> bool {
    use syn::visit::Visit;
    struct Borrows(bool);
    impl Visit<'_> for Borrows {
        fn visit_type_reference(&mut self, _: &syn::TypeReference) {
            self.0 = true;
        }
        fn visit_lifetime(&mut self, _: &syn::Lifetime) {
            self.0 = true;
        }
    }
    let ok = match result {
        syn::Type::Path(p) => p.path.segments.last().and_then(|s| match &s.arguments {
            syn::PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
                syn::GenericArgument::Type(t) => Some(t),
                _ => None,
            }),
            _ => None,
        }),
        _ => None,
    };
    let mut found = Borrows(false);
    found.visit_type(ok.unwrap_or(result));
    found.0
}

/// `DailyMetrics` -> `daily_metrics`.
fn snake_case(type_name: &str) -> String {
    let last = type_name.rsplit("::").next().unwrap_or(type_name).trim();
    let mut out = String::new();
    for (i, c) in last.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Errors;
    use syn::parse_quote;

    #[test]
    fn names_default_to_the_type_in_snake_case() {
        assert_eq!(snake_case("DailyMetrics"), "daily_metrics");
        assert_eq!(snake_case("jobs :: Nightly"), "nightly");
    }

    #[test]
    fn outputs_that_borrow_get_no_codec() {
        let borrows = |ty: syn::Type| ok_type_borrows(&ty);
        assert!(borrows(parse_quote!(Result<&'static str, String>)));
        assert!(borrows(parse_quote!(etl::Result<Vec<Cow<'static, str>>>)));
        assert!(!borrows(parse_quote!(etl::Result<Vec<String>>)));
        // The error type may borrow: only the output is saved.
        assert!(!borrows(parse_quote!(Result<u8, &'static str>)));
    }

    #[test]
    fn the_runtime_path_can_be_overridden() {
        let mut errors = Errors::default();
        let args = WorkflowArgs::parse(quote!(crate = "::my_etl"), &mut errors);
        assert_eq!(runtime(&args).to_string(), ":: my_etl :: __private");
        assert_eq!(
            runtime(&WorkflowArgs::default()).to_string(),
            ":: etl :: __private"
        );
    }

    #[test]
    fn inputs_are_typed_by_the_producing_step() {
        let mut item: ItemImpl = parse_quote! {
            impl Daily {
                #[step] async fn users(&self) -> etl::Result<Batches> { Ok(Default::default()) }
                #[step(retries = 2, timeout = "1m")]
                async fn count(&self, cx: &StepContext, users: &Batches) -> etl::Result<u64> { Ok(Default::default()) }
            }
        };
        let mut errors = Errors::default();
        let args = WorkflowArgs::default();
        let steps = crate::parse::steps(&mut item, &mut errors);
        let graph = crate::graph::check(&args, &steps, &mut errors);
        assert!(errors.is_empty());
        let code = workflow(&item, &args, &steps, &graph).to_string();
        assert!(code.contains("Dag :: builder (\"daily\")"), "{code}");
        assert!(
            code.contains("let __etl_input_0 : & < etl :: Result < Batches > as :: etl :: __private :: StepResult > :: Ok = __etl_inputs . __at (0usize) ;"),
            "{code}"
        );
        assert!(
            code.contains("__etl_this . count (& __etl_cx , __etl_input_0) . await"),
            "{code}"
        );
        assert!(
            code.contains(". retries (2) . __timeout_checked (\"1m\")"),
            "{code}"
        );
        assert!(
            code.contains("let __etl_probe = && && :: etl :: __private :: Probe :: << etl :: Result < u64 > as :: etl :: __private :: StepResult > :: Ok > :: new () ;")
                && code.contains("OutputHooks :: __probed (__etl_probe . codec () , __etl_probe . rows () , __etl_probe . table () ,)"),
            "the hooks are picked from the output type: {code}"
        );
        assert!(
            !code.contains("# [step"),
            "the #[step] attributes are removed: {code}"
        );
    }
}

//! `#[workflow]` and `#[step]`: an `impl` block of async methods becomes a
//! typed DAG of steps, checked by rustc. Use them through the `etl` crate
//! (`etl::workflow`, `etl::step`), which documents them with examples.
//!
//! The crate is thin: the entry points hand over to plain functions,
//! `parse` → `graph` (resolve and validate) → `codegen`, each with unit
//! tests on `parse_quote!` input. Every error is collected and reported at
//! its token; the original item is emitted with the errors so IDEs keep
//! working.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::ToTokens;
use syn::ItemImpl;

mod codegen;
mod graph;
mod parse;

/// Errors collected across a whole expansion, each at its own token.
#[derive(Default)]
pub(crate) struct Errors(Vec<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, e: syn::Error) {
        self.0.push(e);
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    fn to_compile_errors(&self) -> TokenStream2 {
        self.0.iter().map(syn::Error::to_compile_error).collect()
    }
    #[cfg(test)]
    pub(crate) fn messages(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

/// (Implemented in the `etl-macros` crate; use it as `etl::workflow`.)
#[proc_macro_attribute]
pub fn workflow(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_workflow(args.into(), item.into()).into()
}

/// (Implemented in the `etl-macros` crate; use it as `etl::step`.)
#[proc_macro_attribute]
pub fn step(_args: TokenStream, item: TokenStream) -> TokenStream {
    // Inside a #[workflow], the workflow macro removes #[step] before this
    // could run: reaching here means the method is not in a workflow.
    let item: TokenStream2 = item.into();
    let error = syn::Error::new(
        proc_macro2::Span::call_site(),
        "#[step] marks a method of an `impl` block that carries #[workflow]; put #[workflow] on the impl block",
    );
    let mut out = error.to_compile_error();
    out.extend(item);
    out.into()
}

fn expand_workflow(args: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let mut errors = Errors::default();
    let mut item: ItemImpl = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(_) => {
            let error = syn::Error::new_spanned(
                &item,
                "#[workflow] goes on an `impl` block whose async methods are #[step]s",
            );
            let mut out = error.to_compile_error();
            out.extend(item);
            return out;
        }
    };
    let args = parse::WorkflowArgs::parse(args, &mut errors);
    let steps = parse::steps(&mut item, &mut errors);
    let graph = graph::check(&args, &steps, &mut errors);
    if !errors.is_empty() {
        // The impl block without its #[step] attributes, so the methods still
        // type-check and complete in an IDE.
        let mut out = errors.to_compile_errors();
        item.to_tokens(&mut out);
        return out;
    }
    codegen::workflow(&item, &args, &steps, &graph)
}

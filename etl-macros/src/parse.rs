//! Parse: `#[workflow(...)]` arguments and the `#[step]` methods of its impl block.

use proc_macro2::Span;
use syn::{
    Expr, ExprArray, FnArg, Ident, ImplItem, ImplItemFn, ItemImpl, LitBool, LitInt, LitStr, Pat,
    Path, ReturnType, Type,
};

use crate::Errors;

/// `#[workflow(name = "...", schedule = "...", max_parallel = N, fail_fast = bool, crate = "path")]`.
#[derive(Default)]
pub(crate) struct WorkflowArgs {
    pub(crate) name: Option<LitStr>,
    pub(crate) schedule: Option<LitStr>,
    pub(crate) max_parallel: Option<LitInt>,
    pub(crate) fail_fast: Option<LitBool>,
    pub(crate) krate: Option<Path>,
}

impl WorkflowArgs {
    pub(crate) fn parse(args: proc_macro2::TokenStream, errors: &mut Errors) -> WorkflowArgs {
        let mut out = WorkflowArgs::default();
        let parser = syn::meta::parser(|meta| {
            let key = meta
                .path
                .get_ident()
                .map(Ident::to_string)
                .unwrap_or_default();
            match key.as_str() {
                "name" => set(&mut out.name, meta.value()?.parse()?, &meta.path),
                "schedule" => set(&mut out.schedule, meta.value()?.parse()?, &meta.path),
                "max_parallel" => set(&mut out.max_parallel, meta.value()?.parse()?, &meta.path),
                "fail_fast" => set(&mut out.fail_fast, meta.value()?.parse()?, &meta.path),
                "crate" => {
                    let lit: LitStr = meta.value()?.parse()?;
                    set(&mut out.krate, lit.parse()?, &meta.path)
                }
                _ => Err(meta.error(
                    "unknown workflow option; expected `name`, `schedule`, `max_parallel`, `fail_fast` or `crate`",
                )),
            }
        });
        if let Err(e) = syn::parse::Parser::parse2(parser, args) {
            errors.push(e);
        }
        out
    }
}

fn set<T>(slot: &mut Option<T>, value: T, path: &Path) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new_spanned(path, "this option is given twice"));
    }
    *slot = Some(value);
    Ok(())
}

/// A parameter of a step after `&self`.
pub(crate) enum Param {
    /// `cx: &StepContext`.
    Context,
    /// `users: &Batches`: the output of step `users`.
    Input { ident: Ident, ty: Box<Type> },
}

/// One `#[step]` method.
pub(crate) struct StepDef {
    pub(crate) method: Ident,
    /// The step's name (the method's, or `name = "..."`), and where to point at it.
    pub(crate) name: String,
    pub(crate) name_span: Span,
    pub(crate) params: Vec<Param>,
    pub(crate) after: Vec<Ident>,
    pub(crate) retries: Option<LitInt>,
    pub(crate) backoff: Option<LitStr>,
    pub(crate) timeout: Option<LitStr>,
    /// The declared return type, `etl::Result<T>`.
    pub(crate) output: Option<Type>,
}

impl StepDef {
    /// The steps this one depends on, with the token naming each.
    pub(crate) fn dependencies(&self) -> impl Iterator<Item = &Ident> {
        self.params
            .iter()
            .filter_map(|p| match p {
                Param::Input { ident, .. } => Some(ident),
                Param::Context => None,
            })
            .chain(&self.after)
    }
}

/// Whether `attr` is `#[step]` / `#[step(...)]` / `#[etl::step]`.
pub(crate) fn is_step_attr(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "step")
}

/// Finds the `#[step]` methods of `item`, removing their `#[step]` attributes.
pub(crate) fn steps(item: &mut ItemImpl, errors: &mut Errors) -> Vec<StepDef> {
    if !item.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &item.generics,
            "a #[workflow] impl block cannot be generic",
        ));
    }
    if let Some((path, _)) = &item.trait_ {
        errors.push(syn::Error::new_spanned(
            path,
            "#[workflow] goes on an inherent impl block (`impl MyWorkflow { ... }`), not a trait impl",
        ));
    }
    let mut steps = Vec::new();
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let attrs: Vec<syn::Attribute> = method
            .attrs
            .iter()
            .filter(|a| is_step_attr(a))
            .cloned()
            .collect();
        if attrs.is_empty() {
            continue;
        }
        method.attrs.retain(|a| !is_step_attr(a));
        if attrs.len() > 1 {
            errors.push(syn::Error::new_spanned(
                &attrs[1],
                "`#[step]` is given twice",
            ));
        }
        steps.push(step(method, &attrs[0], errors));
    }
    if steps.is_empty() {
        errors.push(syn::Error::new_spanned(
            &item.self_ty,
            "a #[workflow] has no steps: mark its async methods with #[step]",
        ));
    }
    steps
}

fn step(method: &ImplItemFn, attr: &syn::Attribute, errors: &mut Errors) -> StepDef {
    let sig = &method.sig;
    let mut def = StepDef {
        method: sig.ident.clone(),
        name: sig.ident.to_string(),
        name_span: sig.ident.span(),
        params: Vec::new(),
        after: Vec::new(),
        retries: None,
        backoff: None,
        timeout: None,
        output: None,
    };
    if let syn::Meta::List(_) = &attr.meta {
        let mut name: Option<LitStr> = None;
        let result = attr.parse_nested_meta(|meta| {
            let key = meta.path.get_ident().map(Ident::to_string).unwrap_or_default();
            match key.as_str() {
                "after" => {
                    if !def.after.is_empty() {
                        return Err(meta.error("this option is given twice"));
                    }
                    let list: ExprArray = meta.value()?.parse()?;
                    for elem in &list.elems {
                        let ident = match elem {
                            Expr::Path(p) if p.qself.is_none() => p.path.get_ident(),
                            _ => None,
                        };
                        match ident {
                            Some(ident) => def.after.push(ident.clone()),
                            None => errors.push(syn::Error::new_spanned(
                                elem,
                                "`after` lists steps by name: `after = [extract, clean]`",
                            )),
                        }
                    }
                    Ok(())
                }
                "retries" => set(&mut def.retries, meta.value()?.parse()?, &meta.path),
                "backoff" => set(&mut def.backoff, meta.value()?.parse()?, &meta.path),
                "timeout" => set(&mut def.timeout, meta.value()?.parse()?, &meta.path),
                "name" => set(&mut name, meta.value()?.parse()?, &meta.path),
                _ => Err(meta.error(
                    "unknown step option; expected `after`, `retries`, `backoff`, `timeout` or `name`",
                )),
            }
        });
        if let Err(e) = result {
            errors.push(e);
        }
        if let Some(retries) = &def.retries
            && let Err(e) = retries.base10_parse::<u32>()
        {
            errors.push(syn::Error::new(retries.span(), format!("retries: {e}")));
        }
        if let Some(name) = name {
            if name.value().trim().is_empty() {
                errors.push(syn::Error::new(name.span(), "a step name cannot be empty"));
            }
            def.name = name.value();
            def.name_span = name.span();
        }
    } else if !matches!(attr.meta, syn::Meta::Path(_)) {
        errors.push(syn::Error::new_spanned(
            attr,
            "expected `#[step]` or `#[step(option = value, ...)]`",
        ));
    }

    if sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            sig.fn_token.span,
            "a step must be an `async fn`",
        ));
    }
    if !sig.generics.params.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.generics,
            "a step cannot be generic",
        ));
    }
    match &sig.output {
        ReturnType::Type(_, ty) if returns_result(ty) => def.output = Some((**ty).clone()),
        ReturnType::Type(_, ty) => errors.push(syn::Error::new_spanned(
            ty,
            "a step must return a `Result` (e.g. `etl::Result<Batches>`): its `Ok` value goes to the steps after it",
        )),
        ReturnType::Default => errors.push(syn::Error::new(
            sig.paren_token.span.close(),
            "a step must return a `Result` (e.g. `-> etl::Result<Batches>`)",
        )),
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(r))
            if matches!(r.kind, syn::ReceiverKind::Reference(_, _, None))
                && r.mutability.is_none() => {}
        Some(FnArg::Receiver(r)) => errors.push(syn::Error::new_spanned(
            r,
            "a step takes `&self`: steps run concurrently and share the workflow",
        )),
        _ => errors.push(syn::Error::new(
            sig.ident.span(),
            "a step is a method taking `&self` first",
        )),
    }
    for input in inputs {
        let FnArg::Typed(typed) = input else { continue };
        let Type::Reference(reference) = &*typed.ty else {
            errors.push(syn::Error::new_spanned(
                &typed.ty,
                "a step's inputs are borrowed: write `&T` (or `&StepContext` for the step's context)",
            ));
            continue;
        };
        if reference.mutability.is_some() {
            errors.push(syn::Error::new_spanned(
                reference,
                "a step's inputs are shared with other steps: take `&T`, not `&mut T`",
            ));
            continue;
        }
        if is_context(&reference.elem) {
            def.params.push(Param::Context);
            continue;
        }
        match &*typed.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                def.params.push(Param::Input {
                    ident: p.ident.clone(),
                    ty: typed.ty.clone(),
                })
            }
            other => errors.push(syn::Error::new_spanned(
                other,
                "name this parameter after the step whose output it takes",
            )),
        }
    }
    def
}

fn last_ident(ty: &Type) -> Option<&Ident> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last().map(|s| &s.ident),
        Type::Group(g) => last_ident(&g.elem),
        Type::Paren(p) => last_ident(&p.elem),
        _ => None,
    }
}

fn returns_result(ty: &Type) -> bool {
    last_ident(ty).is_some_and(|i| i.to_string().ends_with("Result"))
}

fn is_context(ty: &Type) -> bool {
    last_ident(ty).is_some_and(|i| i == "StepContext")
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn parse(mut item: ItemImpl) -> (Vec<StepDef>, Vec<String>) {
        let mut errors = Errors::default();
        let steps = steps(&mut item, &mut errors);
        (steps, errors.messages())
    }

    #[test]
    fn steps_params_and_options_are_read() {
        let (steps, errors) = parse(parse_quote! {
            impl Daily {
                #[step]
                async fn users(&self, cx: &StepContext) -> etl::Result<Batches> { Ok(Default::default()) }
                #[step(retries = 3, backoff = "fixed 1s", timeout = "2m", name = "join", after = [users])]
                async fn revenue(&self, users: &Batches, cx: &etl::StepContext) -> Result<u64, String> { Ok(Default::default()) }
                fn helper(&self) {}
            }
        });
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[1].name, "join");
        assert_eq!(steps[1].method, "revenue");
        assert!(
            matches!(&steps[1].params[..], [Param::Input { ident, .. }, Param::Context] if ident == "users")
        );
        assert_eq!(steps[1].after[0], "users");
        assert_eq!(steps[1].retries.as_ref().unwrap().base10_digits(), "3");
        assert_eq!(steps[1].dependencies().count(), 2);
    }

    #[test]
    fn signature_mistakes_are_all_reported() {
        let (_, errors) = parse(parse_quote! {
            impl Daily {
                #[step]
                fn not_async(&self) -> etl::Result<u8> { Ok(Default::default()) }
                #[step]
                async fn no_result(&self) -> u8 { 0 }
                #[step]
                async fn nothing(&self) {}
                #[step]
                async fn owned(&self, users: Batches) -> etl::Result<u8> { Ok(Default::default()) }
                #[step(retry = 3)]
                async fn typo(&self) -> etl::Result<u8> { Ok(Default::default()) }
                #[step]
                async fn by_value(self) -> etl::Result<u8> { Ok(Default::default()) }
            }
        });
        assert_eq!(
            errors,
            [
                "a step must be an `async fn`",
                "a step must return a `Result` (e.g. `etl::Result<Batches>`): its `Ok` value goes to the steps after it",
                "a step must return a `Result` (e.g. `-> etl::Result<Batches>`)",
                "a step's inputs are borrowed: write `&T` (or `&StepContext` for the step's context)",
                "unknown step option; expected `after`, `retries`, `backoff`, `timeout` or `name`",
                "a step takes `&self`: steps run concurrently and share the workflow",
            ]
        );
    }

    #[test]
    fn workflow_options_are_read_and_checked() {
        let mut errors = Errors::default();
        let args = WorkflowArgs::parse(
            quote::quote!(
                name = "daily",
                schedule = "0 6 * * *",
                max_parallel = 4,
                crate = "::my::etl"
            ),
            &mut errors,
        );
        assert!(errors.is_empty());
        assert_eq!(args.name.unwrap().value(), "daily");
        assert_eq!(args.max_parallel.unwrap().base10_digits(), "4");
        let krate = args.krate.unwrap();
        assert_eq!(
            quote::quote!(#krate).to_string().replace(' ', ""),
            "::my::etl"
        );
        let _ = WorkflowArgs::parse(quote::quote!(name = "a", name = "b"), &mut errors);
        let _ = WorkflowArgs::parse(quote::quote!(every = "day"), &mut errors);
        assert_eq!(
            errors.messages(),
            [
                "this option is given twice",
                "unknown workflow option; expected `name`, `schedule`, `max_parallel`, `fail_fast` or `crate`",
            ]
        );
    }
}

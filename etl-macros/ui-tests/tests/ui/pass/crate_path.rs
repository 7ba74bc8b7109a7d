// `crate = "..."` names the etl crate when it is renamed or re-exported.
mod reexport {
    pub use etl::*;
}

struct One;

#[etl_macros::workflow(crate = "crate::reexport")]
impl One {
    #[step]
    async fn only(&self) -> etl::Result<()> {
        Ok(())
    }
}

fn main() {
    let dag = etl::Workflow::dag(One);
    assert_eq!(dag.name(), "one");
}

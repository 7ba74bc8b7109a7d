use etl_macros::workflow;

struct W;

#[workflow(schedule = "0 25 * * *")]
impl W {
    #[step]
    async fn a(&self) -> etl::Result<u64> { Ok(1) }
}

struct V;

#[workflow(schedule = "every day")]
impl V {
    #[step]
    async fn a(&self) -> etl::Result<u64> { Ok(1) }
}

fn main() {}

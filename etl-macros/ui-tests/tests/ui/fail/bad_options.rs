use etl_macros::workflow;

struct W;

#[workflow(every = "day")]
impl W {
    #[step(retry = 3)]
    async fn a(&self) -> etl::Result<u64> { Ok(1) }

    #[step(after = ["a"])]
    async fn b(&self) -> etl::Result<u64> { Ok(1) }

    #[step(retries = 1, retries = 2)]
    async fn c(&self) -> etl::Result<u64> { Ok(1) }
}

fn main() {}

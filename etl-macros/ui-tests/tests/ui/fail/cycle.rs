use etl_macros::workflow;

struct W;

#[workflow]
impl W {
    #[step]
    async fn a(&self, c: &u64) -> etl::Result<u64> { Ok(*c) }

    #[step]
    async fn b(&self, a: &u64) -> etl::Result<u64> { Ok(*a) }

    #[step(after = [b])]
    async fn c(&self) -> etl::Result<u64> { Ok(1) }
}

fn main() {}

use etl_macros::workflow;

struct W;

#[workflow]
impl W {
    #[step]
    async fn users(&self) -> etl::Result<u64> { Ok(1) }

    #[step(name = "users")]
    async fn people(&self) -> etl::Result<u64> { Ok(2) }
}

fn main() {}
